"""The throttle in front of the wire: spacing and a cap on requests in flight.

WhatConverts allows at most one request per millisecond and 20 at once per key. aiolimiter
spaces request starts and a semaphore caps concurrency; the daily budget itself lives in
:mod:`whatconverts_async.budget`, and the throttle takes one unit of it right before each
request leaves.

Every attempt that reaches the wire spends one unit of budget, retries included,
because the API counts them too.

Example::

    quota = LocalQuota(limit=1000)
    throttle = Throttle(quota, max_concurrency=20)
    async with throttle.slot():
        ...  # send exactly one request here
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from aiolimiter import AsyncLimiter

from .budget import Clock, Quota, SystemClock, spent_error, wait_for_reset

__all__ = ["MAX_IN_FLIGHT", "Throttle", "per_shard_concurrency"]

OnExhausted = Literal["raise", "wait"]

#: Requests the API allows in flight at once per key (its documented maximum).
MAX_IN_FLIGHT = 20


def per_shard_concurrency(shards: int, cap: int = MAX_IN_FLIGHT) -> int:
    """The in-flight cap for each of ``shards`` workers on one key: ``cap // shards``
    (at least 1), so that together they stay within ``cap``.

    The cap is held per process (a semaphore), not shared through the quota store:
    a shared cap would need leases that expire when a worker dies and are renewed
    while a slow download runs, a Redis round trip on the way out of every request,
    and a wait that polls; dividing is exact and costs nothing.

    >>> per_shard_concurrency(4), per_shard_concurrency(3), per_shard_concurrency(40)
    (5, 6, 1)
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be an integer >= 1, got {shards!r}")
    return max(1, cap // shards)


class Throttle:
    """Admits one request at a time into the wire: concurrency cap, spacing, budget.

    ``on_exhausted="raise"`` raises :class:`~whatconverts_async.QuotaExhaustedError` when
    the budget is spent, before anything is sent; ``"wait"`` sleeps until the reset and
    goes on.

    The cap is per process: sharded workers sharing one key divide it
    (:func:`per_shard_concurrency`, as ``whatconverts export --shard`` does) so that
    together they stay within the API's 20.
    """

    def __init__(
        self,
        quota: Quota,
        *,
        max_concurrency: int = MAX_IN_FLIGHT,
        min_interval: float = 0.001,
        on_exhausted: OnExhausted = "raise",
        clock: Clock | None = None,
    ) -> None:
        self.quota = quota
        self.max_concurrency = max_concurrency
        self.on_exhausted: OnExhausted = on_exhausted
        self.clock: Clock = clock or SystemClock()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        # max_rate=1 makes aiolimiter a pure spacer: one start per min_interval, no burst.
        self._spacer = AsyncLimiter(1, min_interval) if min_interval > 0 else None
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests_sent = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place for exactly one request on the wire (budget already taken)."""
        while True:
            async with self._semaphore:
                if self._spacer is not None:
                    await self._spacer.acquire()
                # Take budget last, right before sending, so a cancelled wait never
                # spends budget that no request used.
                if await self.quota.try_acquire():
                    self.requests_sent += 1
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                    try:
                        yield
                    finally:
                        self.in_flight -= 1
                    return
            if self.on_exhausted == "raise":
                raise spent_error(self.quota)
            await wait_for_reset(self.quota, self.clock)
