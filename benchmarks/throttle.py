"""Throttle overhead: ``async with throttle.slot(): pass`` vs the same loop without it.

``Throttle(LocalQuota(10**9), min_interval=0)``: the budget counter, the in-flight
semaphore and the bookkeeping, without spacing. The bare loop enters and leaves a do-nothing
async context manager, so the difference is the throttle's own cost per request. With the
default 1 ms spacing the loop is paced by design; its figure is the achieved interval.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from ._common import median
from ._result import Result

__all__ = ["run"]


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


async def _bare(n: int) -> float:
    nothing = _Nothing()
    started = time.perf_counter()
    for _ in range(n):
        async with nothing:
            pass
    return time.perf_counter() - started


async def _throttled(n: int, min_interval: float) -> float:
    from whatconverts_async import LocalQuota
    from whatconverts_async.throttle import Throttle

    throttle = Throttle(LocalQuota(10**9), min_interval=min_interval)
    started = time.perf_counter()
    for _ in range(n):
        async with throttle.slot():
            pass
    elapsed = time.perf_counter() - started
    if throttle.requests_sent != n:
        raise AssertionError(f"{throttle.requests_sent} slots, expected {n}")
    return elapsed


def run(quick: bool) -> Result:
    """Per-call cost in µs (median of the repeats)."""
    calls = 2_000 if quick else 20_000
    spaced_calls = 100 if quick else 2_000
    repeats = 3 if quick else 7
    result = Result(
        "throttle",
        f"Throttle overhead: {calls:,} slots vs a bare loop",
        params={"calls": calls, "spaced_calls": spaced_calls, "repeats": repeats},
    )
    bare = median([asyncio.run(_bare(calls)) for _ in range(repeats)]) / calls * 1e6
    free = median([asyncio.run(_throttled(calls, 0.0)) for _ in range(repeats)]) / calls * 1e6
    spaced = asyncio.run(_throttled(spaced_calls, 0.001)) / spaced_calls * 1e6
    result.add("bare_us", "bare loop, per call", bare, "µs")
    result.add("throttle_no_spacing_us", "throttle, spacing off, per call", free, "µs")
    overhead = result.add("overhead_us", "throttle overhead per request", free - bare, "µs")
    result.add("throttle_1ms_spacing_us", "throttle, default 1 ms spacing, per call", spaced, "µs")
    result.add("spacing_accuracy", "achieved interval / 1 ms (paced by design)", spaced / 1000, "x")
    result.target("throttle overhead (µs)", overhead, "<", 20.0)
    return result
