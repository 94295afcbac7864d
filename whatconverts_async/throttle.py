"""The throttle in front of the wire: a daily budget, spacing, and a cap on requests in flight.

WhatConverts allows 1,000 requests a day per profile key and 10,000 per master key,
refilled at midnight UTC; at most one request per millisecond and 20 at once per key.
The daily budget is *not* a rate: ``AsyncLimiter(1000, 86400)`` would let the whole day
out in a second and then drip. So the budget is a counter that refills in full at each
UTC midnight (:class:`LocalQuota`, or a shared one such as a Redis quota), aiolimiter
spaces request starts, and a semaphore caps concurrency.

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
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Literal, Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

from .errors import QuotaExhaustedError

__all__ = [
    "Clock",
    "FastClock",
    "LocalQuota",
    "Quota",
    "SystemClock",
    "Throttle",
    "next_utc_midnight",
]

OnExhausted = Literal["raise", "wait"]


class Clock(Protocol):
    """Where the throttle reads the time and how it waits (injectable for tests)."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock: ``datetime.now(UTC)`` and ``asyncio.sleep``."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))


class FastClock:
    """A clock whose day lasts ``day_seconds`` real seconds, for testing daily resets.

    Time starts at ``start`` and runs ``86400 / day_seconds`` times faster than real
    time, so a budget that resets at midnight can be exercised in a test::

        clock = FastClock(day_seconds=2.0, start=datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
        wc = WhatConverts(token, secret, daily_limit=3, on_quota_exhausted="wait", clock=clock)

    Pass ``clock.now`` to the simulator so both sides agree on the date.
    """

    def __init__(self, day_seconds: float, start: datetime | None = None) -> None:
        if day_seconds <= 0:
            raise ValueError(f"day_seconds must be > 0, got {day_seconds!r}")
        self.scale = 86400.0 / day_seconds
        self._start = start or datetime.now(timezone.utc)
        if self._start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """The artificial current instant."""
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.scale)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of artificial time (a fraction of that in real time)."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)


def next_utc_midnight(now: datetime) -> datetime:
    """The first UTC midnight strictly after ``now``.

    >>> next_utc_midnight(datetime(2026, 3, 1, 15, 0, tzinfo=timezone.utc)).isoformat()
    '2026-03-02T00:00:00+00:00'
    """
    now = now.astimezone(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)


@runtime_checkable
class Quota(Protocol):
    """A daily request budget. The in-memory :class:`LocalQuota` is the default.

    Implementations must make ``try_acquire`` atomic across every user of the budget.
    ``used``/``remaining``/``resets_at`` may be the last known values for a shared quota.
    """

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        ...

    @property
    def used(self) -> int:
        """Requests spent today."""
        ...

    @property
    def remaining(self) -> int:
        """Requests left today."""
        ...

    @property
    def resets_at(self) -> datetime:
        """When the budget refills (the next UTC midnight)."""
        ...

    async def try_acquire(self) -> bool:
        """Take one request from today's budget; False (taking nothing) if it is spent."""
        ...


class LocalQuota:
    """An in-process daily budget that refills in full at each UTC midnight.

    >>> q = LocalQuota(limit=2)
    >>> q.remaining
    2
    """

    def __init__(self, limit: int, *, clock: Clock | None = None) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"daily_limit must be an integer >= 0, got {limit!r}")
        self._limit = limit
        self._clock: Clock = clock or SystemClock()
        self._used = 0
        self._resets_at = next_utc_midnight(self._clock.now())

    def _roll(self) -> None:
        now = self._clock.now()
        if now >= self._resets_at:
            self._used = 0
            self._resets_at = next_utc_midnight(now)

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        return self._limit

    @property
    def used(self) -> int:
        """Requests spent since the last UTC midnight."""
        self._roll()
        return self._used

    @property
    def remaining(self) -> int:
        """Requests left until the next UTC midnight."""
        self._roll()
        return max(0, self._limit - self._used)

    @property
    def resets_at(self) -> datetime:
        """The next UTC midnight."""
        self._roll()
        return self._resets_at

    async def try_acquire(self) -> bool:
        """Take one request if today's budget allows it."""
        self._roll()
        if self._used >= self._limit:
            return False
        self._used += 1
        return True

    def __repr__(self) -> str:
        return f"LocalQuota(limit={self._limit}, used={self.used})"


class Throttle:
    """Admits one request at a time into the wire: concurrency cap, spacing, budget.

    ``on_exhausted="raise"`` raises :class:`QuotaExhaustedError` when the budget is
    spent, before anything is sent; ``"wait"`` sleeps until the reset and goes on.
    """

    def __init__(
        self,
        quota: Quota,
        *,
        max_concurrency: int = 20,
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
            resets_at = self.quota.resets_at
            if self.on_exhausted == "raise":
                raise QuotaExhaustedError(self.quota.limit, resets_at)
            wait = (resets_at - self.clock.now()).total_seconds()
            await self.clock.sleep(max(wait, 0.0) + 0.001)
