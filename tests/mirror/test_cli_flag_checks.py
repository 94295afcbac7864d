"""More bad option values a hostile tester found: one line naming the flag, exit 2, no
request and no database file."""

from __future__ import annotations

from pathlib import Path

import pytest

from whatconverts_async.cli import main


def run(argv: list[str]) -> int | str | None:
    """``main``'s exit code, also when argparse exits (a value its type refuses)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


START = ["backfill", "--start-date", "2020-01-01"]
REDIS = ["--quota-redis", "redis://127.0.0.1:6400/0"]
BAD = [
    ([*START, "--end-date", "2999-01-01"], "--end-date"),
    (["run", "--poll-seconds", "0.5"], "--poll-seconds"),
    (["run", "--poll-seconds", "1e-9"], "--poll-seconds"),
    (["run", "--poll-seconds", "1e300"], "--poll-seconds"),
    # A flag without the flag it depends on: both named.
    (["run", "--webhook-host", "127.0.0.1"], "--webhook-host needs --webhook-port"),
    (["run", "--webhook-path", "/x"], "--webhook-path needs --webhook-port"),
    (["run", "--webhook-insecure"], "--webhook-insecure needs --webhook-port"),
    ([*START, "--quota-key-id", "abc"], "--quota-key-id needs --quota-redis"),
    ([*START, "--quota-fallback", "0.5"], "--quota-fallback needs --quota-redis"),
    # --webhook-path: a plain path.
    (["run", "--webhook-port", "8080", "--webhook-path", "/a b"], "--webhook-path"),
    (["run", "--webhook-port", "8080", "--webhook-path", "/a?b=1"], "--webhook-path"),
    (["run", "--webhook-port", "8080", "--webhook-path", "/%zz"], "--webhook-path"),
    (["run", "--webhook-port", "8080", "--webhook-path", "/%ff"], "--webhook-path"),
    (["run", "--webhook-port", "8080", "--webhook-path", "/" + "a" * 200], "--webhook-path"),
    ([*START, "--key-name", "a\x01b"], "--key-name"),
    ([*START, "--key-name", "a\nb"], "--key-name"),
    # Connection values: named by flag, one line.
    ([*START, "--timeout", "nan"], "--timeout"),
    ([*START, "--timeout", "inf"], "--timeout"),
    ([*START, "--timeout", "1e308"], "--timeout"),
    ([*START, "--max-retries", "1000000000"], "--max-retries"),
    ([*START, "--max-retries", "1.5"], "--max-retries"),
    ([*START, "--daily-limit", "nan"], "--daily-limit"),
    ([*START, "--daily-limit", "1e3"], "--daily-limit"),
    ([*START, "--daily-limit", str(10**30)], "--daily-limit"),
    (["refresh", "--daily-budget", "1.5"], "--daily-budget"),
    (["refresh", "--daily-budget", str(10**30)], "--daily-budget"),
    ([*START, "--quota-redis", "http://127.0.0.1:6400/0"], "--quota-redis"),
    ([*START, "--quota-redis", "redis://127.0.0.1:6400/notanumber"], "--quota-redis"),
    ([*START, "--quota-redis", ""], "--quota-redis"),
    ([*START, *REDIS, "--quota-key-id", ""], "--quota-key-id"),
    ([*START, *REDIS, "--quota-key-id", "a\nb"], "--quota-key-id"),
    ([*START, *REDIS, "--quota-key-id", "k" * 5000], "--quota-key-id"),
    ([*START, *REDIS, "--quota-fallback", "nan"], "--quota-fallback"),
    ([*START, "--base-url", ""], "--base-url"),
    (["refresh", "--tier", ":2:1"], "--tier"),
    (["refresh", "--tier", "hot:2:1", "--tier", "hot:3:2"], "--tier"),
    (["refresh", "--tier", "hot:100000:1"], "--tier"),
    (["refresh", "--demo-leads", "5000000"], "--demo-leads"),
]


@pytest.mark.parametrize(("args", "option"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    db = tmp_path / "leads.db"
    demo = ["--demo"] if "--demo-leads" in args else ["--demo", "--demo-leads", "10"]
    assert run(["mirror", *args, *demo, "--db", str(db), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("whatconverts: error: ") and option in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([*START, "--base-url", "ftp://127.0.0.1/"], "--base-url"),
        ([*START, "--base-url", "http://u:pw-in-url@127.0.0.1:1/"], "--base-url"),
        (["refresh", "--demo-leads", "5"], "--demo-leads needs --demo"),
    ],
)
def test_client_values_are_named_by_their_flag(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    option: str,
) -> None:
    # Real-key mode (no --demo): the client's own checks speak in flags too.
    monkeypatch.setenv("WHATCONVERTS_API_TOKEN", "tok-value")
    monkeypatch.setenv("WHATCONVERTS_API_SECRET", "sec-value")
    monkeypatch.setenv("WHATCONVERTS_STATE_DIR", str(tmp_path / "state"))
    db = tmp_path / "leads.db"
    assert run(["mirror", *args, "--db", str(db), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("whatconverts: error: ") and option in captured.err
    assert captured.err.count("\n") == 1 and "base_url" not in captured.err
    assert "pw-in-url" not in captured.err
