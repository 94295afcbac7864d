"""The export's files without any network: checkpoint, completion record, data file, CSV, merge."""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import pytest

import whatconverts_async
from whatconverts_async.export import (
    CSV_FIELDS,
    Checkpoint,
    CheckpointError,
    Completion,
    ExportError,
    jsonl_to_csv,
    merge_jsonl,
    read_jsonl_ids,
)
from whatconverts_async.export.checkpoint import completion_path, lock_path
from whatconverts_async.export.sinks import DataFile

PACKAGE = Path(whatconverts_async.__file__).parent


def _checkpoint(**changes: object) -> Checkpoint:
    fields: dict[str, object] = {
        "format": "jsonl",
        "query": {"start_date": "2020-01-01T00:00:00Z", "end_date": "2021-01-01T00:00:00Z"},
        "windows_total": 2,
        **changes,
    }
    return Checkpoint(**fields)  # type: ignore[arg-type]


def test_checkpoint_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl.checkpoint"
    saved = _checkpoint(window=1, next_page=3, window_total=700, offset=90, window_offset=40)
    saved.save(path)
    assert Checkpoint.load(path) == saved
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert not saved.complete and _checkpoint(window=2).complete


@pytest.mark.parametrize(
    "damage",
    [
        lambda body: body[: len(body) // 2],
        lambda body: b"\x00\xff garbage",
        lambda body: b"",
        lambda body: b"[]",
        lambda body: body.replace(b'"window": 1', b'"window": 2'),  # checksum no longer fits
    ],
)
def test_a_damaged_checkpoint_is_refused_with_the_way_out(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "c"
    _checkpoint(window=1).save(path)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=r"unreadable.*--force"):
        Checkpoint.load(path)


def test_an_inconsistent_checkpoint_with_a_valid_checksum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c"
    _checkpoint(window_offset=10, offset=5).save(path)
    with pytest.raises(CheckpointError, match="inconsistent"):
        Checkpoint.load(path)
    _checkpoint(version=1).save(path)
    with pytest.raises(CheckpointError, match="version"):
        Checkpoint.load(path)


def test_completion_record_recognises_only_the_unchanged_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHATCONVERTS_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "leads.jsonl"
    out.write_bytes(b'{"lead_id": 1}\n')
    record = Completion.of(out, _checkpoint(window=2, leads_written=1))
    path = completion_path(out)
    record.save(path)
    assert path.parent == tmp_path / "state" / "exports"
    assert lock_path(out).parent == path.parent and lock_path(out) != path
    loaded = Completion.load(path)
    assert loaded == record and loaded.matches(out)
    # another spelling of the same path names the same record
    assert completion_path(tmp_path / "." / "leads.jsonl") == path
    with out.open("ab") as handle:
        handle.write(b'{"lead_id": 2}\n')
    assert not loaded.matches(out)
    out.unlink()
    assert not loaded.matches(out)
    path.write_bytes(path.read_bytes()[:-3])
    assert Completion.load(path) is None
    assert Completion.load(tmp_path / "none") is None


def test_data_file_cuts_uncommitted_bytes_and_appends_durably(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"lead_id": 1}\n{"lead_id": 2}\n{"lead_id": 3, "torn')
    committed = len(b'{"lead_id": 1}\n{"lead_id": 2}\n')
    data = DataFile(path)
    data.open(committed)
    try:
        end = data.append(b'{"lead_id": 4}\n')
        assert end == path.stat().st_size
        assert data.append(b"") == end
    finally:
        data.close()
    assert read_jsonl_ids(path) == [1, 2, 4]
    assert data.read_span(len(b'{"lead_id": 1}\n'), end).ids == {2, 4}
    with pytest.raises(CheckpointError, match="shorter than the checkpoint"):
        DataFile(path).open(end + 1)


def test_csv_header_known_then_custom_then_unknown(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    rows = [
        {"lead_id": 2, "additional_fields": {"Zeta": "z", "Budget": "5,000"}, "zz": [1]},
        {"lead_id": 1, "spam": False, "aa": {"k": "v"}},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    target = tmp_path / "t.csv"
    assert jsonl_to_csv(source, target) == 2
    with target.open(newline="") as handle:
        header, *body = list(csv.reader(handle))
    assert header == [*CSV_FIELDS, "additional_fields.Budget", "additional_fields.Zeta", "aa", "zz"]
    first = dict(zip(header, body[0], strict=True))
    second = dict(zip(header, body[1], strict=True))
    assert first["additional_fields.Budget"] == "5,000" and first["zz"] == "[1]"
    assert second["spam"] == "false" and second["aa"] == '{"k": "v"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl", "t.csv"]


def test_merge_orders_by_date_and_refuses_a_lead_twice(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"lead_id": 1, "date_created": "2020-01-01"}\n')
    b.write_text('{"lead_id": 2, "date_created": "2019-01-01"}\n')
    assert merge_jsonl([a, b], tmp_path / "m.jsonl") == 2
    assert read_jsonl_ids(tmp_path / "m.jsonl") == [2, 1]
    with pytest.raises(ExportError, match=r"already exists.*--force"):
        merge_jsonl([a, b], tmp_path / "m.jsonl")
    with pytest.raises(ExportError, match="more than one input"):
        merge_jsonl([a, a], tmp_path / "n.jsonl")


def _private_uses(path: Path) -> list[str]:
    """Underscore names of other modules that ``path`` imports or reaches into."""
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            found += [f"module {node.module}" for p in parts if p.startswith("_") and p[1] != "_"]
            found += [
                f"name {a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if "._" in a.name or a.name.startswith("_")]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(f"attribute .{node.attr} (line {node.lineno})")
    return found


@pytest.mark.parametrize(
    "module",
    ["cli.py", *(f"export/{p.name}" for p in sorted((PACKAGE / "export").glob("*.py")))],
)
def test_export_and_cli_use_no_private_name_of_another_module(module: str) -> None:
    assert _private_uses(PACKAGE / module) == []


def test_state_folder_follows_the_environment_then_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from whatconverts_async.budget import default_state_dir

    monkeypatch.setenv("WHATCONVERTS_STATE_DIR", str(tmp_path / "mine"))
    assert default_state_dir() == tmp_path / "mine"
    monkeypatch.delenv("WHATCONVERTS_STATE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if sys.platform.startswith("linux"):  # unchanged from before platformdirs on Linux
        assert default_state_dir() == tmp_path / "cache" / "whatconverts-async"
    assert default_state_dir().name in ("whatconverts-async", "Cache")
