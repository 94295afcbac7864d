"""What ``whatconverts mirror`` tells a user: bad databases, interrupts, warnings, help."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whatconverts_async.cli import main


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "whatconverts_async", *args]


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHATCONVERTS_API_TOKEN", raising=False)
    monkeypatch.delenv("WHATCONVERTS_API_SECRET", raising=False)
    monkeypatch.delenv("WHATCONVERTS_MIRROR_DB", raising=False)


def _clean(err: str) -> None:
    assert "Traceback" not in err and "Exception in thread" not in err, err
    assert "[SQL" not in err and "sqlalche.me" not in err, err


@pytest.mark.parametrize("action", ["backfill", "status"])
def test_bad_db_paths_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    demo = ["--demo", "--demo-leads", "10", "--quiet"]
    missing_dir = tmp_path / "no" / "such" / "leads.db"
    assert main(["mirror", action, *demo, "--db", str(missing_dir)]) == 2
    err = capsys.readouterr().err
    _clean(err)
    assert str(missing_dir) in err and err.count("\n") == 1
    assert main(["mirror", action, *demo, "--db", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    _clean(err)
    assert f"{tmp_path} is a directory" in err
    assert not missing_dir.parent.exists()


def test_sync_driver_and_unreachable_postgres_without_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = ["--demo", "--demo-leads", "10", "--quiet"]
    url = f"sqlite+pysqlite:///{tmp_path}/x.db"
    assert main(["mirror", "backfill", *demo, "--db", url]) == 2
    err = capsys.readouterr().err
    _clean(err)
    assert "synchronous" in err and "sqlite:///" in err
    pytest.importorskip("asyncpg")
    # Port 9 on loopback: nothing listens there.
    url = "postgresql://mirror:s3cr3t-pw@127.0.0.1:9/crm"
    # A server that refuses is not a usage error (2) but a failure (1).
    assert main(["mirror", "backfill", *demo, "--db", url]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert "s3cr3t-pw" not in err and "mirror:***@127.0.0.1:9/crm" in err
    assert err.count("\n") == 1


def test_status_needs_no_credentials_and_an_existing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: None
) -> None:
    db = tmp_path / "leads.db"
    assert main(["mirror", "backfill", "--demo", "--demo-leads", "50", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["mirror", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "leads 50 " in out and "budget left" not in out
    typo = tmp_path / "leads"
    assert main(["mirror", "status", "--db", str(typo)]) == 2
    err = capsys.readouterr().err
    assert f"--db {typo}: no such database" in err
    assert not typo.exists()
    # A master-key filter with a profile key is refused, as for a backfill.
    assert main(["mirror", "status", "--db", str(db), "--profile-id", "5"]) == 2
    assert "--profile-id filters by account or profile only with a master" in (
        capsys.readouterr().err
    )


def test_status_on_a_read_only_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "leads.db"
    assert main(["mirror", "backfill", "--demo", "--demo-leads", "50", "--db", str(db)]) == 0
    capsys.readouterr()
    db.chmod(0o444)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("running as a user that writes read-only files (root)")
        code = main(["mirror", "status", "--demo", "--db", str(db)])
        captured = capsys.readouterr()
        _clean(captured.err)
        assert code == 0, captured.err
        assert "leads 50 " in captured.out
    finally:
        db.chmod(0o644)


def test_interrupted_backfill_in_status_and_refresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "q.db")
    base = ["--demo", "--demo-leads", "6000", "--db", db, "--quiet"]
    assert main(["mirror", "backfill", *base, "--daily-limit", "1"]) == 3
    capsys.readouterr()
    assert main(["mirror", "status", *base]) == 0
    out = capsys.readouterr().out
    assert "scan backfill: interrupted (run backfill again to continue)" in out
    assert "running" not in out
    main(["mirror", "refresh", *base])
    err = capsys.readouterr().err
    assert "warning: the backfill from" in err and "is incomplete" in err
    assert "run `whatconverts mirror backfill` again" in err


def test_messages_for_dates_tiers_and_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "m.db")
    base = ["--demo", "--demo-leads", "100", "--db", db, "--quiet"]
    assert main(["mirror", "backfill", *base, "--start-date", "2030-01-01"]) == 2
    err = capsys.readouterr().err
    assert "start_date is in the future" in err and "end_date" not in err
    assert main(["mirror", "status", *base, "--tier", "hot:2:0"]) == 2
    err = capsys.readouterr().err
    assert "HOURS must be at least 1/60 (one minute)" in err and "timedelta" not in err
    assert main(["mirror", "backfill", *base]) == 0
    capsys.readouterr()
    assert main(["mirror", "status", *base, "--daily-budget", "0"]) == 0
    err = capsys.readouterr().err
    assert "too small for the tier(s) hot, warm, cold: dropped" in err
    assert main(["mirror", "status", *base, "--daily-budget", "30"]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err


def test_mirror_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["mirror", "backfill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "2019-2025" not in text and "200,000" not in text
    assert "default 20,000, over the 365 days before the first demo run" in text
    with pytest.raises(SystemExit):
        main(["mirror", "run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default 127.0.0.1" in text and "0.0.0.0 listens publicly" in text


def test_ctrl_c_in_mirror_run_says_run_again(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    args = _cli("mirror", "run", "--demo", "--demo-leads", "100", "--db", db, "--quiet")
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            lines.append(line)
            if line.startswith("refresh:"):
                break
        assert any(line.startswith("next refresh: now (") for line in lines), lines
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130
    assert "run the same mirror command again to continue" in err
    assert "--resume" not in err
    _clean(err)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    db = str(tmp_path / "p.db")
    subprocess.run(
        _cli("mirror", "backfill", "--demo", "--demo-leads", "100", "--db", db, "--quiet"),
        check=True,
        capture_output=True,
    )
    read, write = os.pipe()
    os.close(read)  # like `| head` that has already quit
    try:
        done = subprocess.run(
            _cli("mirror", "status", "--demo", "--db", db),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141  # as a filter killed by SIGPIPE, like every command


def test_a_password_in_the_query_string_is_masked() -> None:
    from sqlalchemy.engine import make_url

    from whatconverts_async.mirror.core import shown_url

    url = make_url("postgresql+asyncpg://u:pw1@db/crm?password=pgS3cretPW&sslmode=require")
    text = shown_url(url)
    assert "pgS3cretPW" not in text and "pw1" not in text
    assert "sslmode=require" in text


def test_a_long_change_list_says_how_many_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: None
) -> None:
    db = str(tmp_path / "fresh.db")
    code = main(["mirror", "refresh", "--demo", "--demo-leads", "5000", "--quiet", "--db", db])
    out = capsys.readouterr().out
    assert code == 0, out
    listed = [line for line in out.splitlines() if line.startswith("  lead ")]
    assert len(listed) == 50
    more = [line for line in out.splitlines() if line.startswith("  ... and ")]
    assert len(more) == 1 and more[0].endswith(" more"), out


def test_a_psycopg_url_without_psycopg_points_at_the_asyncpg_url(
    capsys: pytest.CaptureFixture[str], no_credentials: None
) -> None:
    pytest.importorskip("asyncpg")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("psycopg is installed here")
    assert main(["mirror", "status", "--db", "postgresql+psycopg://u@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert "psycopg is not installed" in err and "use a postgresql:// URL" in err, err
    assert "pip install" not in err
