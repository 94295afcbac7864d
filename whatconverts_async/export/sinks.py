"""Where exported leads go: the JSONL data file, the CSV made from it, and merging shards.

Every export writes JSONL first (one wire record per line, unknown fields included); a
CSV is made from the finished JSONL in one streaming pass. The files read back here are
the export's own output, written by :func:`encode_lead`, so the standard ``json`` module
reads them exactly (big integers included).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import json
import os
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal

import attrs

from ..convert import wire_bytes, wire_object
from ..errors import CheckpointError, ExportError
from ..models import Lead
from .checkpoint import fsync_dir

__all__ = [
    "CSV_FIELDS",
    "DataFile",
    "Span",
    "encode_lead",
    "jsonl_to_csv",
    "merge_jsonl",
    "read_jsonl",
    "read_jsonl_ids",
]

Format = Literal["jsonl", "csv"]

CSV_FIELDS: tuple[str, ...] = tuple(
    field.name
    for field in attrs.fields(Lead)
    if field.name not in ("extra", "absent_keys", "wire_originals", "additional_fields")
)
"""Known lead fields in a fixed order: the CSV header starts with these."""


def _encode_json(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


try:  # orjson writes the same compact UTF-8 JSON several times faster, when installed.
    import orjson

    def _encode_record(record: dict[str, Any]) -> bytes:
        try:
            return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # e.g. an integer beyond 64 bits in an unknown field
            return _encode_json(record)

except ImportError:  # pragma: no cover - depends on the environment
    _encode_record = _encode_json


def encode_lead(lead: Lead) -> bytes:
    """One JSONL line (newline included): the lead's wire record, ``lead.to_dict()``.

    A lead read from the API is written from the wire object it keeps, without the copy
    ``to_dict()`` would make (the same content, in the wire's key order). A lead read from
    its page's bytes (the ``[fast]`` extra) and not decoded since is written as those
    bytes, exactly as the API sent the lead (escapes and number spellings included; the
    same content as re-encoding it), unless they span lines."""
    raw = wire_bytes(lead)
    if raw is not None and b"\n" not in raw and b"\r" not in raw:
        return raw + b"\n"
    wire = wire_object(lead)
    return _encode_record(lead.to_dict() if wire is None else wire)


_CHUNK = 1 << 20


@attrs.define
class Span:
    """What a byte range of the data file holds: its line count and running SHA-256
    (a ``hashlib`` object, so more bytes can be added), and, when its lines were read,
    their lead ids and the ids of the leads without a ``date_created``, in file order."""

    lines: int
    hasher: Any
    ids: set[Hashable] = attrs.field(factory=set)
    undated: list[Hashable] = attrs.field(factory=list)

    @property
    def sha256(self) -> str:
        """The hex digest of the bytes so far."""
        digest: str = self.hasher.hexdigest()
        return digest


class DataFile:
    """The JSONL file an export appends to, page by page, durably.

    ``open(offset)`` drops anything after ``offset`` (bytes written after the last
    checkpoint were never committed); :meth:`append` writes and fsyncs one page.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: BinaryIO | None = None

    def open(self, offset: int) -> None:
        """Open for appending at ``offset``, cutting off whatever follows it."""
        self.path.touch(exist_ok=True)
        if self.path.stat().st_size < offset:
            raise CheckpointError(
                f"{self.path} is shorter than the checkpoint records; it was changed outside "
                "the export. Start over with force=True (--force)"
            )
        handle = self.path.open("r+b")
        handle.truncate(offset)
        handle.seek(offset)
        self._handle = handle

    def append(self, data: bytes) -> int:
        """Write ``data``, flush and fsync it; returns the file's new length."""
        assert self._handle is not None, "open() first"
        if data:
            self._handle.write(data)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def size(self) -> int:
        """The file's length in bytes now (0 if it does not exist)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def digest(self, start: int, stop: int) -> Span:
        """Line count and SHA-256 of the bytes ``[start, stop)``, without parsing them."""
        hasher = hashlib.sha256()
        lines = 0
        with self.path.open("rb") as handle:
            handle.seek(start)
            remaining = stop - start
            while remaining > 0:
                chunk = handle.read(min(remaining, _CHUNK))
                if not chunk:
                    break
                hasher.update(chunk)
                lines += chunk.count(b"\n")
                remaining -= len(chunk)
        return Span(lines, hasher)

    def read_span(self, start: int, stop: int) -> Span:
        """:meth:`digest` of ``[start, stop)`` plus the lead ids of its lines.

        Raises :class:`CheckpointError` naming the line if one is not a lead record the
        export could have written.
        """
        span = Span(0, hashlib.sha256())
        with self.path.open("rb") as handle:
            handle.seek(start)
            remaining = stop - start
            for index, line in enumerate(handle):
                if remaining <= 0:
                    break
                line = line[:remaining]
                remaining -= len(line)
                span.hasher.update(line)
                span.lines += line.count(b"\n")
                if not line.strip():
                    continue
                try:
                    record = _lead_record(line)
                except ValueError as exc:
                    raise CheckpointError(
                        f"{self.path} line {_line_number(self.path, start) + index}: "
                        f"{exc}; the output was changed after its checkpoint. Start "
                        "over with force=True (--force)"
                    ) from None
                span.ids.add(record["lead_id"])
                if record.get("date_created") in (None, ""):
                    span.undated.append(record["lead_id"])
        return span

    def first_bad_line(self, start: int, stop: int) -> str | None:
        """``"<path> line N: <problem>"`` for the first line in ``[start, stop)`` that is
        not a lead record, else None (for messages about a damaged file)."""
        try:
            self.read_span(start, stop)
        except CheckpointError as exc:
            return str(exc).split("; the output was changed", 1)[0]
        return None

    def check_tail(self, offset: int) -> None:
        """Raise :class:`CheckpointError` unless the bytes after ``offset`` (the last
        committed page) can be what a crash left of the next page: whole lead lines,
        then at most one line cut short. Those bytes are dropped on resume; anything else
        there was not written by the export and is not dropped silently."""
        with self.path.open("rb") as handle:
            handle.seek(offset)
            tail = handle.read()
        if not tail:
            return
        *whole, torn = tail.split(b"\n")
        problem = None
        for index, line in enumerate(whole):
            try:
                _lead_record(line)
            except ValueError as exc:
                problem = (index, str(exc))
                break
        else:
            if torn and not torn.startswith(b"{"):
                problem = (len(whole), "not the start of a lead record")
        if problem is not None:
            number = _line_number(self.path, offset) + problem[0]
            raise CheckpointError(
                f"{self.path} line {number}: {problem[1]}; {len(tail)} bytes follow the last "
                "page the checkpoint records and they are not what an interrupted export "
                "leaves there, so the file was changed outside the export. Remove those "
                "bytes to resume, or start over with force=True (--force)"
            )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _lead_record(line: bytes) -> dict[str, Any]:
    """One exported line as a record with a lead id; ValueError saying what is wrong."""
    try:
        record = json.loads(line, parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not a lead object")
    lead_id = record.get("lead_id")
    # The export writes the API's integer; a digit string is accepted as the same id.
    digits = isinstance(lead_id, str) and lead_id.isascii() and lead_id.isdigit()
    if not digits and (isinstance(lead_id, bool) or not isinstance(lead_id, int)):
        raise ValueError(f"its lead id is {json.dumps(lead_id)[:40]}, not an integer")
    return record


def _line_number(path: Path, offset: int) -> int:
    """The 1-based number of the line starting at byte ``offset`` (only for messages)."""
    count = 1
    with path.open("rb") as handle:
        while offset > 0:
            chunk = handle.read(min(offset, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of a JSONL file, one at a time (blank lines and non-objects skipped).

    Raises :class:`ExportError` naming the file and line for a line that is not JSON.
    """
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise ExportError(
                        f"{path} line {number}: not valid JSON ({exc}); the file was changed "
                        "after it was written"
                    ) from None
                if isinstance(record, dict):
                    yield record


def read_jsonl_ids(path: str | os.PathLike[str]) -> list[int]:
    """The lead ids of an exported JSONL file, in file order (handy for checks)."""
    return [int(record["lead_id"]) for record in read_jsonl(path)]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _csv_header(source: Path) -> tuple[list[str], list[str]]:
    """(custom field names, unknown field names), both sorted, over every record."""
    known = set(CSV_FIELDS) | {"additional_fields"}
    custom: set[str] = set()
    unknown: set[str] = set()
    for record in read_jsonl(source):
        extra_fields = record.get("additional_fields")
        if isinstance(extra_fields, dict):
            custom.update(str(k) for k in extra_fields)
        unknown.update(k for k in record if k not in known)
    return sorted(custom), sorted(unknown)


def jsonl_to_csv(source: Path | str, target: Path | str) -> int:
    """Write the leads of a JSONL file as CSV (two streaming passes); returns rows written.

    Header: the known lead fields in a fixed order (:data:`CSV_FIELDS`), then
    ``additional_fields.<name>`` for every custom field seen (sorted), then any unknown
    fields (sorted). Maps such as ``lead_analysis`` are JSON text in their cell. The
    file is written beside ``target`` and renamed into place when complete.
    """
    source, target = Path(source), Path(target)
    custom, unknown = _csv_header(source)
    temp = target.with_name(target.name + ".tmp")
    rows = 0
    with temp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CSV_FIELDS, *(f"additional_fields.{name}" for name in custom), *unknown])
        for record in read_jsonl(source):
            extra_fields = record.get("additional_fields")
            fields = extra_fields if isinstance(extra_fields, dict) else {}
            row = [_csv_cell(record.get(name)) for name in CSV_FIELDS]
            row += [_csv_cell(fields.get(name)) for name in custom]
            row += [_csv_cell(record.get(name)) for name in unknown]
            writer.writerow(row)
            rows += 1
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
    fsync_dir(target.parent)
    return rows


def merge_jsonl(
    parts: Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str],
    *,
    order: Literal["asc", "desc"] = "asc",
    format: Format = "jsonl",
    force: bool = False,
) -> int:
    """Merge JSONL exports (e.g. the shards of a sharded backfill) into one file.

    Each part is read in a stream; the output is ordered by ``date_created`` (then
    ``lead_id``) like a single export with the same ``order``, written to a temporary
    file and renamed into place. A lead id found twice raises :class:`ExportError`
    (shards of one export never overlap, so a repeat means mismatched inputs).
    Returns the number of leads written.
    """
    out = Path(target)
    if out.exists() and not force:
        raise ExportError(f"{out} already exists; pass force=True (--force) to overwrite")
    sources = [Path(p) for p in parts]
    for source in sources:
        if not source.is_file():
            raise ExportError(f"{source} is not a file")
        if Path(f"{source}.checkpoint").exists():
            raise ExportError(f"{source} is an unfinished export (it has a checkpoint)")

    def keyed(path: Path) -> Iterator[tuple[tuple[str, int], bytes]]:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        record = _lead_record(line)
                    except ValueError as exc:
                        raise ExportError(
                            f"{path} line {number}: {exc}; merge takes the JSONL files "
                            "that exports wrote"
                        ) from None
                    key = (str(record.get("date_created") or ""), int(record["lead_id"]))
                    yield key, line

    streams = [keyed(source) for source in sources]
    merged = heapq.merge(*streams, key=lambda item: item[0], reverse=order == "desc")
    data = out.with_name(out.name + (".partial" if format == "csv" else ".tmp"))
    seen: set[int] = set()
    written = 0
    try:
        with data.open("wb") as handle:
            for (_, lead_id), line in merged:
                if lead_id in seen:
                    raise ExportError(f"lead {lead_id} appears in more than one input")
                seen.add(lead_id)
                handle.write(line if line.endswith(b"\n") else line + b"\n")
                written += 1
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        # A refused input leaves no half-merged file behind.
        data.unlink(missing_ok=True)
        raise
    if format == "csv":
        jsonl_to_csv(data, out)
        data.unlink()
    else:
        os.replace(data, out)
        fsync_dir(out.parent)
    return written
