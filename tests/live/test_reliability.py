"""Crashes, cancellations, timeouts and the budget's edge: nothing lost, nothing doubled.

* The export killed with SIGKILL at ten points (random byte offsets, random times, before
  the first checkpoint, during the CSV conversion), then resumed, ends byte-identical to
  an export that was never interrupted.
* A truncated or garbled checkpoint is a one-line usage error (exit 2) with a way forward.
* Cancelling a task mid-request or mid-scan leaves the shared client usable and its
  budget equal to what the server saw; ``close()`` during requests ends them clearly.
* The budget running out mid-scan raises from ``async for`` after an exact prefix; in
  "wait" mode the scan sleeps through the reset and finishes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from whatconverts_async import (
    APITimeoutError,
    FastClock,
    QuotaExhaustedError,
    WhatConverts,
)
from whatconverts_async.export import CheckpointError, export_leads, read_jsonl_ids
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for

UTC = timezone.utc
DEMO_LEADS = 2_000
LOOP_WARNINGS = pytest.mark.filterwarnings("error")


# --- SIGKILL at ten points, then --resume ---------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "whatconverts_async", *args]


def _export_args(out: Path, fmt: str, *extra: str) -> list[str]:
    return [
        "export",
        "leads",
        "--demo",
        "--demo-leads",
        str(DEMO_LEADS),
        "--start-date",
        "2019-01-01",
        "--end-date",
        "2025-12-31",
        "--out",
        str(out),
        "--format",
        fmt,
        "--per-page",
        "25",
        "--quiet",
        *extra,
    ]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cli(*args), capture_output=True, text=True, timeout=120, check=False)


def _data_file(out: Path, fmt: str) -> Path:
    return out if fmt == "jsonl" else out.with_name(out.name + ".partial")


def _kill_when(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], deadline: float = 60.0
) -> bool:
    """SIGKILL ``process`` as soon as ``ready()``; False if it finished first."""
    stop = time.monotonic() + deadline
    while process.poll() is None and time.monotonic() < stop:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.0002)
    process.wait()
    return False


def _finish(out: Path, fmt: str) -> None:
    """Resume until done, as a user would after a crash."""
    checkpoint = out.with_name(out.name + ".checkpoint")
    for _ in range(3):
        if out.exists() and not checkpoint.exists():
            return
        done = _run(*_export_args(out, fmt, "--resume"))
        assert done.returncode == 0, done.stderr
    assert out.exists() and not checkpoint.exists()


def test_sigkill_at_ten_points_then_resume_is_byte_identical(tmp_path: Path) -> None:
    rng = random.Random(20260301)
    reference: dict[str, bytes] = {}
    duration: dict[str, float] = {}
    data_size: dict[str, int] = {}
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"reference.{fmt}"
        started = time.monotonic()
        process = subprocess.Popen(_cli(*_export_args(out, fmt)), stderr=subprocess.DEVNULL)
        # Measure the data file just before it is converted (CSV) or finished (JSONL).
        sizes = [0]

        def watch(out: Path = out, fmt: str = fmt, sizes: list[int] = sizes) -> bool:
            data = _data_file(out, fmt)
            if data.exists():
                sizes[0] = max(sizes[0], data.stat().st_size)
            return False

        _kill_when(process, watch)
        assert process.returncode == 0
        duration[fmt] = time.monotonic() - started
        data_size[fmt] = sizes[0]
        reference[fmt] = out.read_bytes()
    assert len(read_jsonl_ids(tmp_path / "reference.jsonl")) == DEMO_LEADS

    # Ten kill points, each kind at least once, in both formats.
    plan: list[tuple[str, str]] = [
        ("early", "jsonl"),  # a random instant in the first 0.3 s: nothing written yet
        ("first-checkpoint", "csv"),  # the checkpoint exists, no lead written yet
        ("bytes", "jsonl"),
        ("bytes", "jsonl"),
        ("bytes", "csv"),
        ("bytes", "csv"),
        ("time", "jsonl"),
        ("time", "csv"),
        ("csv-conversion", "csv"),  # the CSV is being written from the partial data
        ("csv-conversion", "csv"),
    ]
    kinds_hit: dict[str, int] = {}
    for number, (kind, fmt) in enumerate(plan):
        out = tmp_path / f"run{number}.{fmt}"
        data = _data_file(out, fmt)
        checkpoint = out.with_name(out.name + ".checkpoint")
        converting = out.with_name(out.name + ".tmp")
        for _try in range(5):  # a kill point can be missed when the run is faster
            for leftover in (out, data, checkpoint, converting):
                leftover.unlink(missing_ok=True)
            process = subprocess.Popen(_cli(*_export_args(out, fmt)), stderr=subprocess.DEVNULL)
            began = time.monotonic()
            if kind == "early":
                at = rng.uniform(0.0, 0.3)
                ready: Callable[[], bool] = lambda at=at, b=began: time.monotonic() - b >= at  # noqa: E731
            elif kind == "first-checkpoint":
                ready = checkpoint.exists
            elif kind == "bytes":
                target = rng.uniform(0.02, 0.98) * data_size[fmt]
                ready = lambda t=target, d=data: d.exists() and d.stat().st_size >= t  # noqa: E731
            elif kind == "time":
                at = rng.uniform(0.3, duration[fmt])
                ready = lambda at=at, b=began: time.monotonic() - b >= at  # noqa: E731
            else:
                ready = converting.exists
            killed = _kill_when(process, ready)
            if killed:
                kinds_hit[kind] = kinds_hit.get(kind, 0) + 1
                break
        _finish(out, fmt)
        assert out.read_bytes() == reference[fmt], (
            f"kill #{number} ({kind}, {fmt}) changed the output"
        )
        assert not data.exists() or fmt == "jsonl"
        assert not checkpoint.exists()
    assert set(kinds_hit) == {kind for kind, _ in plan}, kinds_hit
    assert sum(kinds_hit.values()) == len(plan)


def _first_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_truncated_or_garbled_checkpoint_is_a_one_line_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    first = _run(*_export_args(out, "jsonl", "--daily-limit", "6"))
    assert first.returncode == 3, first.stderr
    checkpoint = out.with_name(out.name + ".checkpoint")
    good = checkpoint.read_bytes()
    written = out.read_bytes()
    for broken in (
        good[: len(good) // 2],
        b"\x00\xff garbage \x13",
        b"",
        b"[]",
        b'{"version": 99}',
    ):
        checkpoint.write_bytes(broken)
        done = _run(*_export_args(out, "jsonl", "--resume"))
        line = _first_line_error(done)
        assert "checkpoint" in line and "--force" in line
        assert out.read_bytes() == written  # nothing touched
    # The way forward: start over.
    done = _run(*_export_args(out, "jsonl", "--force"))
    assert done.returncode == 0, done.stderr
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) == DEMO_LEADS
    assert not checkpoint.exists()


# --- the export's crash windows (Python API) ----------------------------------------


@pytest.fixture
async def fake() -> Any:
    async with FakeWhatConverts(
        leads=1_500,
        seed=31,
        start=datetime(2019, 1, 1, tzinfo=UTC),
        end=datetime(2021, 1, 1, tzinfo=UTC),
    ) as server:
        yield server


RANGE: dict[str, Any] = {"start_date": date(2019, 1, 1), "end_date": date(2020, 12, 31)}


async def test_crash_between_csv_rename_and_checkpoint_removal_resumes(
    fake: FakeWhatConverts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "leads.csv"
    real_unlink = Path.unlink

    def crash_on_checkpoint(self: Path, missing_ok: bool = False) -> None:
        if self.name.endswith(".checkpoint"):
            raise KeyboardInterrupt  # the process dies right here
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_on_checkpoint)
    async with client_for(fake) as wc:
        with pytest.raises(KeyboardInterrupt):
            await export_leads(wc, out, format="csv", per_page=200, **RANGE)
    monkeypatch.undo()
    complete = out.read_bytes()
    async with client_for(fake) as wc:
        await export_leads(wc, out, format="csv", per_page=200, resume=True, **RANGE)
    assert out.read_bytes() == complete


async def test_a_plausible_but_garbled_checkpoint_is_refused(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    async with client_for(fake, daily_limit=3) as wc:
        with pytest.raises(QuotaExhaustedError):
            await export_leads(wc, out, per_page=200, **RANGE)
    checkpoint = out.with_name(out.name + ".checkpoint")
    state = json.loads(checkpoint.read_text())
    state["window"] = state["windows_total"]  # one flipped digit: "all windows done"
    checkpoint.write_text(json.dumps(state, sort_keys=True))
    async with client_for(fake) as wc:
        with pytest.raises(CheckpointError):
            await export_leads(wc, out, per_page=200, resume=True, **RANGE)


# --- cancellation, timeouts, close ------------------------------------------------------


async def _settled(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    for _ in range(200):
        if wc.throttle.in_flight == 0 and fake.in_flight == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("requests still in flight")


async def _at_server(wc: WhatConverts, fake: FakeWhatConverts, n: int = 1) -> None:
    """Wait until ``n`` requests are in flight and every one has reached the server."""
    for _ in range(500):
        if fake.in_flight >= n and fake.in_flight == wc.throttle.in_flight:
            return
        await asyncio.sleep(0.002)
    raise AssertionError("the requests never reached the server")


@LOOP_WARNINGS
async def test_cancelling_tasks_mid_request_leaves_the_shared_client_consistent(
    fake: FakeWhatConverts,
) -> None:
    fake.faults.latency = 0.3
    async with client_for(fake, max_concurrency=4) as wc:
        singles = [asyncio.create_task(wc.leads.list(leads_per_page=5)) for _ in range(6)]
        scan = asyncio.create_task(
            wc.leads.iterate(start_date=date(2019, 1, 1), per_page=50, prefetch=4).collect()
        )
        await _at_server(wc, fake, 4)
        for task in (*singles[:3], scan):
            task.cancel()
        results = await asyncio.gather(*singles, scan, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results[:3])
        assert all(not isinstance(r, BaseException) for r in results[3:6])
        assert isinstance(results[6], asyncio.CancelledError)
        await _settled(wc, fake)
        assert wc.throttle.in_flight == 0
        assert wc.quota.used == fake.request_count
        # The client goes on serving other tasks, budget and server still agreeing.
        fake.faults.latency = 0
        page = await wc.leads.list(leads_per_page=3)
        assert len(page.items) == 3
        assert wc.quota.used == fake.request_count


@LOOP_WARNINGS
async def test_cancelling_during_retry_backoff_spends_nothing_more(
    fake: FakeWhatConverts,
) -> None:
    from whatconverts_async import RetryPolicy

    fake.faults.fail_next(1, 503)
    slow = RetryPolicy(base_wait=5.0, max_wait=5.0)
    async with client_for(fake, retry_policy=slow) as wc:
        task = asyncio.create_task(wc.leads.list(leads_per_page=1))
        for _ in range(400):
            if fake.request_count and not wc.throttle.in_flight:
                break
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        assert wc.quota.used == fake.request_count == 1


@LOOP_WARNINGS
async def test_a_stalled_server_times_out_within_the_timeout(fake: FakeWhatConverts) -> None:
    fake.faults.stall_next(1, 30.0)
    async with client_for(fake, timeout=0.25, max_retries=0) as wc:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match=r"0\.25 s") as info:
            await asyncio.wait_for(wc.leads.list(leads_per_page=1), 5)
        elapsed = time.monotonic() - started
        assert 0.2 <= elapsed < 1.0
        assert info.value.request_sent  # it reached the server: a create would not retry
    # A stall mid-scan with retries: the scan recovers with the next attempt.
    fake.faults.stall_next(1, 30.0)
    async with client_for(fake, timeout=0.25, max_retries=2) as wc:
        got = await asyncio.wait_for(
            wc.leads.iterate(
                start_date=date(2019, 1, 1), end_date=date(2019, 6, 30), per_page=100
            ).collect(),
            10,
        )
        expected = fake.data.lead_ids(
            datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 6, 30, 23, 59, 59, tzinfo=UTC)
        )
        assert [lead.lead_id for lead in got] == expected
        assert wc.throttle.in_flight == 0


@LOOP_WARNINGS
async def test_close_during_in_flight_requests_ends_them_clearly(
    fake: FakeWhatConverts,
) -> None:
    unhandled: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: unhandled.append(ctx))
    fake.faults.latency = 1.0
    wc = client_for(fake)
    singles = [asyncio.create_task(wc.leads.list(leads_per_page=1)) for _ in range(5)]
    scan = asyncio.create_task(wc.leads.iterate(start_date=date(2019, 1, 1), per_page=50).collect())
    await _at_server(wc, fake, 6)
    started = time.monotonic()
    await wc.close()
    results = await asyncio.wait_for(asyncio.gather(*singles, scan, return_exceptions=True), 3)
    assert time.monotonic() - started < 1.0  # not a hang, not the server's latency
    for result in results:
        assert isinstance(result, RuntimeError) and "closed" in str(result), result
    assert wc.throttle.in_flight == 0
    assert wc.quota.used == fake.request_count  # no retry after close
    with pytest.raises(RuntimeError, match="closed"):
        await wc.leads.list(leads_per_page=1)
    await wc.close()
    gc.collect()
    await asyncio.sleep(0)
    assert not unhandled, unhandled


# --- the budget's edge ------------------------------------------------------------------


async def test_quota_running_out_mid_scan_raises_after_an_exact_prefix(
    fake: FakeWhatConverts,
) -> None:
    scan: dict[str, Any] = {
        "start_date": date(2019, 1, 1),
        "end_date": date(2020, 12, 31),
        "per_page": 40,
    }
    async with client_for(fake) as wc:
        full = [lead.lead_id async for lead in wc.leads.iterate(**scan)]
    for limit, prefetch in ((1, 1), (4, 1), (7, 3), (13, 4)):
        fake.reset_records()
        got: list[int] = []
        async with client_for(fake, daily_limit=limit) as wc:
            with pytest.raises(QuotaExhaustedError) as info:
                async for lead in wc.leads.iterate(prefetch=prefetch, **scan):
                    got.append(lead.lead_id)
            assert wc.quota.used == fake.request_count == limit
            assert wc.throttle.in_flight == 0
        assert got == full[: len(got)], "not a prefix of the full scan"
        assert len(got) >= (limit - prefetch) * 40 - 40  # pages received were all yielded
        assert info.value.resets_at > datetime.now(UTC)


async def test_wait_mode_scan_sleeps_through_the_reset_and_finishes() -> None:
    # An artificial day of 0.3 s; a budget of 3 per day; the scan needs many more.
    clock = FastClock(day_seconds=0.3, start=datetime(2026, 5, 1, 23, 59, 50, tzinfo=UTC))
    async with FakeWhatConverts(
        leads=600,
        seed=8,
        start=datetime(2019, 1, 1, tzinfo=UTC),
        end=datetime(2021, 1, 1, tzinfo=UTC),
        clock=clock.now,
        daily_limit=3,
    ) as fake:
        async with client_for(fake, daily_limit=3, on_quota_exhausted="wait", clock=clock) as wc:
            got = await asyncio.wait_for(
                wc.leads.iterate(
                    start_date=date(2019, 1, 1), end_date=date(2020, 12, 31), per_page=50
                ).collect(),
                30,
            )
        expected = fake.data.lead_ids(
            datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC)
        )
        assert [lead.lead_id for lead in got] == expected
        assert fake.request_count > 3  # it crossed at least one reset
        assert all(r.status == 200 for r in fake.requests)  # never refused by the server
        assert wc.quota.used <= 3
