"""The ``whatconverts mirror`` commands on the demo simulator, and the refresh plan's choices."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from whatconverts_async import InvalidParameterError
from whatconverts_async.cli import main
from whatconverts_async.mirror import RefreshPlan, Tier

UTC = timezone.utc


def test_demo_backfill_refresh_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "demo.db")
    args = ["--demo", "--demo-leads", "800", "--db", db, "--quiet"]
    assert main(["mirror", "backfill", *args]) == 0
    out = capsys.readouterr().out
    assert "backfill: inserted 800, updated 0, unchanged 0, requests 1" in out
    assert main(["mirror", "refresh", *args]) == 0
    out = capsys.readouterr().out
    assert "edited 3 older leads" in out
    assert "refresh: inserted 3, updated 3," in out
    assert "quotable 'Pending' -> 'No'" in out or "-> 'Yes'" in out
    assert main(["mirror", "status", *args]) == 0
    out = capsys.readouterr().out
    assert "leads 803 " in out and "plan cost:" in out and "hot: last 2 days" in out
    # A backfill already done costs nothing; a wrong start date is a usage error.
    assert main(["mirror", "backfill", *args]) == 0
    assert "requests 0" in capsys.readouterr().out
    assert main(["mirror", "backfill", "--db", db]) == 2
    assert "--start-date" in capsys.readouterr().err


def test_plan_choices() -> None:
    plan = RefreshPlan(widen=False)
    now = datetime(2026, 1, 10, tzinfo=UTC)
    first = plan.choose({}, now, 100.0)
    assert first is not None and first.days == 35 and first.covers == ("hot", "warm", "cold")
    done = dict.fromkeys(first.covers, now)
    assert plan.choose(done, now + timedelta(minutes=59), 100.0) is None
    hourly = plan.choose(done, now + timedelta(hours=1), 100.0)
    assert hourly is not None and hourly.covers == ("hot",) and hourly.requests == 1
    # The formula: ⌈N·rate/2500⌉ per pass, per 400-day window, at least one.
    assert RefreshPlan.requests_per_pass(35, 1000) == 14
    assert RefreshPlan.requests_per_pass(800, 0) == 2
    assert RefreshPlan.requests_per_pass(2, None) == 1
    # A short budget drops the narrowest tier first.
    assert [t.name for t in plan.fit(2000, 60).tiers] == ["warm", "cold"]
    assert plan.fit(2000, 0).tiers == ()
    with pytest.raises(InvalidParameterError, match="tier days"):
        Tier("x", 0, timedelta(hours=1))
    with pytest.raises(InvalidParameterError, match="names must be unique"):
        RefreshPlan(tiers=(Tier("a", 1, timedelta(hours=1)), Tier("a", 2, timedelta(hours=2))))


def _run_on_terminal(args: list[str]) -> str:
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: a 40x120 terminal
        fcntl.ioctl(2, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.execv(sys.executable, [sys.executable, "-m", "whatconverts_async", *args])
    out = bytearray()
    try:
        while chunk := os.read(fd, 65536):
            out.extend(chunk)
    except OSError:  # the terminal closes when the child exits
        pass
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_progress_on_a_terminal_and_quiet(tmp_path: Path) -> None:
    args = ["mirror", "backfill", "--demo", "--demo-leads", "3000", "--db", str(tmp_path / "a.db")]
    shown = _run_on_terminal(args)
    assert "page/s" in shown or "pages/s" in shown or "it/s" in shown
    assert "3,000 leads" in shown and "requests" in shown
    assert "backfill: inserted 3000" in shown
    quiet = _run_on_terminal([*args[:-1], str(tmp_path / "b.db"), "--quiet"])
    assert "3,000 leads" not in quiet and "backfill: inserted 3000" in quiet


def test_plan_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "t.db")
    base = ["--demo", "--demo-leads", "500", "--db", db, "--quiet"]
    assert main(["mirror", "backfill", *base]) == 0
    capsys.readouterr()
    assert main(["mirror", "status", *base, "--tier", "daily:90:24", "--daily-budget", "5"]) == 0
    out = capsys.readouterr().out
    assert "daily: last 90 days" in out and "hot" not in out
    assert main(["mirror", "status", *base, "--tier", "daily:90"]) == 2
    assert "NAME:DAYS:HOURS" in capsys.readouterr().err
    assert main(["mirror", "status", *base, "--tier", "x:0:1"]) == 2
    assert "tier days" in capsys.readouterr().err


def test_budget_spent_exits_3_and_the_next_run_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "q.db")
    args = ["mirror", "backfill", "--demo", "--demo-leads", "6000", "--db", db, "--quiet"]
    # One request a day: each run commits one page of 2,500 and stops, resumable.
    outcomes = []
    for _ in range(3):
        code = main([*args, "--daily-limit", "1"])
        outcomes.append((code, capsys.readouterr().out))
    assert [code for code, _ in outcomes] == [3, 3, 0]
    assert "inserted 2500" in outcomes[0][1] and "INCOMPLETE" in outcomes[0][1]
    # A resumed run starts at the cursor's second: the lead committed there is skipped,
    # not written twice, and no page is read again.
    assert "inserted 2499, updated 0, unchanged 0, requests 1" in outcomes[1][1]
    assert "inserted 1001, updated 0, unchanged 0, requests 1" in outcomes[2][1]


def test_repeated_demo_refreshes_show_only_new_edits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "demo.db")
    args = ["--demo", "--demo-leads", "800", "--db", db, "--quiet"]
    assert main(["mirror", "backfill", *args]) == 0
    capsys.readouterr()
    assert main(["mirror", "refresh", *args]) == 0
    first = capsys.readouterr().out
    assert "refresh: inserted 3, updated 3," in first
    for _ in range(2):
        assert main(["mirror", "refresh", *args]) == 0
        out = capsys.readouterr().out
        # The earlier runs' new leads and edits stay as they were: three new leads and the
        # three fresh edits, nothing reverted, no lead moved in time.
        assert "refresh: inserted 3, updated 3, unchanged" in out, out
        assert "date_created" not in out and "-> None" not in out, out
        assert "-> 'Pending'" not in out, out
    assert main(["mirror", "status", *args]) == 0
    assert "leads 809 " in capsys.readouterr().out
