"""The daily budget: a counter that refills at UTC midnight, not a rate."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from whatconverts_async import FastClock, LocalQuota, QuotaExhaustedError
from whatconverts_async.budget import FileQuota, next_utc_midnight
from whatconverts_async.throttle import Throttle

UTC = timezone.utc


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.current = now
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)


async def test_budget_is_spent_then_refilled_at_utc_midnight() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    quota = LocalQuota(3, clock=clock)
    assert [await quota.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert (quota.used, quota.remaining) == (3, 0)
    assert quota.resets_at == datetime(2026, 3, 2, tzinfo=UTC)
    clock.current = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    assert not await quota.try_acquire()
    clock.current = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
    assert quota.remaining == 3
    assert await quota.try_acquire()


async def test_budget_does_not_leak_out_as_a_rate() -> None:
    # aiolimiter's AsyncLimiter(1000, 86400) would refill continuously; ours must not.
    clock = ManualClock(datetime(2026, 3, 1, 1, 0, tzinfo=UTC))
    quota = LocalQuota(2, clock=clock)
    assert await quota.try_acquire() and await quota.try_acquire()
    clock.current += timedelta(hours=22)  # still the same UTC day
    assert not await quota.try_acquire()


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


async def test_fast_clock_runs_a_day_quickly() -> None:
    clock = FastClock(day_seconds=0.5, start=datetime(2026, 1, 1, 23, 59, 0, tzinfo=UTC))
    quota = LocalQuota(1, clock=clock)
    assert await quota.try_acquire()
    assert not await quota.try_acquire()
    await clock.sleep(120)  # two artificial minutes
    assert clock.now() >= datetime(2026, 1, 2, tzinfo=UTC)
    assert await quota.try_acquire()


def test_next_utc_midnight_from_other_offsets() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert next_utc_midnight(datetime(2026, 1, 2, 8, 0, tzinfo=tokyo)) == datetime(
        2026, 1, 2, tzinfo=UTC
    )


async def test_file_quota_is_shared_between_instances(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "q.json"
    a, b = FileQuota(path, 3), FileQuota(path, 3)
    assert await a.try_acquire() and await b.try_acquire() and await a.try_acquire()
    assert not await b.try_acquire()
    assert a.used == b.used == 3
    assert "secret" not in path.read_text()
