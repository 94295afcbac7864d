"""Backfill export through the Python API: formats, exactly-once resume, refusals."""

from __future__ import annotations

import csv
import json
import math
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from whatconverts_async import QuotaExhaustedError, ServerError, split_windows
from whatconverts_async.export import (
    CSV_FIELDS,
    CheckpointError,
    ExportError,
    export_leads,
    read_jsonl_ids,
)
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for

UTC = timezone.utc
START = date(2018, 1, 1)
END = date(2021, 12, 31)
END_DT = datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
START_DT = datetime(2018, 1, 1, tzinfo=UTC)


@pytest.fixture
async def fake() -> FakeWhatConverts:  # type: ignore[misc]
    async with FakeWhatConverts(
        leads=6_000,
        seed=21,
        start=datetime(2017, 6, 1, tzinfo=UTC),
        end=datetime(2022, 6, 1, tzinfo=UTC),
    ) as server:
        yield server


def expected_leads(fake: FakeWhatConverts) -> dict[int, dict]:  # type: ignore[type-arg]
    return {lead["lead_id"]: lead for lead in fake.data.iter_leads(START_DT, END_DT)}


def read_jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_jsonl_export_matches_the_data_exactly(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    async with client_for(fake) as wc:
        result = await export_leads(wc, out, start_date=START, end_date=END, per_page=500)
    rows = read_jsonl(out)
    expected = expected_leads(fake)
    assert len(rows) == len(expected) == result.leads_written
    assert {row["lead_id"]: row for row in rows} == expected  # every field, unknown ones too
    assert result.windows_total == result.windows_done == 4
    assert result.requests_used == fake.request_count
    assert not (tmp_path / "leads.jsonl.checkpoint").exists()


async def test_unknown_fields_survive_the_export(fake: FakeWhatConverts, tmp_path: Path) -> None:
    lead_id = fake.data.lead_ids(START_DT, END_DT)[5]
    fake.data.patch_lead(lead_id, {"brand_new_field": {"nested": [1, 2]}})
    out = tmp_path / "leads.jsonl"
    async with client_for(fake) as wc:
        await export_leads(wc, out, start_date=START, end_date=END)
    (row,) = [r for r in read_jsonl(out) if r["lead_id"] == lead_id]
    assert row["brand_new_field"] == {"nested": [1, 2]}


async def test_csv_export_has_a_stable_header_and_unbroken_rows(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    lead_id = fake.data.lead_ids(START_DT, END_DT)[0]
    fake.data.patch_lead(
        lead_id,
        {
            "notes": 'line one\nline "two", with commas',
            "additional_fields": {"Budget": "5,000", "Zeta": "z"},
            "mystery": "kept",
        },
    )
    out = tmp_path / "leads.csv"
    async with client_for(fake) as wc:
        result = await export_leads(wc, out, start_date=START, end_date=END, format="csv")
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    assert header[: len(CSV_FIELDS)] == list(CSV_FIELDS)
    tail = header[len(CSV_FIELDS) :]
    custom = [h for h in tail if h.startswith("additional_fields.")]
    assert custom == sorted(custom) and "additional_fields.Budget" in custom
    assert tail[-1] == "mystery"  # unknown fields come last
    assert len(rows) == result.leads_written == len(expected_leads(fake))
    assert all(len(row) == len(header) for row in rows)
    by_id = {int(row[header.index("lead_id")]): dict(zip(header, row, strict=True)) for row in rows}
    assert by_id[lead_id]["notes"] == 'line one\nline "two", with commas'
    assert by_id[lead_id]["additional_fields.Budget"] == "5,000"
    assert by_id[lead_id]["mystery"] == "kept"
    assert set(by_id) == set(expected_leads(fake))
    assert not list(tmp_path.glob("leads.csv.*"))


async def test_existing_output_is_refused_unless_resume_or_force(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    out.write_text("precious\n")
    async with client_for(fake) as wc:
        with pytest.raises(ExportError, match="already exists"):
            await export_leads(wc, out, start_date=START, end_date=END)
        assert out.read_text() == "precious\n"
        with pytest.raises(ExportError, match="no checkpoint"):
            await export_leads(wc, out, start_date=START, end_date=END, resume=True)
        assert fake.request_count == 0
        await export_leads(wc, out, start_date=START, end_date=END, force=True)
    assert "precious" not in out.read_text()


@pytest.mark.parametrize("stop_after", [1, 3, 7, 11])
async def test_resume_after_stopping_mid_scan_is_exactly_once(
    fake: FakeWhatConverts, tmp_path: Path, stop_after: int
) -> None:
    out = tmp_path / "leads.jsonl"
    # The budget stops the first run after `stop_after` requests, between any two pages.
    async with client_for(fake, daily_limit=stop_after) as wc:
        with pytest.raises(QuotaExhaustedError):
            await export_leads(wc, out, start_date=START, end_date=END, per_page=300, prefetch=3)
    assert (tmp_path / "leads.jsonl.checkpoint").exists()
    partial = read_jsonl_ids(out)
    assert len(partial) == len(set(partial))
    # Simulate bytes written after the last checkpoint (a crash between write and commit).
    with out.open("ab") as handle:
        handle.write(b'{"lead_id": 1, "torn": tr')
    async with client_for(fake) as wc:
        result = await export_leads(
            wc, out, start_date=START, end_date=END, per_page=300, prefetch=3, resume=True
        )
    assert result.resumed
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)), "a lead was written twice"
    assert set(ids) == set(expected_leads(fake)), "a lead was lost"
    # Resuming re-reads at most what was in flight, never the whole range again.
    fresh = sum(
        max(1, math.ceil(fake.data.count_leads(w.start, w.end) / 300))
        for w in split_windows(START_DT, END_DT)
    )
    assert fake.request_count - stop_after <= fresh - stop_after + 3


async def test_a_server_failure_mid_export_is_resumable(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    async with client_for(fake, max_retries=0) as wc:
        fake.faults.fail_next(1, 502, path_prefix="/api/v1/leads")
        with pytest.raises(ServerError):
            await export_leads(wc, out, start_date=START, end_date=END, per_page=300)
    async with client_for(fake) as wc:
        await export_leads(wc, out, start_date=START, end_date=END, per_page=300, resume=True)
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) and set(ids) == set(expected_leads(fake))


async def test_quota_running_out_mid_export_is_resumable(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.csv"
    async with client_for(fake, daily_limit=5) as wc:
        with pytest.raises(QuotaExhaustedError):
            await export_leads(wc, out, start_date=START, end_date=END, format="csv", per_page=400)
    assert fake.request_count == 5
    assert not out.exists()  # a CSV appears only when complete
    assert (tmp_path / "leads.csv.checkpoint").exists()
    async with client_for(fake) as wc:
        result = await export_leads(
            wc, out, start_date=START, end_date=END, format="csv", per_page=400, resume=True
        )
    with out.open(newline="") as handle:
        ids = [int(row["lead_id"]) for row in csv.DictReader(handle)]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(expected_leads(fake))
    assert result.requests_used == fake.request_count


async def test_leads_inserted_between_crash_and_resume_are_not_duplicated(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    async with client_for(fake, daily_limit=3) as wc:
        with pytest.raises(QuotaExhaustedError):
            await export_leads(wc, out, start_date=START, end_date=END, per_page=300, prefetch=1)
    before = set(expected_leads(fake))
    # New leads land in the window being exported, shifting its pages.
    for day in (2, 3, 4):
        fake.data.insert_lead(datetime(2018, 1, day, tzinfo=UTC))
    async with client_for(fake) as wc:
        await export_leads(wc, out, start_date=START, end_date=END, per_page=300, resume=True)
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids))
    assert before <= set(ids)


async def test_garbled_or_mismatched_checkpoint_is_a_clear_error(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    async with client_for(fake, daily_limit=2) as wc:
        with pytest.raises(QuotaExhaustedError):
            await export_leads(wc, out, start_date=START, end_date=END, per_page=300)
    checkpoint = tmp_path / "leads.jsonl.checkpoint"
    good = checkpoint.read_text()
    async with client_for(fake) as wc:
        with pytest.raises(CheckpointError, match="different arguments"):
            await export_leads(
                wc, out, start_date=date(2018, 2, 1), end_date=END, resume=True, per_page=300
            )
        checkpoint.write_text(good[: len(good) // 2])
        with pytest.raises(CheckpointError, match=r"unreadable.*--force"):
            await export_leads(wc, out, start_date=START, end_date=END, resume=True, per_page=300)
        checkpoint.write_text('{"version": 1, "offset": -4}')
        with pytest.raises(CheckpointError, match="unreadable"):
            await export_leads(wc, out, start_date=START, end_date=END, resume=True, per_page=300)
        # the safe way forward works
        await export_leads(wc, out, start_date=START, end_date=END, force=True)
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) == len(expected_leads(fake))


async def test_shards_split_the_windows_exactly(fake: FakeWhatConverts, tmp_path: Path) -> None:
    ids: list[int] = []
    async with client_for(fake) as wc:
        for index in range(3):
            out = tmp_path / f"shard{index}.jsonl"
            await export_leads(wc, out, start_date=START, end_date=END, shard=(index, 3))
            ids += read_jsonl_ids(out)
    assert len(ids) == len(set(ids))
    assert set(ids) == set(expected_leads(fake))


async def test_wait_mode_sleeps_through_resets_and_finishes(tmp_path: Path) -> None:
    import asyncio
    from datetime import timedelta

    class ResetClock:
        """Time moves only when the client waits for a reset.

        (A FastClock made this test depend on the machine's speed: a request that took
        the last unit of one artificial day could reach the server in the next.) With
        ``prefetch=1`` no request is in flight when the day turns, so client and server
        always agree on the day.
        """

        def __init__(self, start: datetime) -> None:
            self.current = start

        def now(self) -> datetime:
            return self.current

        async def sleep(self, seconds: float) -> None:
            self.current += timedelta(seconds=seconds)
            await asyncio.sleep(0)

    # The budget of 4 refills many times during the export.
    clock = ResetClock(datetime(2026, 3, 1, 23, 59, 0, tzinfo=UTC))
    fake = FakeWhatConverts(
        leads=3_000,
        seed=4,
        start=datetime(2018, 1, 1, tzinfo=UTC),
        end=datetime(2020, 1, 1, tzinfo=UTC),
        clock=clock.now,
        daily_limit=4,
    )
    out = tmp_path / "leads.jsonl"
    async with fake, client_for(fake, daily_limit=4, on_quota_exhausted="wait", clock=clock) as wc:
        result = await export_leads(
            wc,
            out,
            start_date=date(2018, 1, 1),
            end_date=date(2019, 12, 31),
            per_page=250,
            prefetch=1,
        )
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) == 3_000
    assert result.requests_used == fake.request_count > 4
    # the server never had to refuse: the client waited for each reset instead
    assert all(r.status == 200 for r in fake.requests)


async def test_two_exports_cannot_write_one_output_at_once(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    import asyncio

    out = tmp_path / "leads.jsonl"
    fake.faults.latency = 0.05
    async with client_for(fake) as wc:
        started = asyncio.Event()
        first = asyncio.create_task(
            export_leads(
                wc, out, start_date=START, end_date=END, on_progress=lambda _: started.set()
            )
        )
        await started.wait()
        with pytest.raises(ExportError, match="another export is writing"):
            await export_leads(wc, out, start_date=START, end_date=END, resume=True)
        await first
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) == len(expected_leads(fake))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.jsonl"]


async def test_shards_need_a_fixed_end(fake: FakeWhatConverts, tmp_path: Path) -> None:
    from whatconverts_async import InvalidParameterError

    async with client_for(fake) as wc:
        with pytest.raises(InvalidParameterError) as info:
            await export_leads(wc, tmp_path / "s.jsonl", start_date=START, shard=(0, 2))
    assert info.value.parameter == "end_date"
    assert fake.request_count == 0


# --- backfills that run from cron ------------------------------------------------------


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Completion records and locks live in the state folder: one per test.
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("WHATCONVERTS_STATE_DIR", str(state))
    return state


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_resume_of_a_finished_export_is_a_no_op(
    fake: FakeWhatConverts, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"leads.{fmt}"
    async with client_for(fake) as wc:
        first = await export_leads(wc, out, start_date=START, end_date=END, format=fmt)  # type: ignore[arg-type]
        assert not first.already_complete
        complete = out.read_bytes()
        sent = fake.request_count
        again = await export_leads(
            wc,
            out,
            start_date=START,
            end_date=END,
            format=fmt,  # type: ignore[arg-type]
            resume=True,
        )
    assert again.already_complete and again.resumed
    assert again.leads_written == first.leads_written
    assert fake.request_count == sent  # not one request
    assert out.read_bytes() == complete
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


async def test_resume_of_a_finished_open_ended_export_is_a_no_op(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    async with client_for(fake) as wc:
        await export_leads(wc, out, start_date=START)
        sent = fake.request_count
        again = await export_leads(wc, out, start_date=START, resume=True)
        assert again.already_complete and fake.request_count == sent
        # Other arguments are not the finished export: refused, not silently accepted.
        with pytest.raises(CheckpointError, match="different arguments"):
            await export_leads(wc, out, start_date=date(2018, 6, 1), resume=True)


async def test_a_changed_finished_output_is_not_taken_for_complete(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    async with client_for(fake) as wc:
        await export_leads(wc, out, start_date=START, end_date=END)
        with out.open("ab") as handle:
            handle.write(b'{"lead_id": 1}\n')
        with pytest.raises(ExportError, match=r"no checkpoint.*--force"):
            await export_leads(wc, out, start_date=START, end_date=END, resume=True)
        # A fresh export (force) must not be vouched for by the old record.
        await export_leads(wc, out, start_date=START, end_date=END, force=True)
        again = await export_leads(wc, out, start_date=START, end_date=END, resume=True)
    assert again.already_complete
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) and set(ids) == set(expected_leads(fake))


KILL_AFTER_LAST_CHECKPOINT = """
import asyncio, os, signal, sys
from datetime import date
from whatconverts_async import WhatConverts
from whatconverts_async.export import export_leads

def progress(p):
    # The instant after the last checkpoint: every window is recorded as done.
    if p.windows_done == p.windows_total:
        os.kill(os.getpid(), signal.SIGKILL)

async def main():
    url, token, secret, out, fmt = sys.argv[1:]
    async with WhatConverts(token, secret, base_url=url) as wc:
        await export_leads(wc, out, start_date=date(2018, 1, 1), end_date=date(2021, 12, 31),
                           format=fmt, per_page=500, on_progress=progress)

asyncio.run(main())
"""


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_kill_right_after_the_last_checkpoint_then_resume_is_complete(
    fake: FakeWhatConverts, tmp_path: Path, fmt: str
) -> None:
    import asyncio
    import signal
    import sys

    out = tmp_path / f"leads.{fmt}"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILL_AFTER_LAST_CHECKPOINT,
        fake.url,
        fake.token,
        fake.secret,
        str(out),
        fmt,
    )
    assert await child.wait() == -signal.SIGKILL
    assert (tmp_path / f"leads.{fmt}.checkpoint").exists()
    sent = fake.request_count
    async with client_for(fake) as wc:
        result = await export_leads(
            wc,
            out,
            start_date=START,
            end_date=END,
            format=fmt,
            per_page=500,
            resume=True,  # type: ignore[arg-type]
        )
        assert result.already_complete and fake.request_count == sent
        # ... and the next run (cron, the day after) says so again.
        again = await export_leads(
            wc,
            out,
            start_date=START,
            end_date=END,
            format=fmt,
            per_page=500,
            resume=True,  # type: ignore[arg-type]
        )
    assert again.already_complete and fake.request_count == sent
    if fmt == "jsonl":
        ids = read_jsonl_ids(out)
    else:
        with out.open(newline="") as handle:
            ids = [int(row["lead_id"]) for row in csv.DictReader(handle)]
    assert len(ids) == len(set(ids)) and set(ids) == set(expected_leads(fake))
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


async def test_a_process_holding_the_old_lock_file_still_excludes_the_next(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    import fcntl
    import os

    from whatconverts_async.export.checkpoint import lock_path

    out = tmp_path / "leads.jsonl"
    lock = lock_path(out)
    async with client_for(fake) as wc:
        await export_leads(wc, out, start_date=START, end_date=END)
        # A second process opened the lock file while the first export held it and
        # locks it once the first is done ...
        assert lock.exists()
        held = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # ... so a third must be refused: there is only ever one lock file.
            with pytest.raises(ExportError, match="another export is writing"):
                await export_leads(wc, out, start_date=START, end_date=END, force=True)
        finally:
            os.close(held)
    assert fake.request_count > 0


async def test_a_failed_checkpoint_write_is_the_error_reported(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    # The checkpoint cannot be written (its temporary name is taken by a folder).
    (tmp_path / "leads.jsonl.checkpoint.tmp").mkdir()
    async with client_for(fake) as wc:
        with pytest.raises(OSError) as info:
            await export_leads(wc, out, start_date=START, end_date=END)
    assert "leads.jsonl.checkpoint" in str(info.value)
    assert ".lock" not in str(info.value)
    assert fake.request_count == 0


async def test_a_read_only_output_folder_reports_the_checkpoint_not_the_lock(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    folder = tmp_path / "out"
    folder.mkdir()
    chattr = shutil.which("chattr")
    # Root ignores permissions: an immutable folder is read-only even for root.
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False).returncode:
        pytest.skip("cannot make a read-only folder here")
    try:
        async with client_for(fake) as wc:
            with pytest.raises(OSError) as info:
                await export_leads(wc, folder / "leads.jsonl", start_date=START, end_date=END)
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)
    assert "leads.jsonl.checkpoint" in str(info.value)
    assert fake.request_count == 0


async def test_a_checkpoint_written_before_the_package_split_still_resumes(
    tmp_path: Path,
) -> None:
    import shutil

    samples = Path(__file__).parent.parent / "samples" / "export-v2"
    for name in ("leads.jsonl", "leads.jsonl.checkpoint"):
        shutil.copy(samples / name, tmp_path / name)
    out = tmp_path / "leads.jsonl"
    already = read_jsonl_ids(out)
    assert len(already) == 30
    async with FakeWhatConverts(
        leads=300,
        seed=5,
        start=datetime(2019, 1, 1, tzinfo=UTC),
        end=datetime(2021, 1, 1, tzinfo=UTC),
    ) as fake:
        async with client_for(fake) as wc:
            result = await export_leads(
                wc,
                out,
                start_date=date(2019, 1, 1),
                end_date=date(2020, 12, 31),
                per_page=10,
                prefetch=1,
                resume=True,
            )
        expected = set(
            fake.data.lead_ids(
                datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC)
            )
        )
    ids = read_jsonl_ids(out)
    assert ids[:30] == already  # what was written before is kept as it was
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert result.resumed and result.requests_used == 3 + fake.request_count
