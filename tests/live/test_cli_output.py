"""What the ``whatconverts`` command prints, as a new user saw it: pipes, times, summaries.

Each test runs the real command as a subprocess against the built-in demo simulator.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from whatconverts_async.cli import DEMO_END, DEMO_START
from whatconverts_async.testing import FakeWhatConverts

from ._support import run_cli
from .test_cli import _env, cli, export_args, run
from .test_cli_user_reports import fake_env

Z_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ISO_OFFSET = re.compile(r"\d\d:\d\d(?:\.\d+)?\+00:00")


def _into_closed_pipe(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the command with a stdout whose reader has gone (``| head -c 0``)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            cli(*args), stdout=write, stderr=subprocess.PIPE, env=env, timeout=60, check=False
        )
    finally:
        os.close(write)
    return done.returncode, done.stderr.decode()


def _a_demo_lead() -> str:
    fake = FakeWhatConverts(leads=10, seed=0, start=DEMO_START, end=DEMO_END)
    return str(next(iter(fake.data.lead_ids(DEMO_START, None))))


def test_a_reader_that_stops_early_gets_no_error_line(tmp_path: Path) -> None:
    lead = ["leads", "get", _a_demo_lead(), "--demo", "--demo-leads", "10"]
    for args in (lead, ["quota", "--demo"]):
        code, err = _into_closed_pipe(*args, env=_env(tmp_path))
        assert err == "", err
        assert code == 141, (code, err)


def test_a_closed_stdout_is_not_mistaken_for_success_of_a_bad_command(tmp_path: Path) -> None:
    # A usage error still says so on stderr and exits 2: only the pipe is quiet.
    code, err = _into_closed_pipe("leads", "get", "0", "--demo", env=_env(tmp_path))
    assert code == 2 and "LEAD_ID" in err, err


def test_out_dash_is_refused_naming_out(tmp_path: Path) -> None:
    # "-" is stdout for most tools; an export needs a real file for its checkpoint.
    done = subprocess.run(
        cli(*export_args(Path("-"), "--format", "jsonl")),
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--out" in done.stderr and "checkpoint" in done.stderr
    assert "window(s)" not in done.stderr
    assert not (tmp_path / "-").exists()
    assert not list(tmp_path.glob("-*"))


def test_the_exit_3_message_gives_the_reset_as_a_utc_second(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    done = run(*export_args(out, "--daily-limit", "4"), env=_env(tmp_path))
    assert done.returncode == 3, done.stderr
    assert "resets at" in done.stderr
    assert Z_TIME.search(done.stderr), done.stderr
    assert not ISO_OFFSET.search(done.stderr), done.stderr


async def test_a_spent_budget_for_one_lead_gives_the_reset_as_a_utc_second(
    tmp_path: Path,
) -> None:
    async with FakeWhatConverts(leads=5, seed=1) as fake:
        lead = str(next(iter(fake.data.lead_ids(DEMO_START.replace(year=2015), None))))
        env = fake_env(fake, tmp_path)
        code, _, err = await run_cli("leads", "get", lead, "--daily-limit", "1", env=env)
        assert code == 0, err
        code, _, err = await run_cli("leads", "get", lead, "--daily-limit", "1", env=env)
    assert code == 3, err
    assert Z_TIME.search(err) and not ISO_OFFSET.search(err), err
    assert " UTC)" not in err, err


def test_a_resumed_export_says_what_this_run_did_and_what_the_export_holds(
    tmp_path: Path,
) -> None:
    out = tmp_path / "leads.jsonl"
    env = _env(tmp_path)
    assert run(*export_args(out, "--daily-limit", "20"), env=env).returncode == 3
    done = run(*export_args(out, "--resume"), env=env)
    assert done.returncode == 0, done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    found = re.search(r"this run: ([\d,]+) leads in [\d.]+ s", summary)
    assert found, summary
    whole = re.search(r"whole export: 20,000 leads", summary)
    assert whole, summary
    this_run = int(found.group(1).replace(",", ""))
    assert 0 < this_run < 20_000, summary  # the first run wrote some already
    assert "resumed" in summary


def test_resume_with_other_arguments_prints_nothing_before_the_error(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    env = _env(tmp_path)
    assert run(*export_args(out, "--daily-limit", "4"), env=env).returncode == 3
    other = [a if a != "2019-01-01" else "2020-01-01" for a in export_args(out, "--resume")]
    done = run(*other, env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("whatconverts: error:"), done.stderr
    assert "--start-date" in lines[0], done.stderr


def test_an_interrupted_csv_export_keeps_its_leads_in_the_partial_file(tmp_path: Path) -> None:
    # As docs/export.md says: no CSV yet, JSON lines in <out>.partial, and a damaged
    # .partial is what --resume names.
    out = tmp_path / "leads.csv"
    env = _env(tmp_path)
    assert run(*export_args(out, "--daily-limit", "4"), env=env).returncode == 3
    partial = out.with_name("leads.csv.partial")
    assert not out.exists() and partial.exists()
    first = partial.read_text().splitlines()[0]
    assert first.startswith("{") and '"lead_id"' in first
    data = partial.read_bytes()
    partial.write_bytes(data.replace(b'"lead_id"', b'"lead_iX"', 1))  # an edited lead
    done = run(*export_args(out, "--resume"), env=env)
    assert done.returncode == 2, done.stderr
    assert "leads.csv.partial" in done.stderr, done.stderr
