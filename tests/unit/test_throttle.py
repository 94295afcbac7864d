"""Spacing and the in-flight cap in front of the wire, and how they meet the budget."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timezone

import pytest

from tests.unit._clock import ManualClock
from whatconverts_async import LocalQuota, QuotaExhaustedError
from whatconverts_async.throttle import Throttle

UTC = timezone.utc


async def test_throttle_raise_mode_raises_before_sending() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    throttle = Throttle(LocalQuota(1, clock=clock), clock=clock, min_interval=0)
    async with throttle.slot():
        pass
    with pytest.raises(QuotaExhaustedError) as info:
        async with throttle.slot():
            raise AssertionError("must not be admitted")
    assert info.value.resets_at == datetime(2026, 3, 2, tzinfo=UTC)
    assert info.value.limit == 1
    assert throttle.requests_sent == 1


async def test_throttle_wait_mode_waits_for_the_reset() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    throttle = Throttle(
        LocalQuota(1, clock=clock), clock=clock, min_interval=0, on_exhausted="wait"
    )
    async with throttle.slot():
        pass
    async with throttle.slot():
        pass
    assert clock.slept and abs(clock.slept[0] - 3600) < 1
    assert throttle.requests_sent == 2


async def test_concurrency_cap() -> None:
    throttle = Throttle(LocalQuota(1000), max_concurrency=3, min_interval=0)

    async def one() -> None:
        async with throttle.slot():
            await asyncio.sleep(0.01)

    await asyncio.gather(*(one() for _ in range(20)))
    assert throttle.peak_in_flight == 3
    assert throttle.in_flight == 0


async def test_spacing_between_request_starts() -> None:
    throttle = Throttle(LocalQuota(1000), min_interval=0.01)
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    for _ in range(6):
        async with throttle.slot():
            starts.append(loop.time())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps[1:]) >= 0.005
