"""The daily request budget: clocks, quotas, and what "spent" means.

WhatConverts allows 1,000 requests a day per profile key and 10,000 per master key
(:data:`DAILY_LIMITS`), refilled at midnight UTC. The budget is *not* a rate:
``AsyncLimiter(1000, 86400)`` would let the whole day out in a second and then drip. So
a quota is a counter that refills in full at each UTC midnight:

* :class:`LocalQuota`: in memory, one process (the client's default).
* :class:`FileQuota`: a small JSON file written atomically and read fail-closed, so
  successive or parallel ``whatconverts`` commands on one machine spend one budget.
* :class:`RedisQuota`: one budget shared by processes and machines through Redis; the
  day comes from Redis's clock and the count never goes backwards within a day.

Every quota can be marked spent until the next UTC midnight (:meth:`Quota.mark_spent`),
which the request path does when the server says the key's day is used up. None of them
holds a credential of the WhatConverts API.

Example::

    quota = LocalQuota(limit=1000)
    if await quota.try_acquire():
        ...  # send exactly one request
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

import platformdirs
import yarl

from .errors import (
    InvalidParameterError,
    QuotaExhaustedError,
    QuotaStateError,
    QuotaUnavailableError,
)

__all__ = [
    "DAILY_LIMITS",
    "Clock",
    "FastClock",
    "FileQuota",
    "LocalQuota",
    "Quota",
    "QuotaUnavailableError",
    "RedisQuota",
    "SystemClock",
    "check_daily_limit",
    "daily_limit_for",
    "default_state_dir",
    "next_utc_midnight",
    "spent_error",
    "wait_for_reset",
]

logger = logging.getLogger("whatconverts_async")

#: Requests per UTC day the API allows, by key type.
DAILY_LIMITS: Mapping[str, int] = MappingProxyType({"profile": 1_000, "master": 10_000})


def check_daily_limit(limit: object, parameter: str = "daily_limit") -> int:
    """Return ``limit`` if it is an integer >= 0, else raise :class:`InvalidParameterError`.

    >>> check_daily_limit(50)
    50
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidParameterError(parameter, f"must be an integer >= 0, got {limit!r}")
    return limit


def daily_limit_for(key_type: str, daily_limit: object = None) -> int:
    """The daily budget: ``daily_limit`` when given (checked), else the key type's.

    >>> daily_limit_for("master"), daily_limit_for("profile", 50)
    (10000, 50)
    """
    if daily_limit is None:
        try:
            return DAILY_LIMITS[key_type]
        except KeyError:
            raise InvalidParameterError(
                "key_type", f"must be one of {', '.join(DAILY_LIMITS)}, got {key_type!r}"
            ) from None
    return check_daily_limit(daily_limit)


def default_state_dir() -> Path:
    """Where state files (budgets, export records and locks) live: ``$WHATCONVERTS_STATE_DIR``,
    else the user cache folder: ``$XDG_CACHE_HOME/whatconverts-async`` (``~/.cache/...``) on
    Linux, ``~/Library/Caches/whatconverts-async`` on macOS, ``%LOCALAPPDATA%`` on Windows."""
    base = os.environ.get("WHATCONVERTS_STATE_DIR")
    if base:
        return Path(base)
    return Path(platformdirs.user_cache_dir("whatconverts-async", appauthor=False))


# --- clocks -----------------------------------------------------------------------


class Clock(Protocol):
    """Where the budget reads the time and how it waits (injectable for tests)."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock: ``datetime.now(UTC)`` and ``asyncio.sleep``."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))


class FastClock:
    """A clock whose day lasts ``day_seconds`` real seconds, for testing daily resets.

    Time starts at ``start`` and runs ``86400 / day_seconds`` times faster than real
    time, so a budget that resets at midnight can be exercised in a test::

        clock = FastClock(day_seconds=2.0, start=datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
        wc = WhatConverts(token, secret, daily_limit=3, on_quota_exhausted="wait", clock=clock)

    Pass ``clock.now`` to the simulator so both sides agree on the date.
    """

    def __init__(self, day_seconds: float, start: datetime | None = None) -> None:
        if day_seconds <= 0:
            raise ValueError(f"day_seconds must be > 0, got {day_seconds!r}")
        self.scale = 86400.0 / day_seconds
        self._start = start or datetime.now(timezone.utc)
        if self._start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """The artificial current instant."""
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.scale)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of artificial time (a fraction of that in real time)."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)


def next_utc_midnight(now: datetime) -> datetime:
    """The first UTC midnight strictly after ``now``.

    >>> next_utc_midnight(datetime(2026, 3, 1, 15, 0, tzinfo=timezone.utc)).isoformat()
    '2026-03-02T00:00:00+00:00'
    """
    now = now.astimezone(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)


# --- the protocol and what "spent" means ------------------------------------------------


@runtime_checkable
class Quota(Protocol):
    """A daily request budget. The in-memory :class:`LocalQuota` is the default.

    Implementations must make ``try_acquire`` atomic across every user of the budget.
    ``used``/``remaining``/``resets_at`` may be the last known values for a shared quota.
    """

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        ...

    @property
    def used(self) -> int:
        """Requests spent today."""
        ...

    @property
    def remaining(self) -> int:
        """Requests left today."""
        ...

    @property
    def resets_at(self) -> datetime:
        """When the budget refills (the next UTC midnight)."""
        ...

    async def try_acquire(self) -> bool:
        """Take one request from today's budget; False (taking nothing) if it is spent."""
        ...

    async def mark_spent(self) -> None:
        """Treat today's budget as spent until the next UTC midnight.

        Called when the server says the key's day is used up (another process or tool
        shares the key), so every user of this budget stops asking until the reset.
        """
        ...

    # Optional: ``async def refund(self) -> None`` gives back one unit taken today for a
    # request that provably never left the machine (refused connection, DNS or TLS
    # failure). The client calls it when present; without it such units stay spent.


def spent_error(quota: Quota) -> QuotaExhaustedError:
    """The error for a spent budget: its limit and when it refills."""
    return QuotaExhaustedError(quota.limit, quota.resets_at)


async def wait_for_reset(quota: Quota, clock: Clock) -> None:
    """Sleep on ``clock`` until ``quota`` refills (just past its ``resets_at``)."""
    wait = (quota.resets_at - clock.now()).total_seconds()
    # A millisecond past the instant, so the next try lands in the new day.
    await clock.sleep(max(wait, 0.0) + 0.001)


# --- LocalQuota ------------------------------------------------------------------------


class LocalQuota:
    """An in-process daily budget that refills in full at each UTC midnight.

    >>> q = LocalQuota(limit=2)
    >>> q.remaining
    2
    """

    def __init__(self, limit: int, *, clock: Clock | None = None) -> None:
        self._limit = check_daily_limit(limit)
        self._clock: Clock = clock or SystemClock()
        self._used = 0
        self._spent = False
        self._resets_at = next_utc_midnight(self._clock.now())

    def _roll(self) -> None:
        now = self._clock.now()
        if now >= self._resets_at:
            self._used = 0
            self._spent = False
            self._resets_at = next_utc_midnight(now)

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        return self._limit

    @property
    def used(self) -> int:
        """Requests spent since the last UTC midnight."""
        self._roll()
        return self._used

    @property
    def remaining(self) -> int:
        """Requests left until the next UTC midnight."""
        self._roll()
        return max(0, self._limit - self._used)

    @property
    def resets_at(self) -> datetime:
        """The next UTC midnight."""
        self._roll()
        return self._resets_at

    async def try_acquire(self) -> bool:
        """Take one request if today's budget allows it."""
        self._roll()
        if self._used >= self._limit:
            return False
        self._used += 1
        return True

    async def mark_spent(self) -> None:
        """Spend what is left of today; the budget refills at the next UTC midnight."""
        self._roll()
        self._used = max(self._used, self._limit)
        self._spent = True

    async def refund(self) -> None:
        """Give back one unit taken today for a request that never left the machine
        (not after :meth:`mark_spent`: the server said the day is gone)."""
        self._roll()
        if self._used > 0 and not self._spent:
            self._used -= 1

    def __repr__(self) -> str:
        return f"LocalQuota(limit={self._limit}, used={self.used})"


# --- small state files: atomic writes, fail-closed reads ----------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader (or a crash) sees the old or the new
    content, never a mix or an empty file: temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    # The rename itself is only durable once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An advisory lock on ``path`` (a separate lock file that is never replaced, so
    every process locks the same inode); yields False when ``blocking`` is off and
    another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class _Unreadable(Exception):
    """A state file exists but cannot be trusted (internal: becomes QuotaStateError)."""


def _read_state(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None if the file does not exist; raises
    :class:`_Unreadable` if it exists but is empty, unreadable or not a JSON object."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Unreadable(exc.strerror or type(exc).__name__) from None
    if not raw.strip():
        raise _Unreadable("empty")
    try:
        state = json.loads(raw)
    except ValueError:
        raise _Unreadable("not valid JSON") from None
    if not isinstance(state, dict):
        raise _Unreadable("not a JSON object")
    return state


# --- FileQuota ------------------------------------------------------------------------


class FileQuota:
    """A daily budget stored in a file, shared by the processes of one machine.

    The file holds ``{"day": "YYYY-MM-DD", "used": N}`` (UTC day), never a credential.
    Each take locks ``<path>.lock``, reads the count, and replaces the file atomically
    (temp, fsync, rename, fsync the directory), so a ``kill -9`` at any instant leaves
    the old count or the new one. A state file that exists but is empty, unreadable or
    not what this class wrote counts as spent: :meth:`try_acquire` raises
    :class:`~whatconverts_async.errors.QuotaStateError` naming the file and how to reset
    it, and ``used`` reads as the limit.

    The stored day never moves backwards: a process whose clock is behind the file's
    day (clocks skewed across UTC midnight, a clock stepped back) counts against the
    file's day rather than resetting it. A day more than one day ahead of the clock is
    treated as damaged (:class:`~whatconverts_async.errors.QuotaStateError`).

    Args:
        path: the state file (its directory is created).
        limit: requests per UTC day (an integer >= 0).
        clock: the clock that decides the UTC day (tests pass a fake one).
    """

    def __init__(self, path: Path, limit: int, *, clock: Clock | None = None) -> None:
        self._limit = check_daily_limit(limit)
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._clock: Clock = clock or SystemClock()
        # The day counted against at the last read: the clock's, or the file's when
        # another user's clock is ahead (see _read_used).
        self._day: date = self._clock.now().date()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _read_used(self) -> int:
        """The count of the day this process counts against; raises :class:`_Unreadable`
        for a file it cannot trust.

        That day is the later of the clock's day and the file's: the stored day never
        moves backwards, so a process whose clock is behind another user's (skew across
        UTC midnight, a clock stepped back) adds to the file's day instead of resetting
        it, and two skewed clocks cannot each start the other's day from 0.
        """
        today = self._clock.now().date()
        self._day = today
        state = _read_state(self.path)
        if state is None:
            return 0
        day, used = state.get("day"), state.get("used")
        if not isinstance(day, str) or isinstance(used, bool) or not isinstance(used, int):
            raise _Unreadable("no day and count in it")
        if used < 0:
            raise _Unreadable(f"negative count {used}")
        try:
            stored = date.fromisoformat(day)
        except ValueError:
            raise _Unreadable(f"day {day[:40]!r} is not a YYYY-MM-DD date") from None
        if stored > today + timedelta(days=1):
            # Skew across one midnight explains a day ahead; more is a damaged file or
            # a clock far off, and counting against that day would stop (or start)
            # spending for the wrong reason.
            raise _Unreadable(
                f"day {day} is more than a day ahead of this machine's UTC day {today}"
            )
        if stored < today:
            return 0
        self._day = stored
        return used

    def _write_used(self, used: int) -> None:
        # The day _read_used settled on (under the same lock), so a write never moves
        # the stored day backwards.
        data = json.dumps({"day": self._day.isoformat(), "used": used}).encode()
        write_atomically(self.path, data)

    def _state_error(self, problem: str) -> QuotaStateError:
        return QuotaStateError(self._limit, self.resets_at, str(self.path), problem)

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        return self._limit

    @property
    def used(self) -> int:
        """Requests spent today by every user of this file (the limit if it is unreadable)."""
        with _file_lock(self._lock_path):
            try:
                return self._read_used()
            except _Unreadable:
                return self._limit

    @property
    def remaining(self) -> int:
        """Requests left today."""
        return max(0, self._limit - self.used)

    def check_state(self) -> None:
        """Raise :class:`~whatconverts_async.errors.QuotaStateError` (naming the file and
        how to reset it) if the state file exists but cannot be trusted.

        ``used`` reads such a file as the limit (fail closed); a report of the budget
        calls this first so that a damaged file is not shown as a spent day.
        """
        with _file_lock(self._lock_path):
            try:
                self._read_used()
            except _Unreadable as exc:
                raise self._state_error(str(exc)) from None

    @property
    def resets_at(self) -> datetime:
        """The next UTC midnight, or the end of the file's day when that day (as last
        read) is ahead of this clock's: that is when the counted day refills."""
        now = self._clock.now()
        day_end = datetime(self._day.year, self._day.month, self._day.day, tzinfo=timezone.utc)
        return max(next_utc_midnight(now), day_end + timedelta(days=1))

    async def try_acquire(self) -> bool:
        """Take one request from today's budget if any is left.

        Raises :class:`~whatconverts_async.errors.QuotaStateError` if the file is unreadable.
        """
        with _file_lock(self._lock_path):
            try:
                used = self._read_used()
            except _Unreadable as exc:
                raise self._state_error(str(exc)) from None
            if used >= self._limit:
                return False
            self._write_used(used + 1)
            return True

    async def mark_spent(self) -> None:
        """Record today's budget as spent (count = limit) until the next UTC midnight.

        An unreadable file already counts as spent and is left for a person to inspect.
        """
        with _file_lock(self._lock_path):
            try:
                used = self._read_used()
            except _Unreadable:
                return
            if used < self._limit:
                self._write_used(self._limit)

    async def refund(self) -> None:
        """Give back one unit taken today for a request that never left the machine.

        A count at the limit is left alone: it may be :meth:`mark_spent`'s, which must
        hold until midnight (over-counting is the safe side). An unreadable file stays
        as it is.
        """
        with _file_lock(self._lock_path):
            try:
                used = self._read_used()
            except _Unreadable:
                return
            if 0 < used < self._limit:
                self._write_used(used - 1)

    def __repr__(self) -> str:
        return f"FileQuota(path={str(self.path)!r}, limit={self._limit})"


# --- RedisQuota -----------------------------------------------------------------------

# One atomic step in Redis. The day comes from Redis's own clock (TIME) unless a test
# clock's instant is passed, so workers with skewed clocks count against one day.
#   KEYS[1]  the key prefix; the count lives in "{KEYS[1]}:{YYYY-MM-DD}" and what each
#            worker was granted that day in the hash "{KEYS[1]}:{YYYY-MM-DD}:w"
#   ARGV[1]  the limit
#   ARGV[2]  "take" (one unit if the limit allows), "spend" (count = max(count, limit)),
#            "refund" (one unit back, unless the count is at the limit) or "read"
#   ARGV[3]  "" for Redis's TIME, else epoch seconds from a test clock
#   ARGV[4]  the day the worker last saw; for that day:
#   ARGV[5]  the highest count the worker saw, and
#   ARGV[6]  the units the worker was granted (or pushed), and
#   ARGV[7]  the worker's id.
#            A count below the worker's view means Redis lost its data (a restart
#            without persistence): each worker adds back what it was granted, and the
#            count is never below the highest any worker saw ("~slack" records how much
#            that floor added, so later workers' grants are not counted twice).
#   ARGV[8]  the day of ARGV[9]; ARGV[9] units spent from a local fallback share, added
#            when that day is still Redis's day
# Returns {granted, count, day, milliseconds to the reset, reseeded (0/1), pushed (0/1)}.
_SCRIPT = """
local t
if ARGV[3] == '' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) + tonumber(now[2]) / 1000000
else
  t = tonumber(ARGV[3])
end
local days = math.floor(t / 86400)
local ttl = math.max(1, math.ceil(((days + 1) * 86400 - t) * 1000))
local z = days + 719468
local era = math.floor(z / 146097)
local doe = z - era * 146097
local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
  - math.floor(doe / 146096)) / 365)
local y = yoe + era * 400
local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
local mp = math.floor((5 * doy + 2) / 153)
local d = doy - math.floor((153 * mp + 2) / 5) + 1
local m = mp < 10 and mp + 3 or mp - 9
if m <= 2 then y = y + 1 end
local day = string.format('%04d-%02d-%02d', y, m, d)
local key = KEYS[1] .. ':' .. day
local wkey = key .. ':w'
local worker = ARGV[7]
local limit = tonumber(ARGV[1])
local stored = tonumber(redis.call('GET', key) or '0')
local used = stored
local reseeded = 0
if ARGV[4] == day then
  local mine = tonumber(ARGV[6])
  local known = tonumber(redis.call('HGET', wkey, worker) or '0')
  if mine > known then
    local slack = tonumber(redis.call('HGET', wkey, '~slack') or '0')
    local absorbed = math.min(slack, mine - known)
    used = used + (mine - known) - absorbed
    redis.call('HSET', wkey, worker, mine, '~slack', slack - absorbed)
    reseeded = 1
  end
  local high = tonumber(ARGV[5])
  if high > used then
    redis.call('HINCRBY', wkey, '~slack', high - used)
    used = high
    reseeded = 1
  end
end
local pushed = 0
if ARGV[8] == day and tonumber(ARGV[9]) > 0 then
  used = used + tonumber(ARGV[9])
  redis.call('HINCRBY', wkey, worker, tonumber(ARGV[9]))
  pushed = 1
end
local granted = 0
if ARGV[2] == 'take' and used < limit then
  used = used + 1
  redis.call('HINCRBY', wkey, worker, 1)
  granted = 1
elseif ARGV[2] == 'spend' and used < limit then
  used = limit
elseif ARGV[2] == 'refund' and used > 0 and used < limit then
  used = used - 1
  redis.call('HINCRBY', wkey, worker, -1)
end
if used ~= stored then
  redis.call('SET', key, used, 'PX', ttl)
  redis.call('PEXPIRE', wkey, ttl)
end
return {granted, used, day, ttl, reseeded, pushed}
"""


def _redacted(url: str) -> str:
    """Scheme, host, port and database only: a password may sit in the user part or in
    the query string (``?password=``), so neither is ever shown."""
    parsed = yarl.URL(url)
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


class _FallbackLedger:
    """Units spent from the local fallback share that Redis has not counted yet, kept in
    a small JSON file (``{"YYYY-MM-DD": units}``) so they survive the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)

    def _read(self) -> dict[str, int]:
        try:
            state = _read_state(self.path)
        except _Unreadable as exc:
            raise QuotaUnavailableError(
                f"the fallback ledger {self.path} is unreadable ({exc}); it holds requests "
                "sent while Redis was unreachable. Add them to the Redis count by hand, then "
                "delete the file"
            ) from None
        if state is None:
            return {}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in state.values()):
            raise QuotaUnavailableError(
                f"the fallback ledger {self.path} holds something other than day counts; "
                "add them to the Redis count by hand, then delete the file"
            )
        return state

    async def add(self, day: str, units: int) -> None:
        # Never block on the lock: another task of this loop may hold it across an
        # await (see pending), and a blocking flock would stop the loop for good.
        while True:
            with _file_lock(self._lock_path, blocking=False) as locked:
                if locked:
                    state = self._read()
                    state[day] = state.get(day, 0) + units
                    write_atomically(self.path, json.dumps(state).encode())
                    return
            await asyncio.sleep(0.005)

    @contextlib.contextmanager
    def pending(self) -> Iterator[dict[str, int] | None]:
        """The units not yet pushed, locked for this process (None if another process
        is pushing them right now); the caller empties what it pushed via ``clear``."""
        with _file_lock(self._lock_path, blocking=False) as locked:
            yield self._read() if locked else None

    def clear(self) -> None:
        # Called with the lock held by pending(). A crash between the push and this
        # write counts the units twice: over-counting is the safe direction.
        write_atomically(self.path, b"{}")


class RedisQuota:
    """A daily request budget shared through Redis by every process that uses ``key_id``.

    Taking a request is one atomic Lua script. The UTC day comes from Redis's clock
    (``TIME``), so workers whose clocks differ count against the same day; the count
    lives in ``{prefix}:{key_id}:{YYYY-MM-DD}`` and expires at Redis's midnight. Each
    worker remembers the highest count it saw today: if Redis comes back with less (a
    restart without persistence), the count is re-seeded from it, so it never goes
    backwards within a day. Still, run the quota's Redis with persistence
    (``appendonly yes``): a worker that never saw the lost count cannot restore it.

    Any Redis failure (unreachable, timeout, or an error reply such as ``READONLY``
    after a failover or ``OOM``) raises :class:`QuotaUnavailableError` before anything is
    sent (fail closed), or, with ``fallback_fraction``, spends from a local share.

    Args:
        url: a Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS). A password in
            it is never logged.
        key_id: a name for the API key whose budget this is (not the token or secret).
        limit: requests per UTC day; None takes the client's (1,000 for profile keys,
            10,000 for master keys, or its ``daily_limit``).
        fallback_fraction: None (default) fails closed. A fraction such as ``0.1`` lets
            this process spend up to that share of the daily limit while Redis is
            unavailable (one share per UTC day, however often Redis comes and goes). The
            units it spends are written to ``fallback_state`` at once and added to the
            shared count when Redis is back, by this process or the next one to start.
        fallback_state: the file for those units; default
            ``{state dir}/redis-fallback-{key_id}.json`` (see :func:`default_state_dir`).
        clock: a test clock: when given, the day comes from it instead of from Redis
            (unless ``day_from="redis"``). Waiting always uses it.
        day_from: ``"redis"`` (Redis's ``TIME``) or ``"clock"``; default ``"redis"``
            unless a ``clock`` is given.
        prefix: the Redis key prefix.
        socket_timeout: seconds for connecting to and hearing from Redis.
        reconnect_after: seconds between attempts to reach Redis again while on the
            fallback share.

    ``used``/``remaining``/``resets_at`` are the values seen at the last request (or
    :meth:`refresh`).

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
        fallback_state: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        day_from: Literal["redis", "clock"] | None = None,
        prefix: str = "whatconverts:quota",
        socket_timeout: float = 5.0,
        reconnect_after: float = 30.0,
    ) -> None:
        try:
            import redis.asyncio as redis_asyncio
            import redis.exceptions as redis_exceptions
        except ImportError:  # pragma: no cover - depends on the extra
            raise ImportError(
                "RedisQuota needs redis-py: pip install 'whatconverts-async[redis]'"
            ) from None
        if not isinstance(key_id, str) or not key_id.strip() or ":" in key_id:
            raise InvalidParameterError("key_id", "must be a non-empty name without ':'")
        if limit is not None:
            check_daily_limit(limit, "limit")
        if fallback_fraction is not None and not (
            isinstance(fallback_fraction, (int, float))
            and not isinstance(fallback_fraction, bool)
            and 0 < fallback_fraction <= 1
        ):
            raise InvalidParameterError(
                "fallback_fraction", f"must be in (0, 1], got {fallback_fraction!r}"
            )
        if day_from not in (None, "redis", "clock"):
            raise InvalidParameterError("day_from", f"must be 'redis' or 'clock', got {day_from!r}")
        self.key_id = key_id
        self.url = _redacted(url)
        self._limit = limit
        self._fraction = fallback_fraction
        self._clock: Clock = clock or SystemClock()
        self._day_from_clock = (day_from or ("clock" if clock is not None else "redis")) == "clock"
        self._prefix = prefix
        self._redis: Any = redis_asyncio.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._script: Any = self._redis.register_script(_SCRIPT)
        # Every failure of the store means the same: no budget can be taken safely.
        self._errors: tuple[type[BaseException], ...] = (redis_exceptions.RedisError, OSError)
        self._ledger: _FallbackLedger | None = None
        if fallback_fraction is not None:
            self._ledger = _FallbackLedger(
                Path(fallback_state)
                if fallback_state is not None
                else default_state_dir() / f"redis-fallback-{key_id}.json"
            )
        self._check_ledger = self._ledger is not None
        # What Redis said last: its day, the count, and when the day ends on our clock.
        self._day: str | None = None
        self._used = 0
        self._resets_at: datetime | None = None
        self._highest = 0
        # What this worker was granted today, to rebuild a count Redis lost.
        self._mine = 0
        self._worker = uuid.uuid4().hex
        self._spent_until: datetime | None = None
        self._fallback: LocalQuota | None = None
        self._fallback_day: date | None = None
        self._share_used_before = 0
        self._redis_down = False
        self._retry_redis_at = 0.0
        self._reconnect_after = reconnect_after

    def set_default_limit(self, limit: int) -> None:
        """Take the client's daily limit when none was given here."""
        if self._limit is None:
            self._limit = check_daily_limit(limit)

    @property
    def limit(self) -> int:
        """Requests allowed per UTC day."""
        if self._limit is None:
            raise RuntimeError("RedisQuota has no limit yet: pass limit= or give it to a client")
        return self._limit

    def _fresh(self) -> bool:
        """Whether the last answer from Redis is still about today."""
        return self._resets_at is not None and self._clock.now() < self._resets_at

    @property
    def used(self) -> int:
        """Requests spent today by every user of this budget, as last seen.

        While Redis is unavailable and the fallback share is in use, the units this
        process spent from the share since Redis went away are added.
        """
        seen = self._used if self._fresh() else 0
        if self._redis_down and self._fallback is not None:
            return seen + max(0, self._fallback.used - self._share_used_before)
        return seen

    @property
    def remaining(self) -> int:
        """Requests left today, as last seen; on the fallback share, at most what is left of it."""
        left = max(0, self.limit - self.used)
        if self._redis_down and self._fallback is not None:
            return min(left, self._fallback.remaining)
        return left

    @property
    def resets_at(self) -> datetime:
        """When the day ends: Redis's next midnight, on this quota's clock."""
        if self._fresh():
            assert self._resets_at is not None
            return self._resets_at
        return next_utc_midnight(self._clock.now())

    async def _run(self, mode: str) -> bool:
        """Run the script once; raises one of ``self._errors`` if Redis fails."""
        now = self._clock.now()
        instant = f"{now.timestamp():.6f}" if self._day_from_clock else ""
        pending: dict[str, int] = {}
        read_ledger = False
        with contextlib.ExitStack() as stack:
            if self._ledger is not None and self._check_ledger:
                locked: dict[str, int] | None = stack.enter_context(self._ledger.pending())
                # None: another process holds the ledger; it pushes, or we do next time.
                read_ledger = locked is not None
                pending = locked or {}
            push_day, push = max(pending.items(), key=lambda kv: kv[0], default=("", 0))
            reply = await self._script(
                keys=[f"{self._prefix}:{self.key_id}"],
                args=[
                    self.limit,
                    mode,
                    instant,
                    self._day or "",
                    self._highest,
                    self._mine,
                    self._worker,
                    push_day,
                    push,
                ],
            )
            try:
                granted, used, day, ttl, reseeded, pushed = reply
                day = day.decode() if isinstance(day, bytes) else str(day)
                used, ttl = int(used), int(ttl)
            except (TypeError, ValueError):
                raise QuotaUnavailableError(
                    f"the quota store {self.url} gave an unexpected answer to the budget "
                    f"script: {type(reply).__name__} {reply!r:.80}"
                ) from None
            if pending:
                # Pushed, or from a day Redis has left behind (then nothing to add).
                assert self._ledger is not None
                self._ledger.clear()
                if pushed:
                    logger.warning(
                        "added %d requests spent while %s was unavailable to the shared count",
                        push,
                        self.url,
                    )
            if read_ledger:
                self._check_ledger = False
        if reseeded:
            logger.warning(
                "quota store %s had a count below the %d this worker saw today (a restart "
                "without persistence?); re-seeded it. Run the quota's Redis with appendonly yes",
                self.url,
                self._highest,
            )
        if day != self._day:
            self._day, self._highest, self._mine = day, 0, 0
        self._mine += int(granted) + (push if pushed else 0)
        self._used = used
        self._highest = max(self._highest, used)
        self._resets_at = self._clock.now() + timedelta(milliseconds=ttl)
        return bool(granted)

    async def refresh(self) -> int:
        """Read today's shared count from Redis; returns the requests left.

        Raises :class:`QuotaUnavailableError` if Redis fails and there is no
        ``fallback_fraction``; with one, the quota goes over to the local share (as a
        request would) and the share's units left are returned.
        """
        try:
            await self._run("read")
        except self._errors as exc:
            if self._fraction is None:
                raise self._unavailable(exc) from None
            self._went_down(exc)
            self._local_share()
            return self.remaining
        if self._redis_down:
            logger.warning("quota store %s is reachable again", self.url)
            self._redis_down = False
        return self.remaining

    async def try_acquire(self) -> bool:
        """Take one request from today's shared budget (atomically); False when spent.

        Raises :class:`QuotaUnavailableError` if Redis fails and there is no fallback.
        """
        if self._spent_until is not None:
            if self._clock.now() < self._spent_until:
                return False
            self._spent_until = None
        if self._redis_down and time.monotonic() < self._retry_redis_at:
            return await self._take_locally()
        try:
            granted = await self._run("take")
        except self._errors as exc:
            if self._fraction is None:
                raise self._unavailable(exc) from None
            self._went_down(exc)
            return await self._take_locally()
        if self._redis_down:
            logger.warning("quota store %s is reachable again", self.url)
            self._redis_down = False
        return granted

    async def mark_spent(self) -> None:
        """Mark today's shared budget spent (count = limit) for every worker.

        This process stops asking until the reset even when Redis cannot be told; a
        Redis failure here is logged, not raised.
        """
        self._spent_until = self.resets_at
        if self._fallback is not None:
            await self._fallback.mark_spent()
        try:
            await self._run("spend")
        except self._errors as exc:
            logger.warning(
                "could not mark the shared budget spent in %s (%s)", self.url, type(exc).__name__
            )
            return
        self._spent_until = self.resets_at

    async def refund(self) -> None:
        """Give back one unit for a request that never left the machine.

        Not after :meth:`mark_spent`, nor at the limit (which may be another worker's
        mark). While Redis is away the unit goes back to the local share; a Redis
        failure here is logged and the unit stays spent (the safe side).
        """
        if self._spent_until is not None and self._clock.now() < self._spent_until:
            return
        if self._redis_down:
            if self._fallback is not None and self._ledger is not None:
                await self._fallback.refund()
                await self._ledger.add(
                    self._day
                    if self._fresh() and self._day
                    else self._clock.now().date().isoformat(),
                    -1,
                )
            return
        # The worker's own view drops with the count, so the script does not re-seed it.
        self._highest, self._mine = max(0, self._highest - 1), max(0, self._mine - 1)
        try:
            await self._run("refund")
        except self._errors as exc:
            logger.warning(
                "could not give a unit back to the shared budget in %s (%s)",
                self.url,
                type(exc).__name__,
            )

    def _went_down(self, exc: BaseException) -> None:
        if not self._redis_down:
            assert self._fraction is not None
            logger.warning(
                "quota store %s unavailable (%s); spending at most %d requests of a local "
                "share today until it is back",
                self.url,
                type(exc).__name__,
                math.floor(self.limit * self._fraction),
            )
            # The last count seen from Redis already holds what earlier outages spent
            # (pushed from the ledger): only this outage's units are added to it.
            self._share_used_before = self._fallback.used if self._fallback is not None else 0
        self._redis_down = True
        self._retry_redis_at = time.monotonic() + self._reconnect_after

    def _local_share(self) -> LocalQuota:
        # One local share per UTC day, however often Redis comes and goes.
        today = self._clock.now().date()
        if self._fallback is None or self._fallback_day != today:
            assert self._fraction is not None
            share = math.floor(self.limit * self._fraction)
            self._fallback, self._fallback_day = LocalQuota(share, clock=self._clock), today
            self._share_used_before = 0
        return self._fallback

    async def _take_locally(self) -> bool:
        today = self._clock.now().date()
        granted = await self._local_share().try_acquire()
        if granted:
            assert self._ledger is not None
            # Written before the request goes out: a unit sent must never be forgotten.
            await self._ledger.add(
                self._day if self._fresh() and self._day else today.isoformat(), 1
            )
            self._check_ledger = True
        return granted

    def _unavailable(self, exc: BaseException) -> QuotaUnavailableError:
        return QuotaUnavailableError(
            f"the shared quota store {self.url} is unavailable ({type(exc).__name__}); no "
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
