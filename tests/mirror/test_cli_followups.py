"""What a new user met: a public webhook port without a secret, a refresh with no
backfill, demo budget numbers, and a status full of bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pytest

from whatconverts_async.cli import main
from whatconverts_async.mirror.cli import _loopback


def test_a_public_webhook_listener_needs_a_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WHATCONVERTS_WEBHOOK_SECRET", raising=False)
    db = tmp_path / "w.db"
    args = ["mirror", "run", "--demo", "--db", str(db), "--webhook-port", "8792"]
    assert main([*args, "--webhook-host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "WHATCONVERTS_WEBHOOK_SECRET" in err and "--webhook-insecure" in err
    assert not db.exists()  # refused before anything was opened
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost")
    assert _loopback("[::1]") and _loopback("127.0.0.2")
    assert not _loopback("0.0.0.0") and not _loopback("::") and not _loopback("10.0.0.5")
    assert not _loopback("example.com")


def test_refresh_without_backfill_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    db = str(tmp_path / "r.db")
    base = ["--demo", "--demo-leads", "200", "--db", db, "--quiet"]
    assert main(["mirror", "refresh", *base]) == 0
    captured = capsys.readouterr()
    assert "NOTE: no backfill covers the past" in captured.out
    assert "whatconverts mirror backfill" in captured.out
    assert "no backfill covers the past" in caplog.text  # a logged warning too
    # The demo's budget numbers say whose budget they are.
    assert "budget left" in captured.out and "this run's simulator" in captured.out
    # Once covered, the note is gone.
    assert main(["mirror", "refresh", *base]) == 0
    assert "no backfill" not in capsys.readouterr().out


def test_status_reads_like_a_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    base = ["--demo", "--demo-leads", "300", "--db", db, "--quiet"]
    assert main(["mirror", "backfill", *base]) == 0
    assert main(["mirror", "refresh", *base]) == 0
    capsys.readouterr()
    assert main(["mirror", "status", *base]) == 0
    out = capsys.readouterr().out
    assert "tier:" not in out and "scan covered" not in out
    assert "0 leads, 0 requests" not in out
    assert "covered: leads created" in out
    assert "hot: last 2 days, re-read every hour: reads " in out
    assert "(as many as fit in one request)" in out and "(last done " in out
    assert "this run's simulator" in out


def test_daily_budget_help_says_which_tiers_go(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["mirror", "refresh", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "narrowest" in text and "lowest tiers" not in text
