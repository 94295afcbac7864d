"""Bad input files and paths for ``merge`` and ``export``: one clear line, exit 2, no request."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from whatconverts_async.errors import ExportError
from whatconverts_async.export import jsonl_to_csv
from whatconverts_async.testing import FakeWhatConverts

from ._support import run_cli


def plain_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATCONVERTS_")}
    return {**env, "WHATCONVERTS_STATE_DIR": str(tmp_path / "state")}


def fake_env(fake: FakeWhatConverts, tmp_path: Path) -> dict[str, str]:
    return {
        **plain_env(tmp_path),
        "WHATCONVERTS_API_TOKEN": fake.token,
        "WHATCONVERTS_API_SECRET": fake.secret,
        "WHATCONVERTS_BASE_URL": fake.url,
    }


def one_clean_line(err: str) -> str:
    """The error line of ``err``; fails if there is more than one line or a traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Error:" not in err.split("error:", 1)[-1], err
    return lines[0]


GOOD = b'{"lead_id": 1, "date_created": "2025-01-01T00:00:00Z"}\n'


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        (GOOD + b"not json\n", 2, "not valid JSON"),
        (GOOD + b"[1]\n", 2, "a JSON list, not a lead object"),
        (b'{"lead_id": NaN, "date_created": "2025-01-01T00:00:00Z"}\n', 1, "NaN is not JSON"),
        (GOOD + b"\n" + b'{"lead_id": 1.5}\n', 3, "its lead id is 1.5, not an integer"),
        (GOOD + b'{"date_created": "2025-01-02T00:00:00Z"}\n', 2, "its lead id is null"),
        (GOOD + b'{"lead_id": true}\n', 2, "its lead id is true"),
        (GOOD + b'{"lead_id": "\xff"}\n', 2, "not valid JSON"),
    ],
)
async def test_merge_names_the_file_and_line_of_a_bad_record(
    tmp_path: Path, body: bytes, line: int, problem: str
) -> None:
    part = tmp_path / "g.jsonl"
    part.write_bytes(body)
    out = tmp_path / "out.jsonl"
    code, _, err = await run_cli(
        "merge", "--out", str(out), str(part), "--allow-partial", env=plain_env(tmp_path)
    )
    assert code == 2, err
    message = one_clean_line(err)
    assert f"{part} line {line}: " in message and problem in message
    assert not out.exists() and not list(tmp_path.glob("out.jsonl.*"))


async def test_merge_accepts_digit_string_ids_as_before(tmp_path: Path) -> None:
    part = tmp_path / "g.jsonl"
    part.write_bytes(GOOD + b'{"lead_id": "7", "date_created": "2025-01-02T00:00:00Z"}\n')
    out = tmp_path / "out.jsonl"
    code, _, err = await run_cli(
        "merge", "--out", str(out), str(part), "--allow-partial", env=plain_env(tmp_path)
    )
    assert code == 0, err
    assert out.read_bytes() == part.read_bytes()


@pytest.mark.parametrize("allow_partial", [False, True])
@pytest.mark.parametrize(("kind", "problem"), [("missing", "not a file"), ("dir", "directory")])
async def test_merge_of_a_missing_file_or_a_folder_says_so(
    tmp_path: Path, kind: str, problem: str, allow_partial: bool
) -> None:
    part = tmp_path / "nothere.jsonl"
    if kind == "dir":
        part.mkdir()
    extra = ["--allow-partial"] if allow_partial else []
    code, _, err = await run_cli(
        "merge", "--out", str(tmp_path / "o.jsonl"), str(part), *extra, env=plain_env(tmp_path)
    )
    assert code == 2, err
    message = one_clean_line(err)
    assert str(part) in message and problem in message and "which shard" not in message


@pytest.mark.parametrize("command", ["merge", "export"])
async def test_an_empty_out_is_refused_naming_out(tmp_path: Path, command: str) -> None:
    part = tmp_path / "g.jsonl"
    part.write_bytes(GOOD)
    args = (
        ["merge", str(part), "--allow-partial"]
        if command == "merge"
        else ["export", "leads", "--demo", "--demo-leads", "20", "--start-date", "2025-01-01"]
    )
    code, _, err = await run_cli(*args, "--out", "", env=plain_env(tmp_path))
    assert code == 2, err
    assert "argument --out: must be the path of a file" in err and "--out ." not in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
async def test_an_unwritable_out_folder_is_refused_before_any_request(tmp_path: Path) -> None:
    async with FakeWhatConverts(leads=50, seed=1) as fake:
        code, _, err = await run_cli(
            "export",
            "leads",
            "--start-date",
            "2024-01-01",
            "--out",
            "/proc/nope.jsonl",
            env=fake_env(fake, tmp_path),
        )
        assert code == 2, err
        message = one_clean_line(err)
        assert "--out /proc/nope.jsonl: cannot create a file in the folder /proc" in message
        assert fake.request_count == 0
    part = tmp_path / "g.jsonl"
    part.write_bytes(GOOD)
    code, _, err = await run_cli(
        "merge", str(part), "--allow-partial", "--out", "/proc/nope.jsonl", env=plain_env(tmp_path)
    )
    assert code == 2 and "cannot create a file in the folder /proc" in one_clean_line(err)


async def test_resume_of_an_output_damaged_in_its_checkpointed_part(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    async with FakeWhatConverts(leads=3000, seed=2) as fake:
        env = fake_env(fake, tmp_path)
        base = ["export", "leads", "--start-date", "2024-01-01", "--end-date", "2024-12-31"]
        base += ["--out", str(out), "--per-page", "100", "--quiet"]
        # Three pages of the first window, then the budget stops it mid-window.
        code, _, err = await run_cli(*base, "--daily-limit", "3", env=env)
        assert code == 3, err
        checkpoint = json.loads(out.with_name("p.jsonl.checkpoint").read_text())
        assert checkpoint["offset"] > checkpoint["window_offset"]
        data = out.read_bytes()
        lines = data.splitlines(keepends=True)
        assert len(lines) == 300
        # Break the key quote of line 150 (in the part the checkpoint vouches for).
        at = sum(len(x) for x in lines[:149]) + 1
        out.write_bytes(data[:at] + b"#" + data[at + 1 :])
        sent = fake.request_count
        code, _, err = await run_cli(*base, "--daily-limit", "100", "--resume", env=env)
        assert code == 2, err
        message = err.strip().splitlines()[-1]
        assert f"{out} line 150: not valid JSON" in message and "--force" in message
        assert "Traceback" not in err and "JSONDecodeError" not in err
        assert fake.request_count == sent
        code, _, err = await run_cli(*base, "--daily-limit", "100", "--force", env=env)
        assert code == 0, err


def test_the_csv_pass_names_the_file_and_line_of_a_damaged_record(tmp_path: Path) -> None:
    source = tmp_path / "o.csv.partial"
    source.write_bytes(GOOD + GOOD.replace(b'"lead_id"', b'#lead_id"') + GOOD)
    with pytest.raises(ExportError) as info:
        jsonl_to_csv(source, tmp_path / "o.csv")
    assert str(info.value).startswith(f"{source} line 2: not valid JSON (")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not (tmp_path / "o.csv").exists()
