"""A resume proves the data already written before it trusts it, and remembers undated leads.

Each test interrupts a real export (the daily budget runs out) against the simulator,
damages the data file the way a full disk or a hand edit would, and resumes: the damage
must be refused before any request, naming the file, the window and the way out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from whatconverts_async import PaginationError, QuotaExhaustedError
from whatconverts_async.export import CheckpointError, export_leads, read_jsonl_ids
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for

UTC = timezone.utc
START = date(2018, 1, 1)
END = date(2021, 12, 31)
START_DT = datetime(2018, 1, 1, tzinfo=UTC)
END_DT = datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
PER_PAGE = 100


@pytest.fixture
async def fake() -> FakeWhatConverts:  # type: ignore[misc]
    async with FakeWhatConverts(
        leads=600,
        seed=4,
        start=datetime(2017, 6, 1, tzinfo=UTC),
        end=datetime(2022, 6, 1, tzinfo=UTC),
    ) as server:
        yield server


async def interrupted(
    fake: FakeWhatConverts, out: Path, *, requests: int, format: str = "jsonl"
) -> dict[str, Any]:
    """Run an export until the budget of ``requests`` runs out; return its checkpoint."""
    async with client_for(fake, daily_limit=requests) as wc:
        with pytest.raises(QuotaExhaustedError):
            await export_leads(
                wc,
                out,
                start_date=START,
                end_date=END,
                per_page=PER_PAGE,
                prefetch=1,
                format=format,  # type: ignore[arg-type]
            )
    state: dict[str, Any] = json.loads(out.with_name(out.name + ".checkpoint").read_bytes())
    return state


async def resume(fake: FakeWhatConverts, out: Path, *, format: str = "jsonl") -> Any:
    async with client_for(fake) as wc:
        return await export_leads(
            wc,
            out,
            start_date=START,
            end_date=END,
            per_page=PER_PAGE,
            prefetch=1,
            format=format,  # type: ignore[arg-type]
            resume=True,
        )


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def cut_short(lines: list[bytes], index: int) -> list[bytes]:
    # A line that lost its end (a disk filled up) but kept its newline.
    return [*lines[:index], lines[index][:-20] + b"\n", *lines[index + 1 :]]


def removed_then_torn(lines: list[bytes], index: int) -> list[bytes]:
    # A line gone, and as many bytes of a torn page after the end: the size still fits.
    gone = lines[index]
    torn = b'{"lead_id":' + b" " * (len(gone) - 11)
    return [*lines[:index], *lines[index + 1 :], torn]


def edited(lines: list[bytes], index: int) -> list[bytes]:
    # The same length, one digit of the lead id changed.
    record = json.loads(lines[index])
    old = str(record["lead_id"]).encode()
    new = str(int(old[:-1] + b"0") + (1 if old.endswith(b"0") else 0)).encode()
    assert len(new) == len(old) and new != old
    line = lines[index].replace(b'"lead_id":' + old, b'"lead_id":' + new, 1)
    if line == lines[index]:
        line = lines[index].replace(b'"lead_id": ' + old, b'"lead_id": ' + new, 1)
    assert line != lines[index]
    return [*lines[:index], line, *lines[index + 1 :]]


DAMAGE = {
    "a line cut short": cut_short,
    "a line removed": removed_then_torn,
    "a line edited": edited,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
async def test_damage_in_a_finished_window_is_refused_before_any_request(
    fake: FakeWhatConverts, tmp_path: Path, damage: str
) -> None:
    out = tmp_path / "leads.jsonl"
    state = await interrupted(fake, out, requests=4)
    first = state["finished"][0]
    assert state["window"] == 2 and state["window_lines"] > 0  # two windows done, a third begun
    assert first["lines"] > 3
    out.write_bytes(b"".join(DAMAGE[damage](lines_of(out), 2)))
    damaged = out.read_bytes()
    sent = fake.request_count
    with pytest.raises(CheckpointError) as info:
        await resume(fake, out)
    message = str(info.value)
    assert str(out) in message and first["label"] in message, message
    assert "--force" in message and "lines 1-" in message
    if damage == "a line cut short":  # the broken line itself is named too
        assert f"{out} line 3: not valid JSON" in message, message
    assert fake.request_count == sent  # nothing spent
    assert out.read_bytes() == damaged  # and nothing cut off


async def test_damage_in_the_current_windows_committed_pages_is_refused(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    state = await interrupted(fake, out, requests=4)
    lines = lines_of(out)
    current = state["window_offset"]
    index = len(out.read_bytes()[:current].splitlines())  # the window's first line
    assert index < len(lines) - 1
    out.write_bytes(b"".join(removed_then_torn(lines, index)))
    with pytest.raises(CheckpointError, match=rf"leads .*lines {index + 1}-") as info:
        await resume(fake, out)
    assert str(out) in str(info.value)


async def test_garbage_appended_after_the_last_page_is_refused(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    state = await interrupted(fake, out, requests=3)
    assert state["window_lines"] == 0  # stopped at a window boundary
    with out.open("ab") as handle:
        handle.write(b"note to self: check these\n")
    size = out.stat().st_size
    with pytest.raises(CheckpointError, match=r"bytes follow the last page") as info:
        await resume(fake, out)
    assert str(out) in str(info.value) and "not what an interrupted export" in str(info.value)
    assert out.stat().st_size == size


async def test_an_undamaged_file_resumes_to_exactly_the_data(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    await interrupted(fake, out, requests=4)
    before = out.read_bytes()
    with out.open("ab") as handle:  # what a crash inside a page write leaves
        handle.write(b'{"lead_id": 1, "torn": tr')
    result = await resume(fake, out)
    assert out.read_bytes().startswith(before)
    ids = read_jsonl_ids(out)
    assert sorted(ids) == sorted(fake.data.lead_ids(START_DT, END_DT))
    assert result.leads_written == len(ids)


async def test_damage_in_the_data_file_of_a_csv_export_is_refused(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.csv"
    state = await interrupted(fake, out, requests=4, format="csv")
    partial = tmp_path / "leads.csv.partial"
    partial.write_bytes(b"".join(edited(lines_of(partial), 1)))
    with pytest.raises(CheckpointError) as info:
        await resume(fake, out, format="csv")
    assert str(partial) in str(info.value) and state["finished"][0]["label"] in str(info.value)
    assert not out.exists()


def test_the_cli_refuses_to_resume_over_a_damaged_window(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    args = [
        sys.executable,
        "-m",
        "whatconverts_async",
        "export",
        "leads",
        "--demo",
        "--demo-leads",
        "3000",
        "--start-date",
        "2019-01-01",
        "--end-date",
        "2021-12-31",
        "--per-page",
        "200",
        "--out",
        str(out),
        "--quiet",
    ]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*args, *extra], capture_output=True, text=True, timeout=120, check=False
        )

    first = run("--daily-limit", "4")
    assert first.returncode == 3, first.stderr
    state = json.loads((tmp_path / "leads.jsonl.checkpoint").read_bytes())
    assert state["finished"], state
    out.write_bytes(b"".join(removed_then_torn(lines_of(out), 0)))
    second = run("--resume")
    assert second.returncode == 2, second.stderr
    assert str(out) in second.stderr and state["finished"][0]["label"] in second.stderr
    assert "--force" in second.stderr and "Traceback" not in second.stderr


async def test_an_undated_lead_written_before_a_resume_is_not_written_again(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    ids = fake.data.lead_ids(START_DT, END_DT)
    undated = ids[3]  # in the first window
    fake.data.patch_lead(undated, {"date_created": None})
    out = tmp_path / "leads.jsonl"
    state = await interrupted(fake, out, requests=3)
    assert state["undated"] == [[undated, state["finished"][0]["label"]]]
    assert read_jsonl_ids(out).count(undated) == 1
    # After the interruption the API returns the same undated lead for a later window
    # (here: another lead of the last window is served under its id).
    fake.data.patch_lead(ids[-2], {"lead_id": undated, "date_created": None})
    with pytest.raises(PaginationError, match=rf"lead {undated} has no date_created"):
        await resume(fake, out)
    assert read_jsonl_ids(out).count(undated) == 1


async def test_a_version_2_checkpoint_is_proven_line_by_line_and_upgraded(tmp_path: Path) -> None:
    import shutil

    samples = Path(__file__).parent.parent / "samples" / "export-v2"
    for name in ("leads.jsonl", "leads.jsonl.checkpoint"):
        shutil.copy(samples / name, tmp_path / name)
    out = tmp_path / "leads.jsonl"
    lines = lines_of(out)
    broken = [*lines[:4], b"x" * (len(lines[4]) - 1) + b"\n", *lines[5:]]
    out.write_bytes(b"".join(broken))
    async with FakeWhatConverts(
        leads=300,
        seed=5,
        start=datetime(2019, 1, 1, tzinfo=UTC),
        end=datetime(2021, 1, 1, tzinfo=UTC),
    ) as fake:
        async with client_for(fake) as wc:
            with pytest.raises(CheckpointError, match=r"leads.jsonl line 5: not valid JSON"):
                await export_leads(
                    wc,
                    out,
                    start_date=date(2019, 1, 1),
                    end_date=date(2020, 12, 31),
                    per_page=10,
                    prefetch=1,
                    resume=True,
                )
        assert fake.request_count == 0


async def test_requests_used_counts_the_exports_own_requests_on_a_shared_client(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    import asyncio

    fake.faults.latency = 0.005  # the two tasks' requests interleave on the wire
    async with client_for(fake) as wc:
        stop = asyncio.Event()

        async def other() -> int:
            reads = 0
            while not stop.is_set():
                await wc.leads.list(leads_per_page=7)
                reads += 1
            return reads

        reader = asyncio.ensure_future(other())
        result = await export_leads(
            wc, tmp_path / "out.jsonl", start_date=START, end_date=END, per_page=PER_PAGE
        )
        stop.set()
        others = await reader
    mine = sum(1 for r in fake.requests if r.params.get("leads_per_page") == str(PER_PAGE))
    assert others > 0 and fake.request_count == mine + others
    assert result.requests_used == mine
