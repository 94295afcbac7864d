"""More bad option values a hostile tester found: one line naming the flag, exit 2, no
request and no database file."""

from __future__ import annotations

from pathlib import Path

import pytest

from whatconverts_async.cli import main

BAD = [
    (["backfill", "--start-date", "2020-01-01", "--end-date", "2999-01-01"], "--end-date"),
]


@pytest.mark.parametrize(("args", "option"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    db = tmp_path / "leads.db"
    assert main(["mirror", *args, "--demo", "--demo-leads", "10", "--db", str(db), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("whatconverts: error: ") and option in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""
    assert not db.exists()
