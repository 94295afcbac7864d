"""Daily budgets shared beyond one client.

* :class:`RedisQuota` shares one daily budget between processes and machines (a sharded
  backfill, several services on one master key) through Redis: taking a request is one
  atomic Lua script, the count lives in a key per UTC day that expires at the reset.
  Install the extra: ``pip install 'whatconverts-async[redis]'``.
* :class:`FileQuota` keeps today's count in a small JSON file guarded by an advisory
  lock, so successive (or parallel) ``whatconverts`` commands on one machine spend one
  budget. The file holds the UTC day and a count, never a credential.

Neither holds a credential of the WhatConverts API: ``key_id`` is a name you choose.

Example::

    quota = RedisQuota("redis://localhost:6379/0", key_id="master-key-1")
    async with quota, WhatConverts(token, secret, key_type="master", quota=quota) as wc:
        ...
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import time
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yarl

from .errors import QuotaUnavailableError
from .throttle import Clock, LocalQuota, SystemClock, next_utc_midnight

__all__ = ["FileQuota", "QuotaUnavailableError", "RedisQuota"]

logger = logging.getLogger("whatconverts_async")

# Atomic in Redis: read today's count, refuse at the limit, else count one more. The
# first request of a day sets the key to expire at the reset instant.
_TAKE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
  return {0, used}
end
used = redis.call('INCR', KEYS[1])
if used == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {1, used}
"""


def _redacted(url: str) -> str:
    """Scheme, host, port and database only: a password may sit in the user part or in
    the query string (``?password=``), so neither is ever shown."""
    parsed = yarl.URL(url)
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


class RedisQuota:
    """A daily request budget shared through Redis by every process that uses ``key_id``.

    Args:
        url: a Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS). A password in
            it is never logged.
        key_id: a name for the API key whose budget this is (not the token or secret).
        limit: requests per UTC day; None takes the client's (1,000 for profile keys,
            10,000 for master keys, or its ``daily_limit``).
        fallback_fraction: None (default) fails closed with
            :class:`QuotaUnavailableError` when Redis is unreachable. A fraction such as
            ``0.1`` instead lets this process spend up to that share of the daily limit
            from a local budget while Redis is down (one share per UTC day, however often
            Redis comes and goes); what it spent is added to the shared count once Redis
            is back. Redis is tried again every ``reconnect_after`` seconds.
        clock: the clock that decides the UTC day (tests pass a fake one).
        prefix: the Redis key prefix; the count is ``{prefix}:{key_id}:{YYYY-MM-DD}``.

    ``used``/``remaining`` are the values seen at the last request (or :meth:`refresh`).

    Example::

        async with RedisQuota("redis://localhost:6379/0", key_id="agency") as quota:
            async with WhatConverts(token, secret, key_type="master", quota=quota) as wc:
                ...
    """

    def __init__(
        self,
        url: str,
        *,
        key_id: str,
        limit: int | None = None,
        fallback_fraction: float | None = None,
        clock: Clock | None = None,
        prefix: str = "whatconverts:quota",
        socket_timeout: float = 5.0,
        reconnect_after: float = 30.0,
    ) -> None:
        try:
            import redis.asyncio as redis_asyncio
        except ImportError:  # pragma: no cover - depends on the extra
            raise ImportError(
                "RedisQuota needs redis-py: pip install 'whatconverts-async[redis]'"
            ) from None
        if not isinstance(key_id, str) or not key_id.strip() or ":" in key_id:
            raise ValueError("key_id must be a non-empty name without ':'")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"limit must be an integer >= 0, got {limit!r}")
        if fallback_fraction is not None and not 0 < fallback_fraction <= 1:
            raise ValueError(f"fallback_fraction must be in (0, 1], got {fallback_fraction!r}")
        self.key_id = key_id
        self.url = _redacted(url)
        self._limit = limit
        self._fraction = fallback_fraction
        self._clock: Clock = clock or SystemClock()
        self._prefix = prefix
        self._redis: Any = redis_asyncio.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._script: Any = self._redis.register_script(_TAKE)
        self._errors: tuple[type[BaseException], ...] = (
            redis_asyncio.ConnectionError,
            redis_asyncio.TimeoutError,
            OSError,
        )
        self._used = 0
        self._day: date | None = None
        self._fallback: LocalQuota | None = None
        self._fallback_day: date | None = None
        self._unsynced = 0
        self._redis_down = False
        self._retry_redis_at = 0.0
        self._reconnect_after = reconnect_after

    def set_default_limit(self, limit: int) -> None:
        """Take the client's daily limit when none was given here."""
        if self._limit is None:
            self._limit = limit

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        if self._limit is None:
            raise RuntimeError("RedisQuota has no limit yet: pass limit= or give it to a client")
        return self._limit

    def _key(self, day: date) -> str:
        return f"{self._prefix}:{self.key_id}:{day.isoformat()}"

    def _roll(self) -> date:
        today = self._clock.now().date()
        if today != self._day:
            self._day = today
            self._used = 0
        return today

    @property
    def used(self) -> int:
        """Requests spent today by every user of this budget, as last seen."""
        self._roll()
        return self._used

    @property
    def remaining(self) -> int:
        """Requests left today, as last seen."""
        return max(0, self.limit - self.used)

    @property
    def resets_at(self) -> datetime:
        """The next UTC midnight."""
        return next_utc_midnight(self._clock.now())

    async def refresh(self) -> int:
        """Read today's shared count from Redis; returns the requests left."""
        today = self._roll()
        try:
            raw = await self._redis.get(self._key(today))
        except self._errors as exc:
            raise self._unavailable(exc) from None
        self._used = int(raw or 0)
        return self.remaining

    async def try_acquire(self) -> bool:
        """Take one request from today's shared budget (atomically); False when spent."""
        today = self._roll()
        if self._fallback_day != today:
            self._fallback, self._fallback_day, self._unsynced = None, today, 0
        if self._redis_down and time.monotonic() < self._retry_redis_at:
            return await self._take_locally()
        now = self._clock.now()
        ttl = max(1, math.ceil((next_utc_midnight(now) - now).total_seconds()))
        key = self._key(today)
        try:
            if self._unsynced:
                # What was spent while Redis was away counts against the shared budget.
                await self._redis.incrby(key, self._unsynced)
                await self._redis.expire(key, ttl)
                self._unsynced = 0
            granted, used = await self._script(keys=[key], args=[self.limit, ttl])
        except self._errors as exc:
            if self._fraction is None:
                raise self._unavailable(exc) from None
            self._went_down(exc)
            return await self._take_locally()
        if self._redis_down:
            logger.warning("quota store %s is reachable again", self.url)
            self._redis_down = False
        self._used = int(used)
        return bool(granted)

    def _went_down(self, exc: BaseException) -> None:
        if not self._redis_down:
            assert self._fraction is not None
            logger.warning(
                "quota store %s unreachable (%s); spending at most %d requests of a local "
                "share today until it is back",
                self.url,
                type(exc).__name__,
                math.floor(self.limit * self._fraction),
            )
        self._redis_down = True
        self._retry_redis_at = time.monotonic() + self._reconnect_after

    async def _take_locally(self) -> bool:
        # One local share per UTC day, however often Redis comes and goes.
        if self._fallback is None:
            assert self._fraction is not None
            share = math.floor(self.limit * self._fraction)
            self._fallback = LocalQuota(share, clock=self._clock)
        granted = await self._fallback.try_acquire()
        if granted:
            self._unsynced += 1
        return granted

    def _unavailable(self, exc: BaseException) -> QuotaUnavailableError:
        return QuotaUnavailableError(
            f"the shared quota store {self.url} is unreachable ({type(exc).__name__}); no "
            "request was sent. Fix Redis, or pass fallback_fraction to run on a local share"
        )

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._redis.aclose()

    async def __aenter__(self) -> RedisQuota:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisQuota(url={self.url!r}, key_id={self.key_id!r}, limit={self._limit})"


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
