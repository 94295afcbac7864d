"""Where an export stands (the checkpoint) and proof that it finished (the completion record).

Both are small JSON files replaced atomically (temp file, fsync, rename, fsync of the
folder) and read fail-closed: a damaged file is a :class:`CheckpointError` that says what
to do, never a resume from the wrong place.

* The **checkpoint** (``<output>.checkpoint``) sits beside the output while the export
  runs and is removed when it ends.
* The **completion record** lives in the state folder (``$WHATCONVERTS_STATE_DIR``, else
  the user cache folder), named by a digest of the output's absolute path. It remembers
  the arguments and the output's size, inode and modification time, so ``resume`` on a
  finished export is recognised as a no-op instead of an error, and an output changed
  since is not mistaken for it.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from ..budget import default_state_dir
from ..errors import CheckpointError

__all__ = [
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "Completion",
    "completion_path",
    "export_state_dir",
    "fsync_dir",
    "write_atomic",
]

CHECKPOINT_VERSION = 3
"""The checkpoint format written now; :meth:`Checkpoint.load` reads it and version 2."""

_READABLE_VERSIONS = (2, CHECKPOINT_VERSION)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
"""The digest of no bytes: what a window that has written nothing yet records."""

COMPLETION_VERSION = 1


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (a no-op where folders have no fd)."""
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


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new bytes, never a mix."""
    temp = path.with_name(path.name + ".tmp")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _sealed(body: dict[str, Any]) -> bytes:
    # The checksum turns a damaged or hand-edited file into a clear refusal.
    return json.dumps({**body, "checksum": _checksum(body)}, sort_keys=True).encode()


def _unsealed(data: bytes) -> dict[str, Any]:
    """The body of a sealed file; ValueError if it is not one or the checksum differs."""
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    if raw.pop("checksum", None) != _checksum(raw):
        raise ValueError("checksum mismatch: the file was changed or damaged")
    return raw


@attrs.define(kw_only=True)
class Checkpoint:
    """Where an export stands; saved after every page.

    ``window`` is the index of the window being read (``windows_total`` once all are
    done), ``next_page`` the page to read next in it, ``window_total`` that window's lead
    count as last seen, ``window_offset`` and ``offset`` the data file's byte length at
    the start of the window and after the last committed page.

    What proves the data file (version 3; None where a version 2 file recorded nothing,
    which a resume then rebuilds from the data file):

    * ``finished``: one entry per finished window, in file order, as a dict with
      ``label`` (the window, for messages), ``end`` (the byte offset where its data
      ends; it starts where the previous entry ends), ``lines`` and ``sha256`` (the
      hex SHA-256 of its bytes). A resume hashes each again before any request.
    * ``window_lines`` and ``window_sha256``: the same for the current window's
      committed bytes, ``[window_offset, offset)``.
    * ``undated``: ``[lead_id, window label]`` of each lead written without a
      ``date_created`` (which no date places in a window), fed back into the scan plan
      on resume so the API returning one of them for another window stops the export
      instead of writing it twice.
    """

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
    finished: list[dict[str, Any]] | None = None
    window_lines: int | None = None
    window_sha256: str | None = None
    undated: list[list[Any]] | None = None

    @classmethod
    def start(cls, *, format: str, query: dict[str, Any], windows_total: int) -> Checkpoint:
        """The checkpoint of an export that has written nothing yet (everything proven)."""
        return cls(
            format=format,
            query=query,
            windows_total=windows_total,
            finished=[],
            window_lines=0,
            window_sha256=EMPTY_SHA256,
            undated=[],
        )

    @property
    def proven(self) -> bool:
        """Whether this checkpoint records the digests of all the data it points past."""
        return None not in (self.finished, self.window_lines, self.window_sha256, self.undated)

    @property
    def complete(self) -> bool:
        """Every window is in the data file (only the final steps may be missing)."""
        return self.window >= self.windows_total

    def save(self, path: Path) -> None:
        """Replace the checkpoint at ``path`` atomically (temp file, fsync, rename)."""
        write_atomic(path, _sealed(attrs.asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Read a checkpoint, or raise :class:`CheckpointError` saying what to do."""
        try:
            raw = _unsealed(path.read_bytes())
            if raw.get("version") not in _READABLE_VERSIONS:
                raise ValueError("unknown checkpoint version")
            checkpoint = cls(**raw)
            _check_consistent(checkpoint)
            checkpoint.version = CHECKPOINT_VERSION
            if checkpoint.offset == 0 and not checkpoint.proven:
                # An older checkpoint before its first byte: there is nothing to prove.
                checkpoint.finished, checkpoint.undated = [], []
                checkpoint.window_lines, checkpoint.window_sha256 = 0, EMPTY_SHA256
        except (OSError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint {path} is unreadable ({exc}); the output cannot be resumed "
                "safely. Start over with force=True (--force), which rewrites the output"
            ) from None
        return checkpoint


def _check_consistent(checkpoint: Checkpoint) -> None:
    """ValueError if the fields cannot describe a real export (a plausible-looking edit)."""
    c = checkpoint
    numbers = (c.window, c.next_page, c.window_offset, c.offset, c.leads_written)
    if not all(isinstance(n, int) and n >= 0 for n in numbers) or not isinstance(c.query, dict):
        raise ValueError("fields out of range")
    if c.window_offset > c.offset or c.next_page < 1 or c.window > c.windows_total:
        raise ValueError("inconsistent offsets")
    if c.finished is not None:
        ends = [0]
        for entry in c.finished:
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("label"), str)
                or not isinstance(entry.get("sha256"), str)
                or not all(
                    isinstance(entry.get(k), int) and entry[k] >= 0 for k in ("end", "lines")
                )
            ):
                raise ValueError("a finished window's record is malformed")
            ends.append(entry["end"])
        if ends != sorted(ends) or ends[-1] != c.window_offset:
            raise ValueError("inconsistent offsets of the finished windows")
    if c.window_lines is not None and not (isinstance(c.window_lines, int) and c.window_lines >= 0):
        raise ValueError("window_lines out of range")
    if c.undated is not None and not all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str) for pair in c.undated
    ):
        raise ValueError("undated leads malformed")


def export_state_dir() -> Path:
    """Where completion records and export locks live: ``<state dir>/exports``."""
    return default_state_dir() / "exports"


def _digest(target: Path) -> str:
    # The absolute path names the record, so two spellings of one output share it.
    return hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:32]


def completion_path(target: Path) -> Path:
    """The completion record of the output ``target`` (it may not exist)."""
    return export_state_dir() / f"{_digest(target)}.done.json"


def lock_path(target: Path) -> Path:
    """The lock file that admits one export of ``target`` at a time."""
    return export_state_dir() / f"{_digest(target)}.lock"


@attrs.frozen(kw_only=True)
class Completion:
    """The record of a finished export: its arguments, totals and the output it wrote.

    ``size``, ``inode`` and ``mtime_ns`` identify the output as it was when the export
    finished; :meth:`matches` is False once it has been replaced or changed.
    """

    version: int = COMPLETION_VERSION
    path: str
    format: str
    query: dict[str, Any]
    leads_written: int
    requests_used: int
    windows_total: int
    finished_at: str
    size: int
    inode: int
    mtime_ns: int

    @classmethod
    def of(cls, target: Path, checkpoint: Checkpoint) -> Completion:
        """The record for ``target`` as it is now, finished as ``checkpoint`` says."""
        info = target.stat()
        return cls(
            path=str(target.resolve()),
            format=checkpoint.format,
            query=checkpoint.query,
            leads_written=checkpoint.leads_written,
            requests_used=checkpoint.requests_used,
            windows_total=checkpoint.windows_total,
            finished_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            size=info.st_size,
            inode=info.st_ino,
            mtime_ns=info.st_mtime_ns,
        )

    def matches(self, target: Path) -> bool:
        """Whether ``target`` is still exactly the file this export finished."""
        try:
            info = target.stat()
        except OSError:
            return False
        return self.path == str(target.resolve()) and (
            info.st_size,
            info.st_ino,
            info.st_mtime_ns,
        ) == (self.size, self.inode, self.mtime_ns)

    def save(self, path: Path) -> None:
        """Write the record atomically, creating the state folder if needed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, _sealed(attrs.asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Completion | None:
        """The record at ``path``; None if there is none or it cannot be trusted.

        An unreadable record only means the export is not known to be complete: the
        caller then refuses to touch the output, which is the safe side.
        """
        try:
            raw = _unsealed(path.read_bytes())
            if raw.get("version") != COMPLETION_VERSION:
                return None
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None
