"""One export per output at a time: two writers on one file would break exactly-once.

The lock is a :mod:`filelock` lock (``flock`` on POSIX, ``LockFileEx`` on Windows) on a
file in the state folder named by a digest of the output's absolute path. The lock file
is never removed: removing it would let one process lock the old inode while another
locks a new file of the same name, and both would write the output. Nor does it sit
beside the output, so a read-only or full output folder is reported as the write that
failed, not as a lock problem.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import filelock

from ..errors import ExportError
from .checkpoint import lock_path

__all__ = ["export_lock"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def export_lock(target: Path) -> Iterator[None]:
    """Hold the export lock of ``target``; :class:`ExportError` at once if it is taken."""
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ExportError(
            f"another export is writing {target} right now; wait for it to finish "
            "(or stop it) before resuming"
        ) from None
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        try:
            lock.release()
        except OSError:
            # The export's own error (already propagating) is the one the user must see.
            if not failed:
                raise
            logger.debug("could not release the export lock %s", path, exc_info=True)
