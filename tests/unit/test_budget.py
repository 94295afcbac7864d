"""The daily budget: a counter that refills at UTC midnight, not a rate; spent marking;
a file budget that survives kill -9 and fails closed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.unit._clock import ManualClock
from whatconverts_async import FastClock, LocalQuota, QuotaExhaustedError
from whatconverts_async.budget import (
    DAILY_LIMITS,
    FileQuota,
    check_daily_limit,
    daily_limit_for,
    next_utc_midnight,
)
from whatconverts_async.errors import InvalidParameterError, QuotaStateError
from whatconverts_async.throttle import Throttle

UTC = timezone.utc


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


def test_daily_limits_are_defined_and_checked_once() -> None:
    assert dict(DAILY_LIMITS) == {"profile": 1_000, "master": 10_000}
    assert daily_limit_for("profile") == 1_000 and daily_limit_for("master", 7) == 7
    for bad in (-1, True, 1.5, "10"):
        with pytest.raises(InvalidParameterError, match="daily_limit"):
            daily_limit_for("profile", bad)
        with pytest.raises(InvalidParameterError, match="daily_limit"):
            LocalQuota(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="limit"):
        check_daily_limit(-5, "limit")
    with pytest.raises(InvalidParameterError, match="key_type"):
        daily_limit_for("agency")


async def test_local_mark_spent_lasts_until_utc_midnight() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    quota = LocalQuota(10, clock=clock)
    assert await quota.try_acquire()
    await quota.mark_spent()
    assert (quota.used, quota.remaining) == (10, 0)
    assert not await quota.try_acquire()
    clock.current = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    assert not await quota.try_acquire()
    clock.current = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
    assert quota.remaining == 10 and await quota.try_acquire()


async def test_throttle_after_mark_spent_raises_or_waits_for_the_reset() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 21, 0, tzinfo=UTC))
    quota = LocalQuota(1000, clock=clock)
    raising = Throttle(quota, clock=clock, min_interval=0)
    await quota.mark_spent()
    with pytest.raises(QuotaExhaustedError) as info:
        async with raising.slot():
            raise AssertionError("must not be admitted")
    assert info.value.resets_at == datetime(2026, 3, 2, tzinfo=UTC)
    waiting = Throttle(quota, clock=clock, min_interval=0, on_exhausted="wait")
    async with waiting.slot():
        pass
    assert len(clock.slept) == 1 and abs(clock.slept[0] - 3 * 3600) < 1
    assert clock.current >= datetime(2026, 3, 2, tzinfo=UTC)
    assert waiting.requests_sent == 1 and quota.used == 1


async def test_file_mark_spent_is_seen_by_every_user_of_the_file(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    path = tmp_path / "q.json"
    a, b = FileQuota(path, 50, clock=clock), FileQuota(path, 50, clock=clock)
    assert await a.try_acquire()
    await b.mark_spent()
    assert a.used == 50 and not await a.try_acquire()
    assert json.loads(path.read_text()) == {"day": "2026-03-01", "used": 50}
    clock.current = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)
    assert a.remaining == 50 and await a.try_acquire() and b.used == 1


async def test_file_quota_writes_atomically_and_privately(tmp_path: Path) -> None:
    path = tmp_path / "state" / "q.json"
    quota = FileQuota(path, 5)
    for _ in range(5):
        assert await quota.try_acquire()
    assert not await quota.try_acquire()
    assert sorted(p.name for p in path.parent.iterdir()) == ["q.json", "q.json.lock"]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert json.loads(path.read_text())["used"] == 5


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"day": "2026-03-01", "us', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"day": "2026-03-01"}', "no day and count"),
        (b'{"day": "2026-03-01", "used": "7"}', "no day and count"),
        (b'{"day": "2026-03-01", "used": -3}', "negative"),
        (b"\xff\xfe\x00", "not valid JSON"),
    ],
)
async def test_unreadable_file_state_is_spent_and_says_how_to_reset(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "q.json"
    path.write_bytes(content)
    quota = FileQuota(path, 100)
    assert quota.used == 100 and quota.remaining == 0
    for _ in range(2):  # raised every time, and in wait mode too: midnight will not fix it
        with pytest.raises(QuotaStateError) as info:
            await quota.try_acquire()
    message = str(info.value)
    assert str(path) in message and problem in message and "delete" in message
    assert isinstance(info.value, QuotaExhaustedError) and info.value.path == str(path)
    assert path.read_bytes() == content  # left for a person to inspect
    await quota.mark_spent()
    assert path.read_bytes() == content
    clock = ManualClock(datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    waiting = Throttle(FileQuota(path, 100), clock=clock, min_interval=0, on_exhausted="wait")
    with pytest.raises(QuotaStateError):
        async with waiting.slot():
            raise AssertionError("must not be admitted")
    assert clock.slept == []
    path.unlink()  # the documented reset
    assert await quota.try_acquire() and quota.used == 1


async def test_a_state_path_that_cannot_be_read_is_spent(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.mkdir()  # a directory where the file should be: reading it fails
    with pytest.raises(QuotaStateError, match=r"q\.json"):
        await FileQuota(path, 10).try_acquire()


_HAMMER = """
import asyncio, sys
from pathlib import Path
from whatconverts_async.budget import FileQuota

async def main() -> None:
    quota = FileQuota(Path(sys.argv[1]), 10**9)
    assert await quota.try_acquire()
    print("go", flush=True)
    while True:
        await quota.try_acquire()

asyncio.run(main())
"""


def test_forty_kill_9_never_reset_the_file_budget(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    seen = 0
    for round_ in range(40):
        proc = subprocess.Popen(
            [sys.executable, "-c", _HAMMER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "go\n"
        # Kill at a different point of the write cycle each round.
        deadline = 0.002 + (round_ % 10) * 0.003
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=deadline)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        state = json.loads(path.read_bytes())  # always whole, never empty
        assert state["used"] > seen, f"round {round_}: count went from {seen} to {state}"
        seen = state["used"]
        assert FileQuota(path, 10**9).used == seen
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("q.json", "q.json.lock")]
    # A kill between writing the temp file and renaming it may leave that temp file:
    # harmless (never read), and named after the dead process so it is never mistaken.
    assert all(name.startswith(".q.json.") and name.endswith(".tmp") for name in leftovers)


async def test_file_quota_clocks_skewed_across_midnight_share_one_day(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    ahead_clock = ManualClock(datetime(2026, 1, 2, 0, 0, 1, tzinfo=UTC))
    behind_clock = ManualClock(datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC))
    ahead = FileQuota(path, 100, clock=ahead_clock)
    behind = FileQuota(path, 100, clock=behind_clock)
    granted = {"ahead": 0, "behind": 0}
    for i in range(300):
        name, quota = (("ahead", ahead), ("behind", behind))[i % 2]
        granted[name] += await quota.try_acquire()
    # Neither resets the other's day: one budget of 100 for the day 2026-01-02.
    assert sum(granted.values()) == 100
    assert json.loads(path.read_text()) == {"day": "2026-01-02", "used": 100}
    assert behind.used == 100 and behind.remaining == 0
    # The behind clock waits for the end of the file's day, not for its own midnight.
    assert behind.resets_at == datetime(2026, 1, 3, tzinfo=UTC)
    assert ahead.resets_at == datetime(2026, 1, 3, tzinfo=UTC)


async def test_file_quota_day_never_moves_backwards(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    clock = ManualClock(datetime(2026, 1, 2, 0, 0, 5, tzinfo=UTC))
    quota = FileQuota(path, 10, clock=clock)
    for _ in range(4):
        assert await quota.try_acquire()
    clock.current = datetime(2026, 1, 1, 23, 59, 50, tzinfo=UTC)  # the clock steps back
    assert quota.used == 4 and await quota.try_acquire()
    assert json.loads(path.read_text()) == {"day": "2026-01-02", "used": 5}
    await quota.refund()  # refunds the file's day, not a fresh one
    assert json.loads(path.read_text()) == {"day": "2026-01-02", "used": 4}
    await quota.mark_spent()
    assert json.loads(path.read_text()) == {"day": "2026-01-02", "used": 10}
    assert not await quota.try_acquire()
    clock.current = datetime(2026, 1, 3, 0, 0, 1, tzinfo=UTC)  # the next real day refills
    assert await quota.try_acquire()
    assert json.loads(path.read_text()) == {"day": "2026-01-03", "used": 1}


async def test_file_quota_behind_clock_marks_the_files_day_spent(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"day": "2026-01-02", "used": 3}))
    behind = FileQuota(path, 50, clock=ManualClock(datetime(2026, 1, 1, 23, 0, tzinfo=UTC)))
    await behind.mark_spent()
    assert json.loads(path.read_text()) == {"day": "2026-01-02", "used": 50}
    ahead = FileQuota(path, 50, clock=ManualClock(datetime(2026, 1, 2, 0, 1, tzinfo=UTC)))
    assert not await ahead.try_acquire()


@pytest.mark.parametrize(
    ("day", "problem"),
    [
        ("2099-01-01", "more than a day ahead"),
        ("2026-01-04", "more than a day ahead"),
        ("yesterday", "not a YYYY-MM-DD date"),
    ],
)
async def test_file_quota_refuses_a_day_it_cannot_explain(
    tmp_path: Path, day: str, problem: str
) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"day": day, "used": 90}))
    quota = FileQuota(path, 100, clock=ManualClock(datetime(2026, 1, 2, 12, 0, tzinfo=UTC)))
    with pytest.raises(QuotaStateError, match=problem):
        await quota.try_acquire()
    assert quota.used == 100
    await quota.refund()
    await quota.mark_spent()
    assert json.loads(path.read_text()) == {"day": day, "used": 90}
