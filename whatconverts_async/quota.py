"""Daily budgets shared beyond one client: across runs of the command line on one machine.

:class:`FileQuota` keeps today's count in a small JSON file guarded by an advisory lock,
so successive (or parallel) ``whatconverts`` commands on one machine spend one budget.
The file holds the UTC day and a count, never a credential.

Example::

    quota = FileQuota(Path("~/.cache/whatconverts-async/quota-main.json").expanduser(), 1000)
    async with WhatConverts(token, secret, quota=quota) as wc:
        ...
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import date, datetime
from pathlib import Path

from .throttle import Clock, SystemClock, next_utc_midnight

__all__ = ["FileQuota"]


class FileQuota:
    """A daily budget stored in a file, safe for several processes on one machine."""

    def __init__(self, path: Path, limit: int, *, clock: Clock | None = None) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"daily_limit must be an integer >= 0, got {limit!r}")
        self.path = path
        self._limit = limit
        self._clock: Clock = clock or SystemClock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _today(self) -> date:
        return self._clock.now().date()

    def _read(self, handle: int) -> int:
        os.lseek(handle, 0, os.SEEK_SET)
        raw = os.read(handle, 4096)
        try:
            state = json.loads(raw) if raw else {}
        except ValueError:
            state = {}
        if not isinstance(state, dict) or state.get("day") != self._today().isoformat():
            return 0
        used = state.get("used", 0)
        return used if isinstance(used, int) and used >= 0 else 0

    def _write(self, handle: int, used: int) -> None:
        data = json.dumps({"day": self._today().isoformat(), "used": used}).encode()
        os.lseek(handle, 0, os.SEEK_SET)
        os.ftruncate(handle, 0)
        os.write(handle, data)

    def _locked(self, take: bool) -> tuple[int, bool]:
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            used = self._read(handle)
            granted = take and used < self._limit
            if granted:
                used += 1
                self._write(handle, used)
            return used, granted
        finally:
            os.close(handle)

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        return self._limit

    @property
    def used(self) -> int:
        """Requests spent today by every user of this file."""
        return self._locked(take=False)[0]

    @property
    def remaining(self) -> int:
        """Requests left today."""
        return max(0, self._limit - self.used)

    @property
    def resets_at(self) -> datetime:
        """The next UTC midnight."""
        return next_utc_midnight(self._clock.now())

    async def try_acquire(self) -> bool:
        """Take one request from today's budget if any is left."""
        return self._locked(take=True)[1]

    def __repr__(self) -> str:
        return f"FileQuota(path={str(self.path)!r}, limit={self._limit})"
