"""Backfill export: every lead of a date range to JSONL or CSV, resumable after any crash.

How exactly-once output survives a crash (``kill -9`` included):

* Leads are appended page by page to a data file (the output itself for JSONL, a
  ``.partial`` JSONL beside it for CSV), flushed and fsynced.
* After each page a sidecar checkpoint (``<output>.checkpoint``) is replaced atomically
  (write a temporary file, fsync, rename, fsync the folder). It records the byte length
  of the data file at that moment, the window and the next page to read, the window's
  total, and the scan's fixed end instant.
* ``resume=True`` truncates the data file to the recorded length (dropping anything
  written after the last checkpoint), re-reads the lead ids already written in the
  current window, and continues from the recorded page. If the window's total has
  changed meanwhile, the window is read again from its first page, skipping the ids
  already written. Nothing is lost, nothing is written twice.
* A CSV is produced from the finished data file in one streaming pass, written to a
  temporary file and renamed into place, so a CSV at the output path is always whole.

Example::

    async with WhatConverts.from_env() as wc:
        result = await export_leads(wc, "leads.jsonl", start_date=date(2015, 1, 1))
        print(result.leads_written, result.requests_used)
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import fcntl
import hashlib
import heapq
import json
import os
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from . import _json
from .client import WhatConverts
from .errors import CheckpointError, ExportError
from .models import Lead, Page
from .params import DateLike, check_prefetch, format_datetime

__all__ = [
    "CSV_FIELDS",
    "Checkpoint",
    "CheckpointError",
    "ExportError",
    "ExportProgress",
    "ExportResult",
    "export_leads",
    "jsonl_to_csv",
    "merge_jsonl",
    "read_jsonl_ids",
]

R = TypeVar("R")
CHECKPOINT_VERSION = 2


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


Format = Literal["jsonl", "csv"]

# Known lead fields in a fixed order: the CSV header starts with these.
CSV_FIELDS: tuple[str, ...] = tuple(
    field.name
    for field in attrs.fields(Lead)
    if field.name not in ("extra", "absent_keys", "wire_originals", "additional_fields")
)


@attrs.define(kw_only=True)
class Checkpoint:
    """Where an export stands; saved after every page."""

    version: int = CHECKPOINT_VERSION
    format: str
    query: dict[str, Any]
    window: int = 0
    next_page: int = 1
    window_total: int | None = None
    window_offset: int = 0
    offset: int = 0
    leads_written: int = 0
    requests_used: int = 0
    windows_total: int = 0

    def save(self, path: Path) -> None:
        """Replace the checkpoint at ``path`` atomically (temp file, fsync, rename)."""
        temp = path.with_name(path.name + ".tmp")
        # The checksum turns a damaged or hand-edited checkpoint into a clear refusal
        # instead of a resume from the wrong place.
        body = attrs.asdict(self)
        data = json.dumps({**body, "checksum": _checksum(body)}, sort_keys=True).encode()
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_dir(path.parent)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Read a checkpoint, or raise :class:`CheckpointError` saying what to do."""
        try:
            raw = _json.loads(path.read_bytes())
            if not isinstance(raw, dict) or raw.get("version") != CHECKPOINT_VERSION:
                raise ValueError("unknown checkpoint version")
            if raw.pop("checksum", None) != _checksum(raw):
                raise ValueError("checksum mismatch: the file was changed or damaged")
            checkpoint = cls(**raw)
            numbers = (
                checkpoint.window,
                checkpoint.next_page,
                checkpoint.window_offset,
                checkpoint.offset,
                checkpoint.leads_written,
            )
            if not all(isinstance(n, int) and n >= 0 for n in numbers) or not isinstance(
                checkpoint.query, dict
            ):
                raise ValueError("fields out of range")
            if (
                checkpoint.window_offset > checkpoint.offset
                or checkpoint.next_page < 1
                or checkpoint.window > checkpoint.windows_total
            ):
                raise ValueError("inconsistent offsets")
        except (OSError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint {path} is unreadable ({exc}); the output cannot be resumed "
                "safely. Start over with --force (or force=True), which rewrites the output"
            ) from None
        return checkpoint


@attrs.frozen(kw_only=True)
class ExportProgress:
    """A snapshot passed to the ``on_progress`` callback after each page."""

    windows_done: int
    windows_total: int
    leads_written: int
    requests_used: int
    requests_left: int
    window_label: str


@attrs.frozen(kw_only=True)
class ExportResult:
    """What an export did."""

    path: Path
    format: str
    leads_written: int
    requests_used: int
    windows_done: int
    windows_total: int
    resumed: bool
    elapsed: float
    requests_estimate: int


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _encode_json(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


try:  # orjson writes the same compact UTF-8 JSON several times faster, when installed.
    import orjson

    def _encode(lead: Lead) -> bytes:
        record = lead.to_dict()
        try:
            return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # e.g. an integer beyond 64 bits in an unknown field
            return _encode_json(record)

except ImportError:  # pragma: no cover - depends on the environment

    def _encode(lead: Lead) -> bytes:
        return _encode_json(lead.to_dict())


def _ids_between(path: Path, start: int, stop: int) -> set[Hashable]:
    """Lead ids of the JSONL lines in ``path[start:stop]``."""
    ids: set[Hashable] = set()
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = stop - start
        for line in handle:
            if remaining <= 0:
                break
            remaining -= len(line)
            if line.strip():
                ids.add(_json.loads(line)["lead_id"])
    return ids


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                record = _json.loads(line)
                if isinstance(record, dict):
                    yield record


def jsonl_to_csv(source: Path | str, target: Path | str) -> int:
    """Write the leads of a JSONL file as CSV (two streaming passes); returns rows written.

    Header: the known lead fields in a fixed order (:data:`CSV_FIELDS`), then
    ``additional_fields.<name>`` for every custom field seen (sorted), then any unknown
    fields (sorted). Maps such as ``lead_analysis`` are JSON text in their cell. The
    file is written beside ``target`` and renamed into place when complete.
    """
    source, target = Path(source), Path(target)
    known = set(CSV_FIELDS) | {"additional_fields"}
    custom: set[str] = set()
    unknown: set[str] = set()
    for record in _read_jsonl(source):
        extra_fields = record.get("additional_fields")
        if isinstance(extra_fields, dict):
            custom.update(str(k) for k in extra_fields)
        unknown.update(k for k in record if k not in known)
    header = [
        *CSV_FIELDS,
        *(f"additional_fields.{name}" for name in sorted(custom)),
        *sorted(unknown),
    ]
    temp = target.with_name(target.name + ".tmp")
    rows = 0
    with temp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for record in _read_jsonl(source):
            extra_fields = record.get("additional_fields")
            fields = extra_fields if isinstance(extra_fields, dict) else {}
            row = [_csv_cell(record.get(name)) for name in CSV_FIELDS]
            row += [_csv_cell(fields.get(name)) for name in sorted(custom)]
            row += [_csv_cell(record.get(name)) for name in sorted(unknown)]
            writer.writerow(row)
            rows += 1
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
    _fsync_dir(target.parent)
    return rows


def _query(
    *,
    start: datetime,
    end: datetime,
    order: str,
    per_page: int | None,
    shard: tuple[int, int] | None,
    filters: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "start_date": format_datetime(start),
        "end_date": format_datetime(end),
        "order": order,
        "per_page": per_page,
        "shard": list(shard) if shard else None,
        "filters": {
            k: str(getattr(v, "value", v)) for k, v in sorted(filters.items()) if v is not None
        },
    }


def _check_shard(shard: Any) -> tuple[int, int] | None:
    if shard is None:
        return None
    from .errors import InvalidParameterError

    if (
        not isinstance(shard, tuple)
        or len(shard) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        or not (shard[1] >= 1 and 0 <= shard[0] < shard[1])
    ):
        raise InvalidParameterError(
            "shard", f"must be (index, count) with 0 <= index < count, got {shard!r}"
        )
    return shard[0], shard[1]


async def export_leads(
    client: WhatConverts,
    path: str | os.PathLike[str],
    *,
    start_date: DateLike,
    end_date: DateLike | None = None,
    format: Format = "jsonl",
    resume: bool = False,
    force: bool = False,
    order: Literal["asc", "desc"] = "asc",
    per_page: int | None = None,
    prefetch: int = 4,
    shard: tuple[int, int] | None = None,
    on_progress: Callable[[ExportProgress], None] | None = None,
    **filters: Any,
) -> ExportResult:
    """Export every lead from ``start_date`` to ``end_date`` (None: now) to ``path``.

    ``format`` is ``"jsonl"`` (one wire-shaped lead per line, unknown fields included)
    or ``"csv"``. An existing output is refused unless ``resume`` (continue from the
    checkpoint) or ``force`` (start over). ``shard=(i, n)`` exports only windows
    ``i, i+n, i+2n, ...`` so ``n`` workers with the same arguments split the range
    between them. Filters are those of :meth:`LeadsResource.iterate`.

    Raises :class:`~whatconverts_async.QuotaExhaustedError` when the budget runs out
    (with ``on_quota_exhausted="raise"``); the checkpoint then allows ``resume``.
    """
    from .errors import InvalidParameterError

    if format not in ("jsonl", "csv"):
        raise InvalidParameterError("format", f"must be 'jsonl' or 'csv', got {format!r}")
    if resume and force:
        raise InvalidParameterError("resume", "cannot be combined with force")
    checked_shard = _check_shard(shard)
    target = Path(path)
    if target.is_dir():
        raise InvalidParameterError("path", f"{target} is a directory")
    checkpoint_path = target.with_name(target.name + ".checkpoint")
    data_path = target if format == "jsonl" else target.with_name(target.name + ".partial")
    leftovers = [p for p in dict.fromkeys((target, checkpoint_path, data_path)) if p.exists()]

    if checked_shard is not None and end_date is None and not resume:
        raise InvalidParameterError(
            "end_date",
            "is required with shard: every worker must split the very same range, and an "
            "open end would be fixed at a different moment in each",
        )
    # One export per output at a time: two writers on one file would break exactly-once.
    with _exclusive(target.with_name(target.name + ".lock")):
        started = time.monotonic()
        sent_before = client.throttle.requests_sent
        checkpoint: Checkpoint | None = None
        if resume and checkpoint_path.exists():
            checkpoint = Checkpoint.load(checkpoint_path)
            if checkpoint.format != format:
                raise CheckpointError(
                    f"the checkpoint is for a {checkpoint.format} export, not {format}"
                )
        elif resume and target.exists():
            raise ExportError(
                f"{target} exists but has no checkpoint: it is complete or was not written by an "
                "export; use force=True (--force) to overwrite it"
            )
        elif leftovers and not force and not resume:
            raise ExportError(
                f"{leftovers[0]} already exists; pass resume=True (--resume) to continue an "
                "interrupted export or force=True (--force) to overwrite"
            )
        check_prefetch(prefetch)

        plan = client.leads.plan_scan(
            start_date=start_date, end_date=end_date, order=order, per_page=per_page, **filters
        )
        if checkpoint is not None:
            # The end of an open range was fixed when the export began: plan that range.
            recorded = checkpoint.query["end_date"]
            if end_date is not None and format_datetime(plan.end) != recorded:
                raise CheckpointError(
                    f"end_date differs from the checkpoint's ({recorded}); "
                    "resume with the same arguments"
                )
            plan = client.leads.plan_scan(
                start_date=start_date, end_date=recorded, order=order, per_page=per_page, **filters
            )
        query = _query(
            start=plan.start,
            end=plan.end,
            order=order,
            per_page=per_page,
            shard=checked_shard,
            filters=filters,
        )
        if checked_shard is not None:
            plan = plan.shard(*checked_shard)
        windows = plan.windows
        if force:
            # Only now that every argument has been checked: a typo must not cost the old file.
            for leftover in leftovers:
                leftover.unlink(missing_ok=True)
        if checkpoint is None:
            checkpoint = Checkpoint(format=format, query=query, windows_total=len(windows))
        elif checkpoint.query != query or checkpoint.windows_total != len(windows):
            raise CheckpointError(
                "the checkpoint was made with different arguments "
                f"({json.dumps(checkpoint.query, sort_keys=True)}); resume with the same ones"
            )
        resumed = checkpoint.offset > 0 or checkpoint.window > 0
        estimate = max(0, len(windows) - checkpoint.window)

        if not checkpoint_path.exists():
            # The checkpoint exists before the first byte of output, so an export that dies
            # at any moment can be resumed.
            checkpoint.save(checkpoint_path)
        data_path.touch(exist_ok=True)
        if data_path.stat().st_size < checkpoint.offset:
            raise CheckpointError(
                f"{data_path} is shorter than the checkpoint records; it was changed outside the "
                "export. Start over with --force (or force=True)"
            )
        previous_requests = checkpoint.requests_used

        def progress(label: str) -> None:
            if on_progress is not None:
                on_progress(
                    ExportProgress(
                        windows_done=checkpoint.window,
                        windows_total=len(windows),
                        leads_written=checkpoint.leads_written,
                        requests_used=checkpoint.requests_used,
                        requests_left=client.quota.remaining,
                        window_label=label,
                    )
                )

        with data_path.open("r+b") as handle:
            # Anything after the last checkpoint was never committed: drop it.
            handle.truncate(checkpoint.offset)
            handle.seek(checkpoint.offset)
            progress("")
            while checkpoint.window < len(windows):
                window = windows[checkpoint.window]
                resuming_window = checkpoint.next_page > 1
                seen = (
                    await _in_thread(
                        _ids_between, data_path, checkpoint.window_offset, checkpoint.offset
                    )
                    if checkpoint.offset > checkpoint.window_offset
                    else set()
                )
                pages = client.leads.window_pages(
                    window,
                    prefetch=prefetch,
                    start_page=checkpoint.next_page,
                    expected_total=checkpoint.window_total if resuming_window else None,
                    seen=seen,
                )
                async for page in pages:
                    data = b"".join(_encode(lead) for lead in page.items)

                    def commit(page: Page[Lead] = page, data: bytes = data) -> None:
                        # Data first, durable, then the checkpoint that points past it.
                        if data:
                            handle.write(data)
                            handle.flush()
                            os.fsync(handle.fileno())
                        checkpoint.next_page = page.page_number + 1
                        checkpoint.window_total = page.total_items
                        checkpoint.offset = handle.tell()
                        checkpoint.leads_written += len(page.items)
                        checkpoint.requests_used = previous_requests + (
                            client.throttle.requests_sent - sent_before
                        )
                        checkpoint.save(checkpoint_path)

                    await _in_thread(commit)
                    progress(window.label)
                checkpoint.window += 1
                checkpoint.next_page = 1
                checkpoint.window_total = None
                checkpoint.window_offset = checkpoint.offset
                checkpoint.requests_used = previous_requests + (
                    client.throttle.requests_sent - sent_before
                )
                await _in_thread(checkpoint.save, checkpoint_path)
                progress(window.label)

        if format == "csv":
            await _in_thread(jsonl_to_csv, data_path, target)
        # Checkpoint first: a crash after this point leaves a complete output, not a
        # checkpoint that points at a data file already gone.
        checkpoint_path.unlink()
        if format == "csv":
            data_path.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return ExportResult(
            path=target,
            format=format,
            leads_written=checkpoint.leads_written,
            requests_used=checkpoint.requests_used,
            windows_done=checkpoint.window,
            windows_total=len(windows),
            resumed=resumed,
            elapsed=time.monotonic() - started,
            requests_estimate=estimate,
        )


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an advisory lock on ``lock_path`` (created, and removed when done)."""
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError(
                f"another export is writing {lock_path.with_suffix('')} right now; wait for "
                "it to finish (or stop it) before resuming"
            ) from None
        try:
            yield
        finally:
            # Removed while still locked, so no other export can have locked this file.
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(handle)


async def _in_thread(function: Callable[..., R], *args: Any) -> R:
    """Run blocking file work (writes, fsyncs, the CSV pass) off the event loop.

    If the caller is cancelled meanwhile, the work is still waited for before the
    cancellation goes on, so the file and its checkpoint never part ways.
    """
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await work
        raise


def read_jsonl_ids(path: str | os.PathLike[str]) -> list[int]:
    """The lead ids of an exported JSONL file, in file order (handy for checks)."""
    return [int(record["lead_id"]) for record in _read_jsonl(Path(path))]


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
    descending = order == "desc"

    def keyed(path: Path) -> Iterator[tuple[tuple[str, int], bytes]]:
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    record = _json.loads(line)
                    yield (str(record.get("date_created") or ""), int(record["lead_id"])), line

    streams = [keyed(source) for source in sources]
    merged = heapq.merge(*streams, key=lambda item: item[0], reverse=descending)
    data = out.with_name(out.name + (".partial" if format == "csv" else ".tmp"))
    seen: set[int] = set()
    written = 0
    with data.open("wb") as handle:
        for (_, lead_id), line in merged:
            if lead_id in seen:
                raise ExportError(f"lead {lead_id} appears in more than one input")
            seen.add(lead_id)
            handle.write(line if line.endswith(b"\n") else line + b"\n")
            written += 1
        handle.flush()
        os.fsync(handle.fileno())
    if format == "csv":
        jsonl_to_csv(data, out)
        data.unlink()
    else:
        os.replace(data, out)
        _fsync_dir(out.parent)
    return written
