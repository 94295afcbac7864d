"""Every program in ``examples/`` runs against the simulator (``--demo``) and says so.

Each runs as a separate process, as a user would run it, with a time bound; each demo
checks its own result (leads exactly once, webhooks received, edits merged) and prints
``demo ok`` only when those checks passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from whatconverts_async.testing import FakeWhatConverts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 180  # seconds; each demo takes a few on this kind of machine


def _run(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name_ in ("WHATCONVERTS_API_TOKEN", "WHATCONVERTS_API_SECRET", "WHATCONVERTS_BASE_URL"):
        env.pop(name_, None)  # the demo must not depend on the caller's environment
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    env["DLT_DATA_DIR"] = str(cwd / "dlt-data")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("demo ok"), result.stdout + result.stderr


@pytest.mark.parametrize(
    "name",
    ["service.py", "nightly_backfill.py", "endpoint_upload.py", "mirror_service.py"],
)
def test_example_runs_against_the_simulator(name: str, tmp_path: Path) -> None:
    _check(_run(name, cwd=tmp_path))


def test_dlt_pipeline_example(tmp_path: Path) -> None:
    pytest.importorskip("dlt")
    pytest.importorskip("duckdb")
    _check(_run("dlt_pipeline.py", cwd=tmp_path))
    assert not (tmp_path / ".dlt").exists() or not any((tmp_path / ".dlt").iterdir())


def test_sharded_workers_example(tmp_path: Path) -> None:
    url = os.environ.get("WHATCONVERTS_TEST_REDIS_URL")
    if not url:
        pytest.skip("WHATCONVERTS_TEST_REDIS_URL is not set (a Redis server is needed)")
    result = _run("sharded_workers.py", "--redis-url", url, cwd=tmp_path)
    _check(result)
    assert result.stdout.count("worker ") == 3, result.stdout


def test_every_example_is_tested() -> None:
    tested = {
        "service.py",
        "nightly_backfill.py",
        "endpoint_upload.py",
        "mirror_service.py",
        "dlt_pipeline.py",
        "sharded_workers.py",
    }
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


async def test_example_runs_against_a_simulator_url_from_the_environment(tmp_path: Path) -> None:
    """Without ``--demo`` an example reads the usual environment, here a simulator's URL."""
    async with FakeWhatConverts(leads=600, seed=9) as fake:
        env = dict(os.environ)
        env.update(
            WHATCONVERTS_API_TOKEN=fake.token,
            WHATCONVERTS_API_SECRET=fake.secret,
            WHATCONVERTS_BASE_URL=fake.url,
        )
        out = tmp_path / "leads.jsonl"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "nightly_backfill.py"),
            "--out",
            str(out),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert proc.returncode == 0, output.decode()
        ids = [json.loads(line)["lead_id"] for line in out.read_text().splitlines()]
        assert sorted(ids) == sorted(fake.data.lead_ids())
        assert fake.request_count > 0
