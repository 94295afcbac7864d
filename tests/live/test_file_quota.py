"""The CLI's file budget against real exports: kill -9, corrupt state, sharded workers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from whatconverts_async.testing import FakeWhatConverts


def _env(fake: FakeWhatConverts, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WHATCONVERTS_API_TOKEN": fake.token,
        "WHATCONVERTS_API_SECRET": fake.secret,
        "WHATCONVERTS_BASE_URL": fake.url,
        "WHATCONVERTS_STATE_DIR": str(state),
    }


async def _export(
    fake: FakeWhatConverts, state: Path, out: Path, *extra: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whatconverts_async",
        "export",
        "leads",
        "--start-date",
        "2017-01-01",
        "--end-date",
        "2025-12-31",
        "--out",
        str(out),
        "--quiet",
        *extra,
        env=_env(fake, state),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def _state_count(state: Path) -> int:
    (path,) = state.glob("quota-*.json")
    data = json.loads(path.read_bytes())  # whole and valid after any kill
    used = data["used"]
    assert isinstance(used, int)
    return used


async def test_kill_9_of_real_exports_never_resets_the_file_budget(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with FakeWhatConverts(leads=4_000, seed=3) as fake:
        fake.faults.latency = 0.002
        seen = 0
        for round_ in range(5):
            proc = await _export(fake, state, tmp_path / f"out{round_}.jsonl", "--per-page", "10")
            target = fake.request_count + 5 + 7 * round_
            while fake.request_count < target:
                assert proc.returncode is None, "the export ended before it was killed"
                await asyncio.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            used = _state_count(state)
            # Budget is taken before a request leaves: the file has counted every request
            # the server saw, and it never goes back.
            assert used >= fake.request_count and used >= seen, (round_, used, seen)
            seen = used


async def test_corrupt_budget_file_stops_the_export_with_exit_3(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with FakeWhatConverts(leads=50) as fake:
        proc = await _export(fake, state, tmp_path / "a.jsonl")
        _, err = await proc.communicate()
        assert proc.returncode == 0, err
        sent = fake.request_count
        (path,) = state.glob("quota-*.json")
        path.write_bytes(b"")  # what a torn write used to leave behind
        proc = await _export(fake, state, tmp_path / "b.jsonl")
        _, err = await proc.communicate()
        assert proc.returncode == 3
        assert fake.request_count == sent  # nothing sent on an unreadable budget
        message = err.decode()
        assert str(path) in message and "delete" in message
        assert fake.secret not in message


async def test_four_sharded_workers_keep_within_20_in_flight(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with FakeWhatConverts(leads=3_000, seed=5) as fake:
        fake.faults.latency = 0.05
        procs = [
            await _export(
                fake,
                state,
                tmp_path / f"shard{i}.jsonl",
                "--shard",
                f"{i}/4",
                "--per-page",
                "10",
                "--prefetch",
                "20",
            )
            for i in range(4)
        ]
        for proc in procs:
            _, err = await proc.communicate()
            assert proc.returncode == 0, err
        # Each worker may hold 20 // 4 = 5; unshared, four would reach 80.
        assert 5 < fake.max_in_flight <= 20
