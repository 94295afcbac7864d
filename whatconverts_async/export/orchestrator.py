"""``export_leads``: plan the windows, stream their pages into the data file, checkpoint, finish.

The steps, each a unit below: check the arguments (before any request or file change);
take the export lock; find where the output stands (fresh, a checkpoint to resume, or a
finished export); plan the windows; read them page by page, committing each page (data,
then checkpoint); finish (CSV pass, completion record, checkpoint removed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import attrs

from ..client import RequestTally, WhatConverts
from ..errors import CheckpointError, ExportError, InvalidParameterError
from ..models import Lead, Page
from ..params import DateLike, check_int_range, check_prefetch, date_range, format_datetime
from ..scan import ScanWindow
from ..vocab import MAX_LEADS_PER_PAGE
from .checkpoint import EMPTY_SHA256, Checkpoint, Completion, completion_path, fsync_dir
from .lock import export_lock
from .sinks import DataFile, Span, encode_lead, jsonl_to_csv

__all__ = [
    "ExportProgress",
    "ExportResult",
    "check_export",
    "check_writable_folder",
    "export_leads",
    "export_state",
]

R = TypeVar("R")
Format = Literal["jsonl", "csv"]


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
    """What an export did.

    ``requests_used`` counts every run of this export (resumes included);
    ``already_complete`` is True when a resume found the export finished and sent no
    request.
    """

    path: Path
    format: str
    leads_written: int
    requests_used: int
    windows_done: int
    windows_total: int
    resumed: bool
    elapsed: float
    requests_estimate: int
    already_complete: bool = False


@attrs.frozen
class _Paths:
    """The files of one export: output, checkpoint, data file, completion record."""

    target: Path
    checkpoint: Path
    data: Path
    completion: Path

    @classmethod
    def of(cls, target: Path, format: Format) -> _Paths:
        data = target if format == "jsonl" else target.with_name(target.name + ".partial")
        return cls(
            target=target,
            checkpoint=target.with_name(target.name + ".checkpoint"),
            data=data,
            completion=completion_path(target),
        )

    def leftovers(self) -> list[Path]:
        """Files of an earlier export of this output that exist now."""
        candidates = (self.target, self.checkpoint, self.data)
        return [p for p in dict.fromkeys(candidates) if p.exists()]


def export_state(path: str | os.PathLike[str]) -> Checkpoint | Completion | None:
    """Where the export to ``path`` stands, without changing anything.

    A :class:`Completion` if ``path`` is a finished export unchanged since, the
    :class:`Checkpoint` of an interrupted one, else None (also when the checkpoint is
    unreadable: :func:`export_leads` then says why).
    """
    target = Path(path)
    completion = Completion.load(completion_path(target))
    checkpoint_file = target.with_name(target.name + ".checkpoint")
    if not checkpoint_file.exists():
        return completion if completion is not None and completion.matches(target) else None
    try:
        return Checkpoint.load(checkpoint_file)
    except CheckpointError:
        return None


def check_writable_folder(target: Path, parameter: str) -> None:
    """Raise :class:`InvalidParameterError` (naming ``parameter``) unless ``target``'s
    folder exists and a file can be created in it, and ``target`` is not a folder.

    The proof is a temporary file created and removed there, so an unwritable place
    (``/proc``, a read-only mount, missing permissions) is refused before any request
    is spent, not after the first page.
    """
    if str(target) in ("", "."):
        raise InvalidParameterError(parameter, "is empty; give the path of a file")
    if target.is_dir():
        raise InvalidParameterError(parameter, f"{target} is a directory")
    if not target.parent.is_dir():
        raise InvalidParameterError(
            parameter, f"{target}: the folder {target.parent} does not exist; create it first"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}."):
            pass
    except OSError as exc:
        raise InvalidParameterError(
            parameter,
            f"{target}: cannot create a file in the folder {target.parent} "
            f"({exc.strerror or type(exc).__name__})",
        ) from None


def _check_arguments(
    path: str | os.PathLike[str],
    *,
    format: Any,
    resume: bool,
    force: bool,
    shard: Any,
    start_date: DateLike,
    end_date: DateLike | None,
    per_page: int | None,
    prefetch: int,
    now: datetime,
) -> tuple[Path, tuple[int, int] | None]:
    """The output path and the shard, or :class:`InvalidParameterError` naming the culprit."""
    if format not in ("jsonl", "csv"):
        raise InvalidParameterError("format", f"must be 'jsonl' or 'csv', got {format!r}")
    if resume and force:
        raise InvalidParameterError("resume", "cannot be combined with force=True (--force)")
    checked_shard = _check_shard(shard)
    if isinstance(path, str) and not path:
        raise InvalidParameterError("path", "is empty; give the path of a file")
    target = Path(path)
    if target.is_dir():
        raise InvalidParameterError("path", f"{target} is a directory")
    if not target.parent.is_dir():
        raise InvalidParameterError(
            "path", f"{target}: the folder {target.parent} does not exist; create it first"
        )
    start, end = date_range(start_date, end_date)
    today = now.astimezone(timezone.utc).date()
    # A finished export is final: one whose range reached past today would be recorded
    # as complete while its future part is still empty, and a resume would never read it.
    for name, moment in (("start_date", start), ("end_date", end)):
        if moment is not None and moment.date() > today:
            raise InvalidParameterError(
                name,
                f"is after today ({today.isoformat()} UTC), got {format_datetime(moment)}; "
                "an export covers what exists now: omit end_date to export up to now",
            )
    if per_page is not None:
        check_int_range(per_page, "per_page", 1, MAX_LEADS_PER_PAGE)
    if checked_shard is not None and end_date is None and not resume:
        raise InvalidParameterError(
            "end_date",
            "is required with shard: every worker must split the very same range, and an "
            "open end would be fixed at a different moment in each",
        )
    check_prefetch(prefetch)
    return target, checked_shard


def check_export(
    path: str | os.PathLike[str],
    *,
    start_date: DateLike,
    end_date: DateLike | None = None,
    format: Format = "jsonl",
    resume: bool = False,
    force: bool = False,
    per_page: int | None = None,
    prefetch: int = 4,
    shard: tuple[int, int] | None = None,
    now: datetime | None = None,
) -> Checkpoint | Completion | None:
    """The checks :func:`export_leads` makes before anything else, without a client.

    Returns where the output stands (as :func:`export_state`, for a ``resume``), or
    raises what :func:`export_leads` would: :class:`InvalidParameterError` naming the
    argument, :class:`ExportError` for an output that exists (without ``resume`` or
    ``force``) or a checkpoint that cannot be resumed. ``now`` (default: the system
    clock) decides what "after today" is. Reads files and changes none, but proves the
    output folder writable by creating and removing a temporary file there
    (:func:`check_writable_folder`): an unwritable folder is an
    :class:`InvalidParameterError` here, where :func:`export_leads` raises the
    ``OSError`` of writing its checkpoint (also before any request).
    """
    target, _ = _check_arguments(
        path,
        format=format,
        resume=resume,
        force=force,
        shard=shard,
        start_date=start_date,
        end_date=end_date,
        per_page=per_page,
        prefetch=prefetch,
        now=now or datetime.now(timezone.utc),
    )
    check_writable_folder(target, "path")
    return _find_state(_Paths.of(target, format), format=format, resume=resume, force=force)


def _check_shard(shard: Any) -> tuple[int, int] | None:
    if shard is None:
        return None
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


def _find_state(
    paths: _Paths, *, format: Format, resume: bool, force: bool
) -> Checkpoint | Completion | None:
    """The checkpoint to resume, the record of a finished export, or None (start afresh).

    Raises :class:`ExportError` when the output exists and neither resume nor force
    says what to do with it.
    """
    if resume and paths.checkpoint.exists():
        checkpoint = Checkpoint.load(paths.checkpoint)
        if checkpoint.format != format:
            raise CheckpointError(
                f"the checkpoint is for a {checkpoint.format} export, not {format}"
            )
        return checkpoint
    if resume and paths.target.exists():
        completion = Completion.load(paths.completion)
        if completion is not None and completion.matches(paths.target):
            if completion.format != format:
                raise ExportError(
                    f"{paths.target} is a finished {completion.format} export, not {format}"
                )
            return completion
        raise ExportError(
            f"{paths.target} exists but has no checkpoint, and is not an export finished "
            "here (or it changed since); use force=True (--force) to overwrite it"
        )
    leftovers = paths.leftovers()
    if leftovers and not force and not resume and _nothing_committed(paths):
        # An export that failed before its first page (a 401, a spent budget) left only
        # its empty start: starting afresh loses nothing, so the same command works again.
        return None
    if leftovers and not force and not resume:
        raise ExportError(
            f"{leftovers[0]} already exists; pass resume=True (--resume) to continue an "
            "interrupted export or force=True (--force) to overwrite"
        )
    return None


def _nothing_committed(paths: _Paths) -> bool:
    """Whether the files of ``paths`` are only the start of an export that wrote nothing:
    a readable checkpoint at the very beginning, an empty data file, no final output."""
    try:
        checkpoint = Checkpoint.load(paths.checkpoint)
        data_size = paths.data.stat().st_size if paths.data.exists() else 0
    except (CheckpointError, OSError):
        return False
    fresh = Checkpoint.start(
        format=checkpoint.format, query=checkpoint.query, windows_total=checkpoint.windows_total
    )
    fresh.requests_used = checkpoint.requests_used
    final_output = paths.target != paths.data and paths.target.exists()
    return checkpoint == fresh and data_size == 0 and not final_output


def _query(
    *,
    start: datetime,
    end: datetime,
    order: str,
    per_page: int | None,
    shard: tuple[int, int] | None,
    filters: Mapping[str, Any],
) -> dict[str, Any]:
    """The arguments that define an export, as recorded in its checkpoint (unchanged since v2)."""
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


def _plan(
    client: WhatConverts,
    *,
    recorded: Checkpoint | Completion | None,
    start_date: DateLike,
    end_date: DateLike | None,
    order: Literal["asc", "desc"],
    per_page: int | None,
    shard: tuple[int, int] | None,
    filters: Mapping[str, Any],
) -> tuple[list[ScanWindow], dict[str, Any]]:
    """The windows to export and the query that defines them (see :func:`_query`).

    Raises :class:`CheckpointError` if ``recorded`` was made with other arguments.
    """
    plan = client.leads.plan_scan(
        start_date=start_date, end_date=end_date, order=order, per_page=per_page, **filters
    )
    if recorded is not None:
        # The end of an open range was fixed when the export began: plan that range.
        recorded_end = recorded.query.get("end_date")
        if end_date is not None and format_datetime(plan.end) != recorded_end:
            raise CheckpointError(
                f"end_date differs from the checkpoint's ({recorded_end}); "
                "resume with the same arguments"
            )
        if not isinstance(recorded_end, str):
            raise CheckpointError("the checkpoint records no end_date; start over with --force")
        plan = client.leads.plan_scan(
            start_date=start_date, end_date=recorded_end, order=order, per_page=per_page, **filters
        )
    query = _query(
        start=plan.start, end=plan.end, order=order, per_page=per_page, shard=shard, filters=filters
    )
    if shard is not None:
        plan = plan.shard(*shard)
    windows = list(plan.windows)
    if recorded is not None and (recorded.query != query or recorded.windows_total != len(windows)):
        raise CheckpointError(
            "the checkpoint was made with different arguments: "
            f"{_differences(recorded.query, query)}; resume with the same ones"
        )
    return windows, query


def check_resume_arguments(
    client: WhatConverts,
    recorded: Checkpoint | Completion,
    *,
    start_date: DateLike,
    end_date: DateLike | None = None,
    order: Literal["asc", "desc"] = "asc",
    per_page: int | None = None,
    shard: tuple[int, int] | None = None,
    **filters: Any,
) -> None:
    """Raise :class:`CheckpointError` (naming each argument that differs) unless
    ``recorded`` was made with these arguments, as :func:`export_leads` would on resume.

    Sends no request (the plan is computed locally), so a caller can check a resume
    before it prints or sends anything.
    """
    _plan(
        client,
        recorded=recorded,
        start_date=start_date,
        end_date=end_date,
        order=order,
        per_page=per_page,
        shard=shard,
        filters=filters,
    )


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``name was X, now Y`` for each argument that differs (filters one by one)."""
    flat_old = {**{k: v for k, v in old.items() if k != "filters"}, **old.get("filters", {})}
    flat_new = {**{k: v for k, v in new.items() if k != "filters"}, **new.get("filters", {})}
    changed = [
        f"{name} was {json.dumps(flat_old.get(name))}, now {json.dumps(flat_new.get(name))}"
        for name in sorted(set(flat_old) | set(flat_new))
        if flat_old.get(name) != flat_new.get(name)
    ]
    # Same arguments but another window count: the planning itself changed (a version
    # with other window rules); say so rather than name no argument.
    return "; ".join(changed) or "the same arguments now plan a different number of windows"


class _Run:
    """The reading part of one export: windows in order, each page committed durably.

    Before the first request, :meth:`_verify` proves the data file is what the
    checkpoint says was written (every finished window hashed again) and restores what
    the reading needs: the ids already written in the current window, its running hash
    and the leads written without a date.
    """

    def __init__(
        self,
        client: WhatConverts,
        paths: _Paths,
        checkpoint: Checkpoint,
        windows: list[ScanWindow],
        *,
        prefetch: int,
        on_progress: Callable[[ExportProgress], None] | None,
    ) -> None:
        self.client = client
        self.paths = paths
        self.checkpoint = checkpoint
        self.windows = windows
        self.prefetch = prefetch
        self.on_progress = on_progress
        self.data = DataFile(paths.data)
        self._requests_before = checkpoint.requests_used
        # This export's own requests: other tasks may share the client.
        self._tally: RequestTally | None = None
        self._window = Span(0, hashlib.sha256())

    def _requests_used(self) -> int:
        sent = self._tally.sent if self._tally is not None else 0
        return self._requests_before + sent

    def _report(self, label: str) -> None:
        if self.on_progress is not None:
            self.on_progress(
                ExportProgress(
                    windows_done=self.checkpoint.window,
                    windows_total=len(self.windows),
                    leads_written=self.checkpoint.leads_written,
                    requests_used=self.checkpoint.requests_used,
                    requests_left=self.client.quota.remaining,
                    window_label=label,
                )
            )

    async def read_all(self) -> None:
        """Read every window left, from where the checkpoint stands."""
        await _in_thread(self._verify)
        await _in_thread(self.data.open, self.checkpoint.offset)
        try:
            with self.client.count_requests() as self._tally:
                self._report("")
                while not self.checkpoint.complete:
                    window = self.windows[self.checkpoint.window]
                    await self._read_window(window)
                    await _in_thread(self._next_window, window)
                    self._report(window.label)
        finally:
            self.data.close()

    def _label(self, index: int) -> str:
        return self.windows[index].label if index < len(self.windows) else f"window {index + 1}"

    def _verify(self) -> None:
        """Prove the data file against the checkpoint, or raise :class:`CheckpointError`
        naming the file, the window and its lines, and the way out."""
        checkpoint, data = self.checkpoint, self.data
        data.path.touch(exist_ok=True)
        size = data.size()
        if size < checkpoint.offset and not checkpoint.proven:
            raise CheckpointError(
                f"{data.path} is shorter than the checkpoint records ({size} bytes, not "
                f"{checkpoint.offset}): it was changed outside the export; restore it, or "
                "start over with force=True (--force)"
            )
        current = self._verify_recorded() if checkpoint.proven else self._rebuild_unrecorded()
        data.check_tail(checkpoint.offset)
        self._window = current
        if self.windows:
            # Every window of a plan shares one map: an undated lead written before the
            # interruption is known to the scan as if this run had read it.
            self.windows[0].undated.update(
                (lead_id, label) for lead_id, label in checkpoint.undated or ()
            )

    def _verify_recorded(self) -> Span:
        checkpoint, data = self.checkpoint, self.data
        size = data.size()
        # The first window whose bytes differ is named, wherever the file now ends.
        shorter = (
            f" (the file is {size} bytes, shorter than the {checkpoint.offset} the checkpoint "
            "records)"
            if size < checkpoint.offset
            else ""
        )
        start, line = 0, 1
        for entry in checkpoint.finished or ():
            span = data.digest(start, entry["end"])
            if (span.lines, span.sha256) != (entry["lines"], entry["sha256"]):
                self._refuse(start, entry["end"], entry["label"], line, entry["lines"], shorter)
            start, line = entry["end"], line + entry["lines"]
        label = self._label(checkpoint.window)
        expected = checkpoint.window_lines or 0
        span = data.digest(checkpoint.window_offset, checkpoint.offset)
        if shorter or (span.lines, span.sha256) != (expected, checkpoint.window_sha256):
            self._refuse(
                checkpoint.window_offset, checkpoint.offset, label, line, expected, shorter
            )
        # Proven; read again for the ids the rest of the window must not repeat.
        return data.read_span(checkpoint.window_offset, checkpoint.offset)

    def _refuse(
        self, start: int, stop: int, label: str, line: int, lines: int, detail: str
    ) -> NoReturn:
        """Raise for the window ``label`` whose bytes ``[start, stop)`` differ from their
        record, naming its lines and the first line there that is not a lead record."""
        bad = self.data.first_bad_line(start, min(stop, self.data.size()))
        if bad is not None:
            detail += f"; {bad}"
        raise CheckpointError(_damaged(self.data.path, label, line, lines, detail))

    def _rebuild_unrecorded(self) -> Span:
        """For a checkpoint of version 2, which recorded no digests: check that every line
        is a lead record and record what the file holds now, undated leads included."""
        checkpoint, data = self.checkpoint, self.data
        earlier = data.read_span(0, checkpoint.window_offset)
        current = data.read_span(checkpoint.window_offset, checkpoint.offset)
        before = f"windows 1-{checkpoint.window} (finished before this resume)"
        checkpoint.finished = (
            [
                {
                    "label": before,
                    "end": checkpoint.window_offset,
                    "lines": earlier.lines,
                    "sha256": earlier.sha256,
                }
            ]
            if checkpoint.window_offset
            else []
        )
        checkpoint.window_lines, checkpoint.window_sha256 = current.lines, current.sha256
        label = self._label(checkpoint.window)
        checkpoint.undated = [[i, before] for i in earlier.undated] + [
            [i, label] for i in current.undated
        ]
        return current

    async def _read_window(self, window: ScanWindow) -> None:
        checkpoint = self.checkpoint
        # Ids already written in this window: a page that shifted is not written twice.
        seen = self._window.ids
        pages = self.client.leads.window_pages(
            window,
            prefetch=self.prefetch,
            start_page=checkpoint.next_page,
            expected_total=checkpoint.window_total if checkpoint.next_page > 1 else None,
            seen=seen,
        )
        async for page in pages:
            data = b"".join(encode_lead(lead) for lead in page.items)
            undated = [lead.lead_id for lead in page.items if lead.date_created is None]
            await _in_thread(self._commit, page, data, undated, window.label)
            self._report(window.label)

    def _commit(self, page: Page[Lead], data: bytes, undated: list[Hashable], label: str) -> None:
        # Data first, durable, then the checkpoint that points past it and proves it.
        offset = self.data.append(data)
        checkpoint = self.checkpoint
        self._window.hasher.update(data)
        self._window.lines += data.count(b"\n")
        checkpoint.window_lines = self._window.lines
        checkpoint.window_sha256 = self._window.sha256
        if undated:
            assert checkpoint.undated is not None
            checkpoint.undated.extend([lead_id, label] for lead_id in undated)
        checkpoint.next_page = page.page_number + 1
        checkpoint.window_total = page.total_items
        checkpoint.offset = offset
        checkpoint.leads_written += len(page.items)
        checkpoint.requests_used = self._requests_used()
        checkpoint.save(self.paths.checkpoint)

    def _next_window(self, window: ScanWindow) -> None:
        checkpoint = self.checkpoint
        assert checkpoint.finished is not None
        checkpoint.finished.append(
            {
                "label": window.label,
                "end": checkpoint.offset,
                "lines": self._window.lines,
                "sha256": self._window.sha256,
            }
        )
        self._window = Span(0, hashlib.sha256())
        checkpoint.window_lines, checkpoint.window_sha256 = 0, EMPTY_SHA256
        checkpoint.window += 1
        checkpoint.next_page = 1
        checkpoint.window_total = None
        checkpoint.window_offset = checkpoint.offset
        checkpoint.requests_used = self._requests_used()
        checkpoint.save(self.paths.checkpoint)


def _damaged(path: Path, label: str, first_line: int, lines: int, detail: str = "") -> str:
    span = f"lines {first_line}-{first_line + lines - 1}" if lines else f"from line {first_line}"
    return (
        f"{path}: the data of {label} ({span} as written) is not what the export "
        f"wrote{detail}: "
        "lines were cut short, removed, added or edited since. The export cannot prove "
        "those leads are whole, so it does not resume over them. Restore the file from a "
        "copy made while the export was interrupted, or start over with force=True (--force)"
    )


async def _finish(paths: _Paths, checkpoint: Checkpoint) -> None:
    """Make the output final and mark it finished; safe to repeat after a crash here."""
    if checkpoint.format == "csv":
        await _in_thread(jsonl_to_csv, paths.data, paths.target)
    # The steps below are short and stay on the caller's thread, so an interrupt there
    # reaches the caller as it is. The record goes before the checkpoint: at every
    # instant either the checkpoint says "all windows done" or the record says
    # "finished", so a resume is never in doubt.
    Completion.of(paths.target, checkpoint).save(paths.completion)
    paths.checkpoint.unlink()
    if checkpoint.format == "csv":
        paths.data.unlink(missing_ok=True)
    fsync_dir(paths.target.parent)


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
    checkpoint) or ``force`` (start over). ``resume`` on a finished export (same
    arguments) sends no request and returns with ``already_complete=True``, so a cron
    job can run one command every day. ``shard=(i, n)`` exports only windows
    ``i, i+n, i+2n, ...`` so ``n`` workers with the same arguments split the range
    between them. Filters are those of :meth:`LeadsResource.iterate`.

    Dates: neither ``start_date`` nor ``end_date`` may lie after today (UTC): a
    finished export is final, so one that reached into the future would be recorded
    complete with its future part empty. ``end_date`` None exports up to now: that
    instant is fixed when the export starts and recorded in its checkpoint, a
    ``resume`` continues to it (not to the new "now"), and once finished the export
    stays finished. To take in later leads, export the range after the recorded end
    (``ExportResult``/completion ``query["end_date"]``) to a new file, or keep a
    :mod:`mirror <whatconverts_async.mirror>` current instead.

    Raises :class:`~whatconverts_async.InvalidParameterError` for bad arguments and
    :class:`~whatconverts_async.ExportError` (or its :class:`CheckpointError`) when the
    output cannot be written or resumed as asked, both before any request;
    :class:`~whatconverts_async.QuotaExhaustedError` when the budget runs out (with
    ``on_quota_exhausted="raise"``), after which ``resume`` goes on.
    """
    target, checked_shard = _check_arguments(
        path,
        format=format,
        resume=resume,
        force=force,
        shard=shard,
        start_date=start_date,
        end_date=end_date,
        per_page=per_page,
        prefetch=prefetch,
        now=client.now(),
    )
    paths = _Paths.of(target, format)
    with export_lock(target):
        started = time.monotonic()
        state = _find_state(paths, format=format, resume=resume, force=force)
        windows, query = _plan(
            client,
            recorded=state,
            start_date=start_date,
            end_date=end_date,
            order=order,
            per_page=per_page,
            shard=checked_shard,
            filters=filters,
        )
        if isinstance(state, Completion):
            if format == "csv":  # a crash after the record may have left the data file
                paths.data.unlink(missing_ok=True)
            return ExportResult(
                path=target,
                format=format,
                leads_written=state.leads_written,
                requests_used=state.requests_used,
                windows_done=state.windows_total,
                windows_total=state.windows_total,
                resumed=True,
                elapsed=time.monotonic() - started,
                requests_estimate=0,
                already_complete=True,
            )
        checkpoint = state
        already_complete = checkpoint is not None and checkpoint.complete
        if checkpoint is None:
            # Only now that every argument has been checked: a typo must not cost the old
            # file. The old record goes first: it must never vouch for a new output.
            paths.completion.unlink(missing_ok=True)
            for leftover in paths.leftovers():
                leftover.unlink(missing_ok=True)
            checkpoint = Checkpoint.start(format=format, query=query, windows_total=len(windows))
            # The checkpoint exists before the first byte of output, so an export that
            # dies at any moment can be resumed.
            await _in_thread(checkpoint.save, paths.checkpoint)
        resumed = checkpoint.offset > 0 or checkpoint.window > 0
        estimate = max(0, len(windows) - checkpoint.window)
        await _Run(
            client, paths, checkpoint, windows, prefetch=prefetch, on_progress=on_progress
        ).read_all()
        await _finish(paths, checkpoint)
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
            already_complete=already_complete,
        )


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
