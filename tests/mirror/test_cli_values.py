"""Bad option values: one line naming the option, exit 2, no request and no database."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from whatconverts_async.cli import main

BAD = [
    (["backfill", "--start-date", "2020-13-01"], "--start-date"),
    (["backfill", "--start-date", "yesterday"], "--start-date"),
    (["backfill", "--start-date", "2020-01-01", "--end-date", "2020-02-30"], "--end-date"),
    (["backfill", "--start-date", "2020-02-01", "--end-date", "2020-01-01"], "--end-date"),
    (["backfill", "--start-date", "2999-01-01"], "--start-date"),
    (["backfill", "--start-date", "1900-01-01"], "--start-date"),
    (["refresh", "--tier", "hot:2:nan"], "--tier"),
    (["refresh", "--tier", "hot:2:inf"], "--tier"),
    (["refresh", "--tier", "hot:2:-1"], "--tier"),
    (["refresh", "--tier", "hot:2:1e300"], "--tier"),
    (["refresh", "--tier", "hot:two:1"], "--tier"),
    (["refresh", "--tier", "hot:0:1"], "tier days"),
    (["status", "--tier", "hot:2:0"], "--tier"),
    (["refresh", "--daily-budget", "-1"], "--daily-budget"),
    (["refresh", "--daily-limit", "-1"], "--daily-limit"),
    (["run", "--poll-seconds", "0"], "--poll-seconds"),
    (["run", "--poll-seconds", "-5"], "--poll-seconds"),
    (["run", "--poll-seconds", "nan"], "--poll-seconds"),
    (["run", "--poll-seconds", "inf"], "--poll-seconds"),
    (["run", "--webhook-port", "0"], "--webhook-port"),
    (["run", "--webhook-port", "65536"], "--webhook-port"),
    (["run", "--webhook-port", "-1"], "--webhook-port"),
    (["run", "--webhook-port", "8080", "--webhook-path", "hooks"], "--webhook-path"),
    (["refresh", "--account-id", "0", "--key-type", "master"], "--account-id"),
    (["refresh", "--profile-id", str(2**63), "--key-type", "master"], "--profile-id"),
    (["refresh", "--key-name", " "], "--key-name"),
    (["refresh", "--demo-leads", "-1"], "--demo-leads"),
]


@pytest.mark.parametrize(("args", "option"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_are_usage_errors_before_anything_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    db = tmp_path / "leads.db"
    demo = "--demo-leads" not in args
    extra = ["--demo", "--demo-leads", "10"] if demo else ["--demo"]
    assert main(["mirror", *args, *extra, "--db", str(db), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert option in captured.err and captured.err.startswith("whatconverts: error: ")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""  # no demo history written or shown either
    assert not db.exists()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.mark.parametrize(
    "args",
    [
        ["backfill", "--start-date", "2020-02-31"],
        ["refresh", "--tier", "hot:2:inf"],
        ["run", "--poll-seconds", "nan"],
        ["run", "--webhook-port", "99999"],
    ],
)
def test_no_request_is_sent_for_a_bad_value(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    listener: socket.socket,
    args: list[str],
) -> None:
    monkeypatch.setenv("WHATCONVERTS_API_TOKEN", "token")
    monkeypatch.setenv("WHATCONVERTS_API_SECRET", "secret")
    monkeypatch.setenv("WHATCONVERTS_STATE_DIR", str(tmp_path / "state"))
    port = listener.getsockname()[1]
    db = tmp_path / "leads.db"
    base = f"http://127.0.0.1:{port}/api/v1/"
    code = main(["mirror", *args, "--db", str(db), "--base-url", base, "--quiet"])
    assert code == 2, capsys.readouterr().err
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    assert not db.exists()
