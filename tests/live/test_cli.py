"""The ``whatconverts`` command as a user runs it: a subprocess, real files, real signals."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from whatconverts_async.cli import DEMO_END, DEMO_START
from whatconverts_async.export import read_jsonl_ids
from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.vocab import LEAD_FILTERS

UTC = timezone.utc
DEMO_LEADS = 20_000


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "whatconverts_async", *args]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args), capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def demo_ids(start: datetime = datetime(2019, 1, 1, tzinfo=UTC)) -> set[int]:
    fake = FakeWhatConverts(leads=DEMO_LEADS, seed=0, start=DEMO_START, end=DEMO_END)
    return set(fake.data.lead_ids(start, None))


def export_args(out: Path, *extra: str) -> list[str]:
    return [
        "export",
        "leads",
        "--demo",
        "--demo-leads",
        str(DEMO_LEADS),
        "--start-date",
        "2019-01-01",
        "--out",
        str(out),
        "--per-page",
        "400",
        *extra,
    ]


def test_demo_export_jsonl_matches_the_data(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    done = run(*export_args(out))
    assert done.returncode == 0, done.stderr
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids))
    assert set(ids) == demo_ids()
    assert "exported 20,000 leads" in done.stderr
    assert "window(s)" in done.stderr  # the quota estimate came first
    assert done.stdout == ""


def test_demo_export_csv_matches_the_data(tmp_path: Path) -> None:
    out = tmp_path / "leads.csv"
    done = run(*export_args(out), "--end-date", "2020-12-31")
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        ids = [int(row["lead_id"]) for row in csv.DictReader(handle)]
    expected = demo_ids()
    fake = FakeWhatConverts(leads=DEMO_LEADS, seed=0, start=DEMO_START, end=DEMO_END)
    expected = set(
        fake.data.lead_ids(
            datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC)
        )
    )
    assert len(ids) == len(set(ids))
    assert set(ids) == expected


def test_existing_output_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    out.write_text("keep me\n")
    done = run(*export_args(out))
    assert done.returncode == 2
    assert "already exists" in done.stderr and "--force" in done.stderr
    assert "Traceback" not in done.stderr
    assert out.read_text() == "keep me\n"


def test_quota_exhaustion_exits_3_and_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    first = run(*export_args(out, "--daily-limit", "4"))
    assert first.returncode == 3, first.stderr
    assert "--resume" in first.stderr and "Traceback" not in first.stderr
    second = run(*export_args(out, "--resume"))
    assert second.returncode == 0, second.stderr
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) and set(ids) == demo_ids()


def test_sigkill_at_random_points_then_resume_is_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(1234)
    expected = demo_ids()
    full_size = 0
    kills = 0
    for attempt in range(5):
        out = tmp_path / f"leads{attempt}.jsonl"
        process = subprocess.Popen(cli(*export_args(out, "--quiet")), stderr=subprocess.DEVNULL)
        # Kill once the output has reached a random fraction of its final size
        # (the first run, never killed, measures that size).
        target = rng.uniform(0.02, 0.95) * full_size if full_size else None
        while process.poll() is None:
            if target is not None and out.exists() and out.stat().st_size >= target:
                process.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        process.wait()
        if target is None:
            full_size = out.stat().st_size
        for _ in range(3):
            if not Path(f"{out}.checkpoint").exists():
                break
            done = run(*export_args(out, "--resume", "--quiet"))
            assert done.returncode == 0, done.stderr
        ids = read_jsonl_ids(out)
        assert len(ids) == len(set(ids)), f"duplicate after kill #{attempt}"
        assert set(ids) == expected, f"loss after kill #{attempt}"
        assert not Path(f"{out}.checkpoint").exists()
    assert kills >= 3


def test_leads_get_prints_one_lead(tmp_path: Path) -> None:
    lead_id = sorted(demo_ids())[3]
    done = run("leads", "get", str(lead_id), "--demo", "--demo-leads", str(DEMO_LEADS))
    assert done.returncode == 0, done.stderr
    lead = json.loads(done.stdout)
    assert lead["lead_id"] == lead_id and "lead_type" in lead


async def test_auth_error_exits_4_and_quota_shows_the_local_budget(tmp_path: Path) -> None:
    async with FakeWhatConverts(leads=100) as fake:
        env = {
            **os.environ,
            "WHATCONVERTS_API_TOKEN": fake.token,
            "WHATCONVERTS_API_SECRET": "wrong",
            "WHATCONVERTS_BASE_URL": fake.url,
            "WHATCONVERTS_STATE_DIR": str(tmp_path / "state"),
        }
        proc = await asyncio.create_subprocess_exec(
            *cli("leads", "get", "1"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 4, err
        assert b"authentication failed" in err and b"wrong" not in err
        env["WHATCONVERTS_API_SECRET"] = fake.secret
        proc = await asyncio.create_subprocess_exec(
            *cli("quota"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err
        report = json.loads(out)
        # the failed call above spent one request of this machine's budget for the key
        assert report == {**report, "limit": 1000, "used": 1, "remaining": 999}
        assert report["resets_at"].endswith("T00:00:00Z")
        state = "".join(p.read_text() for p in (tmp_path / "state").iterdir())
        assert fake.token not in state and fake.secret not in state


def test_missing_credentials_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATCONVERTS_")}
    done = run("quota", env=env)
    assert done.returncode == 2
    assert "WHATCONVERTS_API_TOKEN" in done.stderr and "--demo" in done.stderr


@pytest.mark.parametrize("args", [[], ["export"], ["export", "leads"], ["leads", "get"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args).returncode == 2


@pytest.mark.parametrize(
    "args",
    [["--help"], ["export", "leads", "--help"], ["quota", "--help"], ["leads", "get", "--help"]],
)
def test_help_is_complete(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 0
    assert "usage: whatconverts" in done.stdout


def test_every_lead_filter_has_a_flag() -> None:
    done = run("export", "leads", "--help")
    assert done.returncode == 0
    for name in LEAD_FILTERS:
        assert "--" + name.replace("_", "-") in done.stdout, name


def test_user_id_and_customer_journey_flags_filter_the_export(tmp_path: Path) -> None:
    fake = FakeWhatConverts(leads=DEMO_LEADS, seed=0, start=DEMO_START, end=DEMO_END)
    visitor = next(
        uid
        for uid in (
            fake.data.lead(i).get("user_id")
            for i in fake.data.lead_ids(datetime(2019, 1, 1, tzinfo=UTC))
        )
        if uid
    )
    out = tmp_path / "leads.jsonl"
    done = run(*export_args(out), "--user-id", visitor, "--customer-journey")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(lead["user_id"] == visitor for lead in lines)


def _run_on_terminal(args: list[str]) -> str:
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: a 40x120 terminal, as a person would have
        fcntl.ioctl(2, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.execv(sys.executable, cli(*args))
    out = bytearray()
    try:
        while chunk := os.read(fd, 65536):
            out.extend(chunk)
    except OSError:  # the terminal closes when the child exits
        pass
    os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_quiet_flag(tmp_path: Path) -> None:
    shown = _run_on_terminal(export_args(tmp_path / "a.jsonl"))
    assert "window/s" in shown and "left today" in shown and "8/8" in shown
    assert "exported 20,000 leads" in shown
    quiet = _run_on_terminal([*export_args(tmp_path / "b.jsonl"), "--quiet"])
    assert "window/s" not in quiet
    assert "exported 20,000 leads" in quiet  # the summary line always


# --- backfills that run from cron: the CLI speaks CLI -----------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "WHATCONVERTS_STATE_DIR": str(tmp_path / "state"), **extra}


def test_resume_of_a_finished_export_exits_0_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    env = _env(tmp_path)
    assert run(*export_args(out), env=env).returncode == 0
    complete = out.read_bytes()
    for _ in range(2):  # a cron job runs the same command every day
        again = run(*export_args(out, "--resume"), env=env)
        assert again.returncode == 0, again.stderr
        assert "already complete" in again.stderr and "20,000 leads" in again.stderr
        assert "window(s)" not in again.stderr  # no pre-flight for nothing to do
        assert out.read_bytes() == complete


def test_messages_name_the_flags_not_python_arguments(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    env = _env(tmp_path)
    assert run(*export_args(out, "--daily-limit", "4"), env=env).returncode == 3
    checkpoint = out.with_name(out.name + ".checkpoint")
    checkpoint.write_bytes(b"garbage")
    for args in (export_args(out, "--resume"), export_args(out)):
        done = run(*args, env=env)
        assert done.returncode == 2, done.stderr
        assert "--force" in done.stderr
        assert "=True" not in done.stderr, done.stderr


def test_debug_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    out.write_text("keep me\n")
    done = run(*export_args(out), "--debug", env=_env(tmp_path))
    # --debug shows the traceback instead of the one-line error
    assert "unrecognized arguments" not in done.stderr
    assert "Traceback" in done.stderr and "ExportError" in done.stderr
    merged = run("merge", str(out), "--out", str(tmp_path / "m.jsonl"), "--debug")
    assert "unrecognized arguments" not in merged.stderr and "Traceback" in merged.stderr
    before = run("--debug", "leads", "get", "1", "--demo", "--demo-leads", "10")
    assert "Traceback" in before.stderr  # before the subcommand still works


def test_the_preflight_line_never_claims_the_budget_covers_the_export(tmp_path: Path) -> None:
    out = tmp_path / "leads.jsonl"
    # 8 windows but 57 pages of 400: 50 is enough for the floor, not for the export.
    done = run(*export_args(out, "--daily-limit", "50"), env=_env(tmp_path))
    assert done.returncode == 3, done.stderr
    assert "covers it" not in done.stderr
    assert "at least 8 request(s)" in done.stderr
    short = run(*export_args(tmp_path / "b.jsonl", "--daily-limit", "5"), env=_env(tmp_path))
    assert short.returncode == 3
    assert "not enough" in short.stderr and "exit 3" in short.stderr


def test_wait_for_quota_says_until_when_it_waits(tmp_path: Path) -> None:
    import re
    from datetime import timedelta

    out = tmp_path / "leads.jsonl"
    process = subprocess.Popen(
        cli(*export_args(out, "--daily-limit", "3", "--wait-for-quota", "--quiet")),
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "waiting until" in line:
                break
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    text = "".join(lines)
    assert "not enough; it will wait for the reset" in text
    found = re.search(r"waiting until (\d{4}-\d\d-\d\d)T00:00:00Z", text)
    assert found, text
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert found.group(1) == tomorrow


async def test_waiting_tasks_announce_one_reset_once() -> None:
    import io
    from datetime import timedelta

    from whatconverts_async.cli import _AnnouncingClock

    class StepClock:
        """Time moves only when the test moves it."""

        instant = datetime(2026, 3, 1, 23, 0, 0, tzinfo=UTC)

        def now(self) -> datetime:
            return self.instant

        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(0)

    stream = io.StringIO()
    base = StepClock()
    clock = _AnnouncingClock(stream, base)
    # Four prefetching tasks find the budget spent at once: one line, not four.
    await asyncio.gather(*(clock.sleep(3600.0) for _ in range(4)))
    assert stream.getvalue().count("waiting until") == 1
    assert "waiting until 2026-03-02T00:00:00Z (1 h 00 min)" in stream.getvalue()
    base.instant += timedelta(hours=1)
    await clock.sleep(86400.0)  # the next day's reset is announced again
    assert stream.getvalue().count("waiting until") == 2


def test_connection_errors_name_the_reason(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _env(tmp_path, WHATCONVERTS_API_TOKEN="token", WHATCONVERTS_API_SECRET="secret")
    refused = run(
        "leads",
        "get",
        "1",
        "--base-url",
        f"http://127.0.0.1:{port}/api/v1/",
        "--max-retries",
        "0",
        env=env,
    )
    assert refused.returncode == 1
    assert "ECONNREFUSED" in refused.stderr and "Connection refused" in refused.stderr
    unknown = run(
        "leads",
        "get",
        "1",
        "--base-url",
        "https://no-such-host.invalid/api/v1/",
        "--max-retries",
        "0",
        env=env,
    )
    assert unknown.returncode == 1
    assert "DNS lookup failed" in unknown.stderr
    assert "secret" not in refused.stderr + unknown.stderr
