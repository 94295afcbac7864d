"""``LeadMirror``: keep a SQL database in step with WhatConverts, exactly once, within budget."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .. import SystemClock
from ..errors import (
    APIConnectionError,
    CertificateError,
    FilterNotAppliedError,
    InvalidParameterError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    QuotaExhaustedError,
    QuotaUnavailableError,
    RateLimitError,
    ServerError,
    WebhookError,
    WhatConvertsError,
)
from ..models import Lead
from ..params import to_utc_datetime
from ..scan import split_windows
from . import schema
from ._bulk import BulkUpsert
from .plan import WINDOW_DAYS, LeadCounts, RefreshPlan, TierCost
from .records import changed_fields, lead_row, merge_webhook, strip_nul

if TYPE_CHECKING:
    from ..client import WhatConverts
    from ..webhooks import WebhookEvent

__all__ = [
    "LeadChange",
    "LeadMirror",
    "MirrorBusyError",
    "MirrorError",
    "MirrorStatus",
    "ScanProgress",
    "ScanState",
    "SyncReport",
    "database_url",
    "transient",
]

logger = logging.getLogger("whatconverts_async.mirror")

UTC = timezone.utc
_CHUNK = 500  # ids per IN (...) list: well under SQLite's and asyncpg's parameter limits
_UPSERT_BATCH = 2500  # rows per executemany: a whole page
Source = Literal["backfill", "refresh", "webhook", "confirm"]
_WRITE_OPTION = "whatconverts_mirror_write"


class MirrorError(WhatConvertsError):
    """The mirror cannot go on: a database in an unexpected state or an API answer the
    mirror's guarantees depend on that broke an assumption (named in the message)."""


class MirrorBusyError(MirrorError):
    """Another writer holds this key name and scope (see :class:`LeadMirror`)."""


class _Clock(Protocol):
    def now(self) -> datetime: ...


@attrs.define
class LeadChange:
    """One observed change: ``fields`` maps each changed wire field to ``[old, new]``."""

    lead_id: int
    source: str
    fields: dict[str, list[Any]]


@attrs.define
class SyncReport:
    """What one operation did.

    ``inserted``/``updated``/``unchanged`` count leads read; ``stale`` counts copies older
    (by ``last_updated``) than the stored row, which were not written; ``missing`` leads newly
    absent from a complete scan; ``tombstoned`` leads a ``GET`` confirmed gone; ``requests``
    the API requests this operation sent (retries included; of them ``confirm_requests``
    were ``GET`` requests confirming missing leads); ``planned_requests`` what the refresh
    plan computed for a refresh's scan from the leads the mirror held in its window
    (``None`` when unknown: no data covered yet, or a resumed scan) — the scan's requests
    equal it unless leads arrived or vanished meanwhile, or a request was retried. Requests
    are counted by the client that sent them, so requests of other clients sharing the
    daily budget are not in it; ``budget_left`` is what the (possibly shared) daily budget
    has left afterwards; ``complete`` is ``False``
    when the daily budget ran out first (everything committed stays; the next run
    resumes); ``note`` a warning the user must see (a refresh on a database no backfill
    covers: the past is not mirrored), also in :meth:`summary`; ``changes`` lists the
    first ``max_changes`` observed changes.

    The client's count covers every task using it: run other work on the same client
    meanwhile and its requests are counted here too.
    """

    operation: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    missing: int = 0
    tombstoned: int = 0
    requests: int = 0
    confirm_requests: int = 0
    pages: int = 0
    complete: bool = True
    budget_left: int | None = None
    planned_requests: int | None = None
    note: str | None = None
    window: tuple[datetime, datetime] | None = None
    tiers: tuple[str, ...] = ()
    changes: list[LeadChange] = attrs.field(factory=list)
    max_changes: int = 1000

    def summary(self) -> str:
        """One line: ``inserted 5, updated 2, unchanged 97, ... requests 3, budget left 997``."""
        parts = [
            f"{self.operation}: inserted {self.inserted}",
            f"updated {self.updated}",
            f"unchanged {self.unchanged}",
        ]
        for name in ("stale", "missing", "tombstoned"):
            if getattr(self, name):
                parts.append(f"{name} {getattr(self, name)}")
        confirming = f" ({self.confirm_requests} confirming)" if self.confirm_requests else ""
        parts.append(f"requests {self.requests}{confirming}")
        if self.budget_left is not None:
            parts.append(f"budget left {self.budget_left}")
        if not self.complete:
            parts.append("INCOMPLETE: daily budget spent, run again to resume")
        if self.note:
            parts.append(f"NOTE: {self.note}")
        return ", ".join(parts)


@attrs.frozen
class ScanProgress:
    """Passed to ``on_progress`` after each committed page."""

    scan: str
    pages: int
    leads: int
    requests: int
    window_start: datetime
    window_end: datetime
    cursor_at: datetime | None


@attrs.frozen
class ScanState:
    """A row of ``mirror_scans``: one scan's window, cursor and counters."""

    scan: str
    status: str
    window_start: datetime
    window_end: datetime
    cursor_at: datetime | None
    cursor_ids: tuple[int, ...]
    pages: int
    leads_seen: int
    requests: int
    started_at: datetime
    finished_at: datetime | None
    tiers: tuple[str, ...]


@attrs.frozen
class MirrorStatus:
    """What is covered, when, what it cost, and the refresh plan with its daily cost.

    ``hidden`` counts leads the list leaves out that a confirming ``GET`` found (see
    ``recheck_hidden`` of :class:`LeadMirror`).
    """

    database: str
    schema_version: int
    key_name: str
    scope: str
    leads: int
    missing: int
    tombstones: int
    scans: tuple[ScanState, ...]
    leads_per_day: float | None
    plan: tuple[TierCost, ...]
    daily_requests: float
    daily_limit: int | None
    budget_left: int | None
    writer: str | None
    hidden: int = 0

    def render(self) -> str:
        """A few human-readable lines (what ``whatconverts mirror status`` prints)."""
        lines = [
            f"database {self.database} (schema {self.schema_version}), "
            f"key {self.key_name}, scope {self.scope}",
            f"leads {self.leads:,} (missing {self.missing:,}, tombstones {self.tombstones:,}, "
            f"hidden from the list but found by GET {self.hidden:,})",
        ]
        last_pass: dict[str, datetime] = {}
        for s in self.scans:
            # Bookkeeping rows: the covered range and each tier's last pass, shown below
            # in words rather than as scans.
            if s.scan == "covered":
                lines.append(
                    f"covered: leads created {_fmt(s.window_start)} to {_fmt(s.window_end)}"
                )
                continue
            if s.scan.startswith("tier:"):
                if s.finished_at is not None:
                    last_pass[s.scan[5:]] = s.finished_at
                continue
            state = s.status
            if state == "running" and not self.writer:
                state = f"interrupted (run {s.scan} again to continue)"
            cursor = "" if s.cursor_at is None else f", read up to {_fmt(s.cursor_at)}"
            done = "" if s.finished_at is None else f", finished {_fmt(s.finished_at)}"
            lines.append(
                f"scan {s.scan}: {state}, leads created {_fmt(s.window_start)} to "
                f"{_fmt(s.window_end)}{cursor}{done}, {s.leads_seen:,} leads, "
                f"{s.requests:,} requests"
            )
        rate = "unknown" if self.leads_per_day is None else f"{self.leads_per_day:,.1f}"
        lines.append(f"refresh plan ({rate} leads/day over the last weeks):")
        for c in self.plan:
            every = _every(c.tier.every)
            what = f"  {c.tier.name}: last {c.tier.days} days, re-read every {every}"
            if c.covered_by:
                how = f"done by {c.covered_by}'s pass, which reads {c.days} days"
            else:
                wider = (
                    f"reads {c.days} days (as many as fit in one request), "
                    if c.days > c.tier.days
                    else ""
                )
                how = (
                    f"{wider}{c.requests_per_pass} request(s) a pass, {c.requests_per_day:g} a day"
                )
            done_at = last_pass.get(c.tier.name)
            last = "" if done_at is None else f" (last done {_fmt(done_at)})"
            lines.append(f"{what}: {how}{last}")
        limit = "" if self.daily_limit is None else f" of a daily limit of {self.daily_limit:,}"
        lines.append(f"plan cost: {self.daily_requests:g} requests/day{limit}")
        if self.budget_left is not None:
            lines.append(f"budget left today: {self.budget_left:,}")
        if self.writer:
            lines.append(f"writer: {self.writer}")
        return "\n".join(lines)


def _every(period: timedelta) -> str:
    hours = period.total_seconds() / 3600
    if hours == 1:
        return "hour"
    if hours >= 24 and hours % 24 == 0:
        return "day" if hours == 24 else f"{hours / 24:g} days"
    return f"{hours:g} hours" if hours >= 1 else f"{hours * 60:g} minutes"


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SECRET_QUERY = ("password", "passwd", "pwd", "secret", "token", "key")


def shown_url(url: URL) -> str:
    """``url`` as text safe to print: the password masked, and any query parameter whose name
    suggests a credential (``?password=``, ``sslpassword``, ``token``...) masked too.

    >>> from sqlalchemy.engine import make_url
    >>> shown_url(make_url("postgresql+asyncpg://u@db/crm?password=pw&sslmode=require"))
    'postgresql+asyncpg://u@db/crm?password=%2A%2A%2A&sslmode=require'
    """
    query = {
        name: ("***" if any(word in name.lower() for word in _SECRET_QUERY) else value)
        for name, value in url.query.items()
    }
    return url.set(query=query).render_as_string(hide_password=True)


def database_url(url: str | URL) -> URL:
    """The async SQLAlchemy URL for ``url``: a plain file path or ``sqlite:///...`` becomes
    ``sqlite+aiosqlite:///...``, ``postgresql://``/``postgres://`` become
    ``postgresql+asyncpg://``; a URL naming its driver is kept.

    >>> database_url("leads.db").render_as_string()
    'sqlite+aiosqlite:///leads.db'
    >>> database_url("postgresql://u:pw@db/crm")   # the password is never shown
    postgresql+asyncpg://u:***@db/crm
    """
    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str) or not url.strip():
            raise InvalidParameterError("url", "must be a database URL or a file path")
        if "://" not in url:
            parsed = URL.create("sqlite+aiosqlite", database=url)
        else:
            try:
                parsed = make_url(url)
            except Exception:
                # The text may hold a password: never echo it.
                raise InvalidParameterError("url", "is not a valid database URL") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InvalidParameterError("url", "must name a SQLite file (not in-memory)")
        if driver not in ("", "aiosqlite"):
            raise InvalidParameterError(
                "url",
                f"the {driver!r} driver is synchronous: use sqlite:///PATH or a file path "
                "(the mirror picks aiosqlite)",
            )
        _refuse_sqlite_query(parsed)
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        if driver not in ("", "asyncpg", "psycopg"):
            raise InvalidParameterError(
                "url",
                f"the {driver!r} driver is synchronous: use postgresql://... "
                "(the mirror picks asyncpg)",
            )
        if driver in ("", "asyncpg"):
            parsed = _asyncpg_query(parsed)
        return parsed.set(drivername=f"postgresql+{driver or 'asyncpg'}")
    raise InvalidParameterError(
        "url", f"must be a SQLite or PostgreSQL URL, got the {backend!r} backend"
    )


# libpq's sslmode values, which asyncpg's ``ssl`` takes as they are.
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Query options asyncpg's connect() takes (after the libpq names are translated).
_ASYNCPG_OPTIONS = (
    "ssl",
    "timeout",
    "command_timeout",
    "prepared_statement_cache_size",
    "target_session_attrs",
    "host",
    "port",
    "user",
    "password",
    "passfile",
)
_MULTI_OPTIONS = ("host", "port")  # repeatable: several hosts


def _asyncpg_query(url: URL) -> URL:
    """``url`` with libpq's query options translated for asyncpg (``sslmode`` → ``ssl``,
    ``connect_timeout`` → ``timeout``); any other option asyncpg does not take (it would
    fail at connect time with a ``TypeError``) raises ``InvalidParameterError("url")``
    naming the option, never a value (one may be a password)."""
    query = dict(url.query)
    for libpq, ours in (("sslmode", "ssl"), ("connect_timeout", "timeout")):
        if libpq in query:
            if ours in query:
                raise InvalidParameterError(
                    "url", f"the query options {libpq} and {ours} mean the same: give one"
                )
            query[ours] = query.pop(libpq)
    for name, value in query.items():
        if name not in _ASYNCPG_OPTIONS:
            raise InvalidParameterError(
                "url",
                f"the query option {name!r} is not one the mirror's PostgreSQL driver "
                f"(asyncpg) takes; it takes sslmode, connect_timeout and "
                f"{', '.join(_ASYNCPG_OPTIONS)}",
            )
        if isinstance(value, tuple) and name not in _MULTI_OPTIONS:
            raise InvalidParameterError("url", f"the query option {name!r} is given twice")
    ssl = query.get("ssl")
    if ssl is not None and ssl not in _SSLMODES:
        raise InvalidParameterError(
            "url", f"sslmode (or ssl) must be one of {', '.join(_SSLMODES)}, got {ssl!r}"
        )
    for name in ("timeout", "command_timeout"):
        text = query.get(name)
        if text is None:
            continue
        try:
            seconds = float(str(text))
        except ValueError:
            seconds = float("nan")
        if not 0 < seconds < float("inf"):
            shown = "connect_timeout (or timeout)" if name == "timeout" else name
            raise InvalidParameterError(
                "url", f"{shown} must be a number of seconds > 0, got {text!r}"
            )
    return url.set(query=query)


def _numeric_connect_args(url: URL) -> dict[str, float]:
    """asyncpg's numeric query options as numbers (SQLAlchemy passes them on as text, and
    asyncpg compares them with numbers)."""
    if url.drivername != "postgresql+asyncpg":
        return {}
    return {
        name: float(str(url.query[name]))
        for name in ("timeout", "command_timeout")
        if name in url.query
    }


def _refuse_sqlite_query(url: URL) -> None:
    """SQLite URLs take no query options: the driver would ignore most of them without a
    word (``?mode=ro`` does not make the file read-only), and the mirror sets the
    connection options it needs itself."""
    if url.query:
        names = ", ".join(sorted(url.query))
        raise InvalidParameterError(
            "url",
            f"a SQLite URL takes no query options (got {names}): they would be ignored; "
            "give the file path alone",
        )


def _setup_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event below start transactions (pysqlite's own implicit
        # BEGIN is deferred, and two deferred writers deadlock instead of waiting).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the write lock up front, so they wait on busy_timeout instead of
        # failing later; readers take none and never block a writer (WAL).
        immediate = conn.get_execution_options().get(_WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def _enable_wal(engine: AsyncEngine, timeout: float) -> None:
    """Put the SQLite file in WAL mode (it stays so: the mode is kept in the file).

    Changing the mode needs the file to itself, and SQLite answers "database is locked" at
    once, without waiting on ``busy_timeout``, when two connections try it together (two
    mirrors opening a fresh file): so wait and try again here, up to ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.005
    while True:
        try:
            async with engine.connect() as conn:
                # The driver's own connection: SQLAlchemy would open a transaction first,
                # and the mode cannot change inside one.
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                async with driver.execute("PRAGMA journal_mode=WAL") as cursor:
                    await cursor.fetchall()
            return
        except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
            orig = getattr(exc, "orig", exc)
            if "locked" not in str(orig) and "busy" not in str(orig):
                raise
            if loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.25)


def _db_problem(exc: BaseException) -> str:
    """The database's own words for ``exc``, without SQLAlchemy's SQL text and links."""
    orig = getattr(exc, "orig", None)
    if orig is not None:
        return f"{type(orig).__name__}: {orig}"
    return f"{type(exc).__name__}: {exc}".split("\n")[0]


async def _despite_cancel(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even when the caller is cancelled (Ctrl-C), then pass the
    cancellation on: a write transaction cut off half way would hold SQLite's write lock
    past the point where the lease is released."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task
        raise


# How far past now a webhook's date_created may lie (clock skew between hosts).
_FUTURE_SLACK = timedelta(days=1)


def _not_a_lead(lead_id: int) -> Exception:
    return WebhookError(
        f"not a lead delivery: lead {lead_id} is not in the mirror and the body has no date_created"
    )


def _strip_nul_rows(rows: list[dict[str, Any]]) -> None:
    """PostgreSQL only: typed columns of ``rows`` lose their NUL characters (``text`` and
    ``jsonb`` cannot hold one; ``record`` keeps the exact value), one warning per lead
    naming the columns, never the values."""
    for row in rows:
        names = strip_nul(row)
        if names:
            logger.warning(
                "lead %s: NUL characters removed from the column(s) %s (PostgreSQL cannot "
                "store them there); the record column keeps the exact value",
                row["lead_id"],
                ", ".join(names),
            )


def _ahead_of_clock(lead_id: int, stored: datetime, now: datetime) -> bool:
    """Whether a stored ``last_updated`` lies more than a day after ``now`` (the mirror's
    clock): such a value cannot be a real edit time, and letting it win "newer wins" would
    pin that copy against every later correction, so it does not count (a warning says so)."""
    if stored <= now + _FUTURE_SLACK:
        return False
    logger.warning(
        "lead %s: the stored last_updated %s is more than a day after now; it does not "
        "count as newer, the copy read now replaces it",
        lead_id,
        _fmt(stored),
    )
    return True


def _after_a_day(
    stored: sa.ColumnElement[Any], synced: sa.ColumnElement[Any], dialect: str
) -> sa.ColumnElement[bool]:
    """SQL for ``stored > synced + 1 day`` (the upsert's guard; no bind parameters, so
    the compiled statement binds exactly one parameter per column)."""
    if dialect == "postgresql":
        return stored > synced + sa.literal_column("interval '1 day'", sa.Interval())
    # SQLite keeps times as naive UTC text, which compares in time order.
    return stored > sa.func.datetime(synced, sa.literal_column("'+1 day'"))


def _refuse_after_today(end: datetime | None, now: datetime) -> None:
    """A backfill's ``end_date`` may not lie after today (UTC), like an export's: the
    covered range would claim leads that do not exist yet."""
    today = now.date()
    if end is not None and end.date() > today:
        raise InvalidParameterError(
            "end_date",
            f"is after today ({today.isoformat()} UTC), got {_fmt(end)}; a backfill covers "
            "what exists now: omit end_date to read up to now (refresh keeps it current)",
        )


def _resumed_note(state: ScanState) -> str:
    """What a refresh that finishes an interrupted one says: it ran that window and its
    tiers, not the tiers (or ``force``) asked for now."""
    tiers = ", ".join(state.tiers) or "none"
    return (
        f"finished the refresh interrupted earlier (leads created {_fmt(state.window_start)} "
        f"to {_fmt(state.window_end)}, tiers {tiers}) instead of choosing tiers now; run "
        "refresh again for the tiers due now"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _as_start(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise InvalidParameterError(name, f"must be an ISO 8601 date, got {value!r}") from None
    return to_utc_datetime(value, name).replace(microsecond=0)


class LeadMirror:
    """Keep a SQL table of leads in step with the API: backfill, refresh by plan, webhooks.

    Args:
        wc: an open :class:`~whatconverts_async.WhatConverts` client (only its public API
            is used).
        url: a SQLite file path, a ``sqlite:///`` or ``postgresql://`` URL (the async
            driver is chosen for you), or an ``AsyncEngine`` you own.
        key_name: names the API key in the sync state when several keys feed one database.
        account_id, profile_id: with a master key, mirror one account or profile; the scope
            is then ``account:<id>`` or ``profile:<id>``, else ``key`` (all the key sees).
        plan: the :class:`~whatconverts_async.mirror.plan.RefreshPlan` (default tiers: 2
            days hourly, 7 days six-hourly, 35 days daily).
        daily_budget: requests a day the refresh plan may cost; the lowest tiers are dropped
            until it fits (default: the client's daily limit).
        change_log: write ``mirror_changes`` rows (default on).
        prefetch: requests in flight at once. The next page is read and its rows built
            while the previous page commits, so a crash re-spends at most ``prefetch + 1``
            requests (the page whose commit was cut off and those read after it; default 1:
            two); more is faster on slow links.
        page_size: leads per request (default and most 2,500); smaller pages only make
            smaller transactions at the cost of more requests.
        lease_seconds: how long the writer's lease lasts without renewal (renewed every
            third of it while working).
        confirm_limit: most ``GET`` requests per refresh to confirm missing leads.
        recheck_hidden: how long a lead the list leaves out but a confirming ``GET`` found
            (``hidden_confirmed_at``) is left alone before it is confirmed again (default a
            day; ``timedelta(0)``: at every refresh). A refresh thus costs its plan's
            requests plus at most ``confirm_limit`` confirming ``GET`` requests, and a
            hidden lead costs one ``GET`` per ``recheck_hidden``, not one per refresh.
        clock: ``now()`` source (tests); default the system clock.

    Guarantees:

    * **Exactly once.** Each page's rows and the scan cursor (last ``date_created`` and the
      ids at that second) commit in one transaction: after ``kill -9`` the next run resumes
      after the last committed page; at most ``prefetch + 1`` fetched, uncommitted pages
      are fetched again (the page whose commit was cut off and those read after it). Pages
      commit in order, one at a time. A lead is written only when its content hash changed.
    * **Newer wins.** A copy whose ``last_updated`` is older than the stored one is not
      written (counted ``stale``). On equal ``last_updated`` the copy written last wins: the
      API is not known to bump ``last_updated`` for every change, and the next refresh
      heals a stale equal copy. A stored ``last_updated`` more than a day after the
      mirror's clock (UTC now) is no real edit time: it does not win (a warning names the
      lead), so such a copy cannot block later corrections.
    * **NUL characters** (valid JSON ``\\u0000``) are kept exactly in ``record``; on
      PostgreSQL, whose ``text`` and ``jsonb`` cannot hold them, the typed columns hold the
      value with NUL removed (a warning names the lead and the columns, not the values).
    * **One writer per key name and scope**: a lease row in ``mirror_leases``; a second
      writer gets :class:`MirrorBusyError`. A lease left by a killed process on this host
      is taken over at once; one from another host once it expires. Webhooks need no lease
      (every write is guarded by the hash and ``last_updated`` rules).
    * **Deletions are never guessed**: a lead absent from a complete refresh window gets
      ``missing_since``; only a ``GET`` answering "not found" sets ``deleted_at``. Rows are
      never deleted.

    Example::

        async with WhatConverts.from_env() as wc, LeadMirror(wc, "leads.db") as mirror:
            await mirror.backfill(start_date=date(2015, 1, 1))
            report = await mirror.refresh()
            print(report.summary())
    """

    def __init__(
        self,
        wc: WhatConverts,
        url: str | URL | AsyncEngine,
        *,
        key_name: str = "default",
        account_id: int | None = None,
        profile_id: int | None = None,
        plan: RefreshPlan | None = None,
        daily_budget: int | None = None,
        change_log: bool = True,
        prefetch: int = 1,
        page_size: int = 2500,
        lease_seconds: float = 300.0,
        confirm_limit: int = 50,
        recheck_hidden: timedelta = timedelta(days=1),
        clock: _Clock | None = None,
        busy_timeout: float = 30.0,
    ) -> None:
        if not callable(getattr(getattr(wc, "leads", None), "iterate_pages", None)):
            raise InvalidParameterError("wc", "must be a WhatConverts client")
        if isinstance(url, AsyncEngine):
            self._engine: AsyncEngine | None = url
            self._url = url.url
            self._owns_engine = False
        else:
            self._url = database_url(url)
            self._engine = None
            self._owns_engine = True
        if not isinstance(key_name, str) or not key_name.strip() or len(key_name) > 100:
            raise InvalidParameterError("key_name", "must be non-empty text of at most 100 chars")
        if account_id is not None and profile_id is not None:
            raise InvalidParameterError("profile_id", "cannot be combined with account_id")
        self._filters: dict[str, Any] = {}
        self.scope = "key"
        for name, value in (("account_id", account_id), ("profile_id", profile_id)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise InvalidParameterError(name, f"must be a positive integer, got {value!r}")
                self._filters[name] = value
                self.scope = f"{name[:-3]}:{value}"
        if plan is not None and not isinstance(plan, RefreshPlan):
            raise InvalidParameterError("plan", "must be a RefreshPlan")
        for name, number, low in (
            ("prefetch", prefetch, 1),
            ("confirm_limit", confirm_limit, 0),
            ("page_size", page_size, 1),
        ):
            if isinstance(number, bool) or not isinstance(number, int) or number < low:
                raise InvalidParameterError(name, f"must be an integer >= {low}, got {number!r}")
        if daily_budget is not None and (
            isinstance(daily_budget, bool) or not isinstance(daily_budget, int) or daily_budget < 0
        ):
            raise InvalidParameterError(
                "daily_budget", f"must be an integer >= 0, got {daily_budget!r}"
            )
        for name, seconds in (("lease_seconds", lease_seconds), ("busy_timeout", busy_timeout)):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
                raise InvalidParameterError(
                    name, f"must be a number of seconds > 0, got {seconds!r}"
                )
        if not isinstance(recheck_hidden, timedelta) or recheck_hidden < timedelta(0):
            raise InvalidParameterError(
                "recheck_hidden", f"must be a timedelta >= 0, got {recheck_hidden!r}"
            )
        if clock is not None and not callable(getattr(clock, "now", None)):
            raise InvalidParameterError("clock", "must have now()")
        self.wc = wc
        self.key_name = key_name
        self.plan = plan or RefreshPlan()
        self.daily_budget = daily_budget
        self.change_log = bool(change_log)
        self.prefetch = prefetch
        self.page_size = min(page_size, 2500)
        self.lease_seconds = float(lease_seconds)
        self.confirm_limit = confirm_limit
        self.recheck_hidden = recheck_hidden
        self.busy_timeout = float(busy_timeout)
        self._clock: _Clock = clock or SystemClock()
        self._holder = uuid.uuid4().hex
        self._host = socket.gethostname()[:255]
        self.schema_version: int | None = None
        self._writer: tuple[AsyncEngine, AsyncEngine] | None = None
        self._bulk: dict[str, tuple[AsyncEngine, BulkUpsert]] = {}

    def __repr__(self) -> str:
        return f"LeadMirror({self.database!r}, key_name={self.key_name!r}, scope={self.scope!r})"

    @property
    def database(self) -> str:
        """The database URL with any password masked."""
        return shown_url(self._url)

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy ``AsyncEngine`` (open the mirror first)."""
        if self._engine is None:
            raise RuntimeError("the mirror is not open: use 'async with LeadMirror(...)'")
        return self._engine

    @property
    def _write_engine(self) -> AsyncEngine:
        # The same pool; connections from it start write transactions (BEGIN IMMEDIATE).
        engine = self.engine
        if self._writer is None or self._writer[0] is not engine:
            self._writer = (engine, engine.execution_options(**{_WRITE_OPTION: True}))
        return self._writer[1]

    # -- lifecycle ------------------------------------------------------------------

    async def open(self, *, create: bool = True) -> LeadMirror:
        """Connect and create or check the schema (idempotent); ``async with`` calls it.

        ``create=False`` only reads: it creates and changes nothing (what ``mirror status``
        uses) and raises :class:`~whatconverts_async.mirror.schema.NoMirrorError` when the
        database holds no mirror of the current schema version. Either way a table of the
        mirror's name that the mirror did not create (an application's own ``leads``)
        raises :class:`~whatconverts_async.mirror.schema.SchemaConflictError` before
        anything is created; a newer schema raises
        :class:`~whatconverts_async.mirror.schema.SchemaVersionError`.
        """
        if self._engine is None:
            self._engine = create_async_engine(
                self._url, connect_args=_numeric_connect_args(self._url)
            )
            if self._url.get_backend_name() == "sqlite":
                _setup_sqlite(self._engine, int(self.busy_timeout * 1000))
        try:
            if not create:
                async with self.engine.connect() as conn:
                    version = await schema.read_schema_version(conn)
                if version < schema.SCHEMA_VERSION:
                    raise schema.NoMirrorError(
                        f"the mirror has schema version {version}; the next backfill or "
                        f"refresh upgrades it to {schema.SCHEMA_VERSION}"
                    )
                self.schema_version = version
                return self
            if self._url.get_backend_name() == "sqlite":
                await _enable_wal(self._engine, self.busy_timeout)
            try:
                async with self._write_engine.begin() as conn:
                    self.schema_version = await schema.create_schema(conn)
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                # Another process created the tables between our check and our CREATE (a
                # database without the advisory lock's protection): they exist now.
                async with self._write_engine.begin() as conn:
                    self.schema_version = await schema.create_schema(conn)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Release the connections (an engine passed in is left to its owner)."""
        engine = self._engine
        if engine is not None and self._owns_engine:
            self._engine = None
            await engine.dispose()

    async def __aenter__(self) -> LeadMirror:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _now(self) -> datetime:
        return self._clock.now().astimezone(UTC).replace(microsecond=0)

    # -- the writer's lease ----------------------------------------------------------

    def _lease_expiry(self, now: datetime) -> datetime:
        # ``now`` is truncated to the second, so a lease taken late in a second would end up
        # to a second early; one more second makes it last at least ``lease_seconds``.
        return now + timedelta(seconds=self.lease_seconds + 1)

    async def _acquire(self) -> None:
        now = self._now()
        expires = self._lease_expiry(now)
        lc = schema.leases.c
        where = sa.and_(lc.key_name == self.key_name, lc.scope == self.scope)
        values = {
            "holder": self._holder,
            "host": self._host,
            "pid": os.getpid(),
            "acquired_at": now,
            "expires_at": expires,
        }
        try:
            async with self._write_engine.begin() as conn:
                row = (await conn.execute(sa.select(schema.leases).where(where))).first()
                if row is None:
                    await conn.execute(
                        schema.leases.insert().values(
                            key_name=self.key_name, scope=self.scope, **values
                        )
                    )
                    return
                if row.holder != self._holder and not self._lease_abandoned(row, now):
                    raise MirrorBusyError(
                        f"key {self.key_name!r}, scope {self.scope!r} is being written by "
                        f"pid {row.pid} on {row.host} (lease until {_fmt(row.expires_at)})"
                    )
                taken = await conn.execute(
                    schema.leases.update().where(where, lc.holder == row.holder).values(**values)
                )
                if taken.rowcount != 1:
                    raise MirrorBusyError(
                        f"key {self.key_name!r}, scope {self.scope!r}: another writer took it"
                    )
        except IntegrityError:
            raise MirrorBusyError(
                f"key {self.key_name!r}, scope {self.scope!r}: another writer took it"
            ) from None

    def _lease_abandoned(self, row: Any, now: datetime) -> bool:
        if row.expires_at <= now:
            return True
        # A writer killed on this host: its pid is gone, so its lease is void now.
        return bool(row.host == self._host and row.pid != os.getpid() and not _pid_alive(row.pid))

    async def _renew(self, conn: AsyncConnection) -> None:
        lc = schema.leases.c
        result = await conn.execute(
            schema.leases.update()
            .where(lc.key_name == self.key_name, lc.scope == self.scope, lc.holder == self._holder)
            .values(expires_at=self._lease_expiry(self._now()))
        )
        if result.rowcount != 1:
            raise MirrorBusyError(
                f"key {self.key_name!r}, scope {self.scope!r}: the lease was lost to another "
                "writer; nothing more is written by this one"
            )

    async def _release(self) -> None:
        lc = schema.leases.c
        async with self._write_engine.begin() as conn:
            await conn.execute(
                schema.leases.delete().where(
                    lc.key_name == self.key_name, lc.scope == self.scope, lc.holder == self._holder
                )
            )

    async def _release_lease(self) -> None:
        # Shielded so that Ctrl-C (a cancellation) does not stop the release half way, and
        # retried: a page transaction cut off by the cancellation may hold SQLite's write
        # lock for a moment longer.
        for attempt in range(3):
            try:
                await asyncio.shield(self._release())
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == 2:
                    logger.warning(
                        "mirror lease not released (the next run on this host takes it over; "
                        "elsewhere it expires in %gs): %s",
                        self.lease_seconds,
                        _db_problem(exc),
                    )
                    return
                await asyncio.sleep(0.2 * (attempt + 1))

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        await self._acquire()

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(self.lease_seconds / 3)
                async with self._write_engine.begin() as conn:
                    await self._renew(conn)

        beat = asyncio.ensure_future(heartbeat())
        try:
            yield
        finally:
            beat.cancel()
            outcome: BaseException | None = None
            interrupted = False
            try:
                (outcome,) = await asyncio.gather(beat, return_exceptions=True)
            except asyncio.CancelledError:
                interrupted = True  # released below all the same, then passed on
            if isinstance(outcome, Exception):
                # A lost lease or a broken connection: the page commits noticed it too (they
                # renew in their own transaction); do not hide the error being raised.
                logger.warning("mirror lease heartbeat stopped: %s", outcome)
            await self._release_lease()
            if interrupted:
                raise asyncio.CancelledError

    # -- the one write path -----------------------------------------------------------

    async def _upsert(
        self,
        conn: AsyncConnection,
        items: Sequence[Lead],
        source: Source,
        report: SyncReport,
        *,
        rows: list[dict[str, Any]] | None = None,
    ) -> None:
        """Write changed leads, skip unchanged and older ones; fills ``report``. ``rows``
        are ``items``' rows if already built (:func:`~.records.lead_row`)."""
        if not items:
            return
        now = self._now()
        built = rows if rows is not None else [lead_row(lead) for lead in items]
        by_id: dict[int, dict[str, Any]] = {row["lead_id"]: row for row in built}
        lc = schema.leads.c
        existing: dict[int, Any] = {}
        ids = list(by_id)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            result = await conn.execute(
                sa.select(
                    lc.lead_id,
                    lc.content_hash,
                    lc.last_updated,
                    lc.missing_since,
                    lc.deleted_at,
                    lc.hidden_confirmed_at,
                ).where(lc.lead_id.in_(chunk))
            )
            existing.update({r.lead_id: r for r in result})
        writes: list[dict[str, Any]] = []
        revive: list[int] = []
        updated_ids: list[int] = []
        # A confirming GET found the lead although the list left it out: remember when, so
        # it is not asked about again before recheck_hidden. A list scan that reads it
        # clears the mark; a webhook proves nothing about the list and keeps it.
        hidden_at = now if source == "confirm" else None
        for lead_id, row in by_id.items():
            old = existing.get(lead_id)
            if old is None:
                report.inserted += 1
            elif source == "webhook" and self._webhook_cannot_revive(old, row):
                # A redelivered or late webhook proves nothing about a lead a refresh
                # missed or a GET found gone: only a read from the API, or a copy with a
                # newer last_updated, may bring it back.
                if old.content_hash == row["content_hash"]:
                    report.unchanged += 1
                else:
                    report.stale += 1
                continue
            elif old.content_hash == row["content_hash"]:
                report.unchanged += 1
                if (
                    old.missing_since is not None
                    or old.deleted_at is not None
                    or old.hidden_confirmed_at != hidden_at  # (a webhook never gets here)
                ):
                    revive.append(lead_id)
                continue
            elif (
                old.last_updated is not None
                and row["last_updated"] is not None
                and row["last_updated"] < old.last_updated
                and not _ahead_of_clock(lead_id, old.last_updated, now)
            ):
                report.stale += 1
                if source == "confirm":
                    revive.append(lead_id)  # found all the same: not missing, hidden
                continue
            else:
                report.updated += 1
                updated_ids.append(lead_id)
            row.update(
                first_seen_at=now,
                synced_at=now,
                source=source,
                scope=self.scope,
                missing_since=None,
                deleted_at=None,
                hidden_confirmed_at=(
                    old.hidden_confirmed_at
                    if old is not None and source == "webhook"
                    else hidden_at
                ),
            )
            writes.append(row)
        old_records: dict[int, Any] = {}
        reordered: set[int] = set()
        if updated_ids:
            # The hash is of the bytes; "changed" is decided on the content. A record whose
            # bytes differ only in key order (a lead first stored from a webhook, then read
            # by a scan) is stored in the scan's order but is no change: counted unchanged,
            # no change-log row.
            for i in range(0, len(updated_ids), _CHUNK):
                chunk = updated_ids[i : i + _CHUNK]
                result = await conn.execute(
                    sa.select(lc.lead_id, lc.record).where(lc.lead_id.in_(chunk))
                )
                old_records.update({r.lead_id: json.loads(r.record) for r in result})
            for lead_id in updated_ids:
                old_record = old_records.get(lead_id)
                if old_record is not None and not changed_fields(
                    old_record, json.loads(by_id[lead_id]["record"])
                ):
                    reordered.add(lead_id)
            report.updated -= len(reordered)
            report.unchanged += len(reordered)
        if writes and conn.dialect.name == "postgresql":
            _strip_nul_rows(writes)
        if writes:
            bulk = self._bulk_upsert(source)
            for i in range(0, len(writes), _UPSERT_BATCH):
                await bulk.execute(conn, writes[i : i + _UPSERT_BATCH])
        if revive:
            for i in range(0, len(revive), _CHUNK):
                await conn.execute(
                    schema.leads.update()
                    .where(lc.lead_id.in_(revive[i : i + _CHUNK]))
                    .values(missing_since=None, deleted_at=None, hidden_confirmed_at=hidden_at)
                )
        if self.change_log and writes and not (source == "backfill" and not updated_ids):
            log = []
            for row in writes:
                lead_id = row["lead_id"]
                if lead_id not in old_records:
                    if source == "backfill":
                        continue  # a backfill's inserts are the starting point, not changes
                    fields = {"lead_id": [None, lead_id]}  # new: the row holds the rest
                elif lead_id in reordered:
                    continue
                else:
                    fields = changed_fields(old_records[lead_id], json.loads(row["record"]))
                log.append(
                    {"lead_id": lead_id, "changed_at": now, "source": source, "fields": fields}
                )
                if len(report.changes) < report.max_changes:
                    report.changes.append(LeadChange(lead_id, source, fields))
            if log:
                await conn.execute(schema.changes.insert(), log)

    @staticmethod
    def _webhook_cannot_revive(old: Any, row: dict[str, Any]) -> bool:
        """True when ``old`` is missing or tombstoned and ``row`` is not newer than it."""
        if old.missing_since is None and old.deleted_at is None:
            return False
        return (
            old.last_updated is None
            or row["last_updated"] is None
            or row["last_updated"] <= old.last_updated
        )

    def _bulk_upsert(self, source: Source) -> BulkUpsert:
        """The upsert for ``source``, compiled once per engine."""
        key = "webhook" if source == "webhook" else "scan"
        engine = self.engine
        cached = self._bulk.get(key)
        if cached is None or cached[0] is not engine:
            cached = (
                engine,
                BulkUpsert(schema.leads, self._upsert_statement(source), engine.dialect),
            )
            self._bulk[key] = cached
        return cached[1]

    def _upsert_statement(self, source: Source) -> Any:
        table = schema.leads
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(table)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(table)
        new = statement.excluded
        keep = {"lead_id", "first_seen_at", "scope"}
        # The same rules as in _upsert, again in SQL: another process (a webhook server)
        # may have written the row between our read and this write.
        guard = sa.and_(
            table.c.content_hash != new.content_hash,
            sa.or_(
                table.c.last_updated.is_(None),
                new.last_updated.is_(None),
                new.last_updated >= table.c.last_updated,
                _after_a_day(table.c.last_updated, new.synced_at, self.engine.dialect.name),
            ),
        )
        if source == "webhook":
            guard = sa.and_(
                guard,
                sa.or_(
                    sa.and_(table.c.missing_since.is_(None), table.c.deleted_at.is_(None)),
                    new.last_updated > table.c.last_updated,
                ),
            )
        return statement.on_conflict_do_update(
            index_elements=[table.c.lead_id],
            set_={c.name: new[c.name] for c in table.c if c.name not in keep},
            where=guard,
        )

    # -- scans -------------------------------------------------------------------------

    async def _scan_state(self, conn: AsyncConnection, scan: str) -> ScanState | None:
        sc = schema.scans.c
        row = (
            await conn.execute(
                sa.select(schema.scans).where(
                    sc.key_name == self.key_name, sc.scope == self.scope, sc.scan == scan
                )
            )
        ).first()
        if row is None:
            return None
        return ScanState(
            scan=row.scan,
            status=row.status,
            window_start=row.window_start,
            window_end=row.window_end,
            cursor_at=row.cursor_at,
            cursor_ids=tuple(row.cursor_ids or ()),
            pages=row.pages,
            leads_seen=row.leads_seen,
            requests=row.requests,
            started_at=row.started_at,
            finished_at=row.finished_at,
            tiers=tuple(row.tiers or ()),
        )

    async def _put_scan(self, conn: AsyncConnection, scan: str, **values: Any) -> None:
        sc = schema.scans.c
        where = sa.and_(sc.key_name == self.key_name, sc.scope == self.scope, sc.scan == scan)
        result = await conn.execute(schema.scans.update().where(where).values(**values))
        if result.rowcount == 0:
            await conn.execute(
                schema.scans.insert().values(
                    key_name=self.key_name, scope=self.scope, scan=scan, **values
                )
            )

    async def _start_scan(
        self, scan: str, start: datetime, end: datetime, tiers: Sequence[str] = ()
    ) -> ScanState:
        async with self._write_engine.begin() as conn:
            await self._renew(conn)
            await self._put_scan(
                conn,
                scan,
                status="running",
                window_start=start,
                window_end=end,
                cursor_at=None,
                cursor_ids=[],
                pages=0,
                leads_seen=0,
                requests=0,
                started_at=self._now(),
                finished_at=None,
                tiers=list(tiers),
            )
            await conn.execute(schema.scan_seen.delete().where(*self._seen_where(scan)))
            state = await self._scan_state(conn, scan)
        assert state is not None
        return state

    def _seen_where(self, scan: str) -> list[sa.ColumnElement[bool]]:
        sc = schema.scan_seen.c
        return [sc.key_name == self.key_name, sc.scope == self.scope, sc.scan == scan]

    async def _run_scan(
        self,
        state: ScanState,
        source: Source,
        report: SyncReport,
        *,
        track_seen: bool,
        on_progress: Callable[[ScanProgress], None] | None,
    ) -> bool:
        """Read the scan's window from its cursor to its end, one transaction per page.

        Pages commit one after the other, in order; while one page's transaction runs
        (on SQLite in aiosqlite's thread), the next page's rows are built, so the database
        and the Python work overlap. Returns ``False`` when the daily budget ran out (all
        committed work stays)."""
        cursor_at = state.cursor_at
        cursor_ids = set(state.cursor_ids)
        pages, leads_seen, spent = state.pages, state.leads_seen, state.requests
        begin = cursor_at or state.window_start
        report.window = (state.window_start, state.window_end)
        # Only this scan's requests: other tasks may use the same client meanwhile.
        with self.wc.count_requests() as tally:
            used = tally.sent
            stream = self.wc.leads.iterate_pages(
                start_date=begin,
                end_date=state.window_end,
                order="asc",
                prefetch=self.prefetch,
                per_page=self.page_size,
                **self._filters,
            )
            writing: asyncio.Future[None] | None = None  # the page being committed

            async def committed() -> None:
                nonlocal writing
                if writing is not None:
                    task, writing = writing, None
                    await task

            async def commit(
                fresh: list[Lead],
                rows: list[dict[str, Any]],
                cursor: tuple[datetime | None, list[int]],
                counters: tuple[int, int, int],
            ) -> None:
                await self._commit_page(
                    state.scan,
                    fresh,
                    source,
                    report,
                    track_seen=track_seen,
                    cursor=cursor,
                    counters=counters,
                    rows=rows,
                )
                if on_progress is not None:
                    on_progress(
                        ScanProgress(
                            scan=state.scan,
                            pages=counters[0],
                            leads=counters[1],
                            requests=counters[2],
                            window_start=state.window_start,
                            window_end=state.window_end,
                            cursor_at=cursor[0],
                        )
                    )

            try:
                async with stream:
                    async for page in stream:
                        fresh: list[Lead] = []
                        previous: datetime | None = None
                        for lead in page.items:
                            created = lead.date_created
                            if created is None:
                                raise MirrorError(
                                    f"lead {lead.lead_id} has no date_created: the scan cursor "
                                    "needs it; the API answered unlike its documentation"
                                )
                            if previous is not None and created < previous:
                                raise MirrorError(
                                    f"lead {lead.lead_id} ({_fmt(created)}) came after one created "
                                    f"{_fmt(previous)} in an ascending page: the API does not sort "
                                    "by date_created as documented, so a resumable scan is unsafe"
                                )
                            previous = created
                            if created == cursor_at and lead.lead_id in cursor_ids:
                                continue  # committed before a restart
                            fresh.append(lead)
                        if fresh:
                            last = fresh[-1].date_created  # pages are ascending (checked above)
                            at_last = {lead.lead_id for lead in fresh if lead.date_created == last}
                            if cursor_at is not None and last is not None and last <= cursor_at:
                                # Only leads inserted behind the cursor: it stays where it is.
                                if last == cursor_at:
                                    cursor_ids |= at_last
                            else:
                                cursor_at, cursor_ids = last, at_last
                        now_used = tally.sent
                        spent += max(0, now_used - used)
                        report.requests += max(0, now_used - used)
                        used = now_used
                        pages += 1
                        leads_seen += len(fresh)
                        report.pages += 1
                        # Built while the previous page commits (pure Python, no database).
                        rows = [lead_row(lead) for lead in fresh]
                        await committed()
                        writing = asyncio.ensure_future(
                            _despite_cancel(
                                commit(
                                    fresh,
                                    rows,
                                    (cursor_at, sorted(cursor_ids)),
                                    (pages, leads_seen, spent),
                                )
                            )
                        )
                await committed()
            except QuotaExhaustedError:
                await committed()  # what was read before the budget ran out is kept
                logger.warning(
                    "daily budget spent during %s scan; it resumes on the next run", state.scan
                )
                report.complete = False
                return False
            finally:
                if writing is not None:
                    # Leaving on an error or a cancellation: the page under way still commits
                    # or rolls back as a whole before the lease is released; a cancellation
                    # is passed on once it has (by _despite_cancel).
                    with contextlib.suppress(Exception):
                        await asyncio.shield(writing)
                now_used = tally.sent
                report.requests += max(0, now_used - used)
                spent += max(0, now_used - used)
        async with self._write_engine.begin() as conn:
            await self._renew(conn)
            await self._put_scan(conn, state.scan, requests=spent)
        return True

    async def _commit_page(
        self,
        scan: str,
        fresh: list[Lead],
        source: Source,
        report: SyncReport,
        *,
        track_seen: bool,
        cursor: tuple[datetime | None, list[int]],
        counters: tuple[int, int, int],
        rows: list[dict[str, Any]] | None = None,
    ) -> None:
        """One page's rows and the scan cursor, in one transaction."""
        async with self._write_engine.begin() as conn:
            await self._renew(conn)
            await self._upsert(conn, fresh, source, report, rows=rows)
            if track_seen and fresh:
                await self._mark_seen(conn, scan, [ld.lead_id for ld in fresh])
            await self._put_scan(
                conn,
                scan,
                cursor_at=cursor[0],
                cursor_ids=cursor[1],
                pages=counters[0],
                leads_seen=counters[1],
                requests=counters[2],
            )

    async def _mark_seen(self, conn: AsyncConnection, scan: str, ids: list[int]) -> None:
        sc = schema.scan_seen.c
        known: set[int] = set()
        for i in range(0, len(ids), _CHUNK):
            result = await conn.execute(
                sa.select(sc.lead_id).where(
                    *self._seen_where(scan), sc.lead_id.in_(ids[i : i + _CHUNK])
                )
            )
            known.update(r.lead_id for r in result)
        new = [
            {"key_name": self.key_name, "scope": self.scope, "scan": scan, "lead_id": lead_id}
            for lead_id in dict.fromkeys(ids)
            if lead_id not in known
        ]
        if new:
            await conn.execute(schema.scan_seen.insert(), new)

    # -- backfill -------------------------------------------------------------------------

    async def backfill(
        self,
        *,
        start_date: date | datetime | str,
        end_date: date | datetime | str | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
    ) -> SyncReport:
        """Read every lead created from ``start_date`` (to ``end_date``, default now) into the
        database, page by page; resumable after any crash.

        A backfill under way resumes from its cursor (``start_date`` must then be the same),
        then goes on with the rest of the range; a finished part is not read again. What is
        asked for and not yet covered is read in one run, in up to two scans: the part
        before the covered range (an earlier ``start_date``), then the part after it (a later
        ``end_date``, or none: now, when the covered range ends more than a day ago; refresh
        catches up the last day). Each scan is resumable on its own, so an interrupted run
        continues where it stopped when run again with the same dates. Requests: per
        400-day window of each scan, ``max(1, ⌈leads / 2500⌉)``.

        Raises :class:`MirrorBusyError` when another writer holds the scope,
        :class:`~whatconverts_async.InvalidParameterError` for bad dates (an ``end_date``
        after today, UTC, as for an export: the covered range would claim leads that do not
        exist yet; an ``end_date`` of today ends at the scan's time). When the daily budget
        runs out, returns a report with ``complete=False``; run again to resume.
        """
        start = _as_start(start_date, "start_date")
        end = None if end_date is None else to_utc_datetime(end_date, "end_date", end_of_day=True)
        _refuse_after_today(end, self._now())
        report = SyncReport("backfill")
        windows: list[tuple[datetime, datetime]] = []
        async with self._writing():
            # At most three scans: one under way, then the gap before the covered range,
            # then the gap after it.
            for _ in range(3):
                async with self.engine.connect() as conn:
                    state = await self._scan_state(conn, "backfill")
                    covered = await self._scan_state(conn, "covered")
                if state is not None and state.status == "running":
                    tail = (
                        covered is not None
                        and covered.window_start <= start <= state.window_start
                        and state.window_start == covered.window_end
                    )
                    if state.window_start != start and not tail:
                        raise InvalidParameterError(
                            "start_date",
                            f"a backfill from {_fmt(state.window_start)} is under way in this "
                            "scope; run it with that start_date to finish it first",
                        )
                else:
                    segment = self._backfill_gap(start, end, covered, first=not windows)
                    if segment is None or segment in windows:
                        break  # all read (a range apart from the covered one stays apart)
                    state = await self._start_scan("backfill", *segment)
                windows.append((state.window_start, state.window_end))
                if not await self._run_scan(
                    state, "backfill", report, track_seen=False, on_progress=on_progress
                ):
                    break  # the budget ran out: the next run resumes this scan
                await self._finish_scan(state, report, track_seen=False)
        if windows:
            report.window = (min(w[0] for w in windows), max(w[1] for w in windows))
        report.budget_left = self.wc.quota.remaining
        return report

    def _backfill_gap(
        self,
        start: datetime,
        end: datetime | None,
        covered: ScanState | None,
        *,
        first: bool,
    ) -> tuple[datetime, datetime] | None:
        """The next part of ``start``..``end`` (``None``: now) that ``covered`` lacks: the
        part before it first, then the part after it; ``None`` when nothing is left."""
        # Never past the scan's own time: a lead created later is not read by it, so
        # it must not count as covered (end_date may be later today).
        stop = self._now() if end is None else min(end, self._now())
        if covered is not None:
            if start >= covered.window_start:
                # Without end_date, the last day after the covered end is left to
                # refresh (which catches up from there): a repeated run reads nothing.
                slack = _FUTURE_SLACK if end is None else timedelta(0)
                if stop <= covered.window_end + slack:
                    return None  # covered
                # Covered up to its end: read only what lies after it.
                start = max(start, covered.window_end)
            else:
                stop = min(stop, covered.window_start - timedelta(seconds=1))
        if not first and stop < start:
            return None
        if stop < start and end is None and start > self._now():
            raise InvalidParameterError(
                "start_date", f"is in the future ({_fmt(start)}): no lead exists yet"
            )
        if stop < start:
            raise InvalidParameterError("end_date", "must not be before start_date")
        return start, stop

    async def _finish_scan(self, state: ScanState, report: SyncReport, *, track_seen: bool) -> None:
        now = self._now()
        async with self._write_engine.begin() as conn:
            await self._renew(conn)
            if track_seen:
                lc = schema.leads.c
                seen = schema.scan_seen.c
                result = await conn.execute(
                    schema.leads.update()
                    .where(
                        lc.scope == self.scope,
                        lc.missing_since.is_(None),
                        lc.deleted_at.is_(None),
                        # Hidden from the list, found by a GET not long ago: not asked
                        # about again (nor counted missing) before recheck_hidden.
                        sa.or_(
                            lc.hidden_confirmed_at.is_(None),
                            lc.hidden_confirmed_at <= now - self.recheck_hidden,
                        ),
                        lc.date_created >= state.window_start,
                        lc.date_created <= state.window_end,
                        ~sa.exists().where(
                            *self._seen_where(state.scan), seen.lead_id == lc.lead_id
                        ),
                    )
                    .values(missing_since=now)
                )
                report.missing += max(0, result.rowcount)
                await conn.execute(schema.scan_seen.delete().where(*self._seen_where(state.scan)))
            await self._put_scan(conn, state.scan, status="done", finished_at=now)
            covered = await self._scan_state(conn, "covered")
            start, end = state.window_start, state.window_end
            if covered is not None:
                # Coverage grows only where this window touches it (no gaps claimed).
                second = timedelta(seconds=1)
                if start <= covered.window_end + second and end >= covered.window_start - second:
                    start, end = min(start, covered.window_start), max(end, covered.window_end)
                else:
                    start, end = covered.window_start, covered.window_end
            await self._put_scan(
                conn,
                "covered",
                status="done",
                window_start=start,
                window_end=end,
                cursor_at=None,
                cursor_ids=[],
                pages=0,
                leads_seen=0,
                requests=0,
                started_at=covered.started_at if covered else now,
                finished_at=now,
                tiers=[],
            )
            for tier in state.tiers if state.scan == "refresh" else ():
                await self._put_scan(
                    conn,
                    f"tier:{tier}",
                    status="done",
                    window_start=state.window_start,
                    window_end=state.window_end,
                    cursor_at=None,
                    cursor_ids=[],
                    pages=0,
                    leads_seen=0,
                    requests=0,
                    started_at=state.started_at,
                    finished_at=now,
                    tiers=[tier],
                )

    # -- refresh ---------------------------------------------------------------------------

    async def leads_per_day(self) -> float | None:
        """The scope's measured lead rate over the widest tier's window (``None`` before any
        data is covered)."""
        async with self.engine.connect() as conn:
            return await self._rate(conn)

    async def _rate(self, conn: AsyncConnection) -> float | None:
        covered = await self._scan_state(conn, "covered")
        if covered is None:
            return None
        now = self._now()
        widest = max((t.days for t in self.plan.tiers), default=35)
        since = max(now - timedelta(days=widest), covered.window_start)
        days = max((now - since).total_seconds() / 86400, 1.0)
        lc = schema.leads.c
        count = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.leads)
                .where(lc.scope == self.scope, lc.date_created >= since, lc.deleted_at.is_(None))
            )
        ).scalar_one()
        return float(count) / days

    async def _counts(self, conn: AsyncConnection, now: datetime) -> LeadCounts | None:
        """The leads the list would show, per day back from ``now``, over the widest window
        any tier can read (``None`` before any data is covered: the cost is then unknown)."""
        if await self._scan_state(conn, "covered") is None:
            return None
        horizon = max([WINDOW_DAYS, *(t.days for t in self.plan.tiers)])
        lc = schema.leads.c
        epoch = int(now.timestamp())
        if self.engine.dialect.name == "sqlite":
            # Stored as naive UTC text; integer division of whole seconds floors ages >= 0.
            # ("//": SQLAlchemy renders "/" as true division, one group per second.)
            created: Any = sa.cast(sa.func.strftime("%s", lc.date_created), sa.BigInteger)
            age: Any = (sa.literal(epoch, sa.BigInteger) - created) // 86400
        else:
            age = sa.cast(
                sa.func.floor(
                    (sa.literal(epoch, sa.BigInteger) - sa.extract("epoch", lc.date_created))
                    / 86400
                ),
                sa.Integer,
            )
        bucket = age.label("age")
        rows = await conn.execute(
            sa.select(bucket, sa.func.count())
            .where(
                lc.scope == self.scope,
                lc.date_created > now - timedelta(days=horizon),
                lc.deleted_at.is_(None),
                # Not on the list (missing, or found only by a GET): the scan does not read them.
                lc.missing_since.is_(None),
                lc.hidden_confirmed_at.is_(None),
            )
            .group_by(bucket)
        )
        by_day = [0] * horizon
        for day, count in rows:
            by_day[min(max(int(day), 0), horizon - 1)] += int(count)
        return LeadCounts(tuple(by_day))

    async def _planned_requests(self, start: datetime, end: datetime) -> int:
        """Requests a scan of ``start``..``end`` costs for the leads the mirror holds there:
        per API window, ``max(1, ⌈leads / page_size⌉)``."""
        lc = schema.leads.c
        total = 0
        async with self.engine.connect() as conn:
            for window in split_windows(start, end):
                count = (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(schema.leads)
                        .where(
                            lc.scope == self.scope,
                            lc.date_created >= window.start,
                            lc.date_created <= window.end,
                            lc.deleted_at.is_(None),
                            lc.missing_since.is_(None),
                            lc.hidden_confirmed_at.is_(None),
                        )
                    )
                ).scalar_one()
                total += max(1, -(-int(count) // self.page_size))
        return total

    def _sized_plan(self) -> RefreshPlan:
        return attrs.evolve(self.plan, page_size=self.page_size)

    def _fitted_plan(self, rate: float | None, counts: LeadCounts | None = None) -> RefreshPlan:
        budget = self.daily_budget if self.daily_budget is not None else self.wc.quota.limit
        return self._sized_plan().fit(rate, budget, counts)

    async def refresh(
        self,
        *,
        force: bool = False,
        on_progress: Callable[[ScanProgress], None] | None = None,
    ) -> SyncReport:
        """Re-read the recent past by plan: the widest due tier (see
        :meth:`RefreshPlan.choose <whatconverts_async.mirror.plan.RefreshPlan.choose>`),
        stretched back to where coverage ends if the mirror fell behind; then confirm missing
        leads with ``GET`` (at most ``confirm_limit``).

        ``force`` runs the widest tier even if none is due. A refresh interrupted by a crash
        or the budget resumes its window first: that run reads only the interrupted window
        (its tiers, not those of the current plan or ``force``) and says so in
        ``report.note``; the next refresh chooses tiers again. Returns the :class:`SyncReport`
        (``report.tiers`` names the tiers the pass satisfied; empty when nothing was due).
        """
        report = SyncReport("refresh")
        async with self._writing():
            async with self.engine.connect() as conn:
                state = await self._scan_state(conn, "refresh")
                rate = await self._rate(conn)
                covered = await self._scan_state(conn, "covered")
                last_done: dict[str, datetime | None] = {}
                for tier in self.plan.tiers:
                    done = await self._scan_state(conn, f"tier:{tier.name}")
                    last_done[tier.name] = None if done is None else done.finished_at
                now = self._now()
                counts = await self._counts(conn, now)
            resumed = state is not None and state.status == "running"
            if state is None or state.status != "running":
                plan = self._fitted_plan(rate, counts)
                choice = plan.choose({} if force else last_done, now, rate, counts)
                if choice is None:
                    report.budget_left = self.wc.quota.remaining
                    return report
                # The last ``days`` days, one second short, so that 400 days are one API
                # window (a window spans at most 400 days minus a second).
                start = now - timedelta(days=choice.days) + timedelta(seconds=1)
                report.planned_requests = choice.requests if counts is not None else None
                if covered is None:
                    report.note = (
                        f"no backfill covers the past in this database: only the last "
                        f"{choice.days} days are mirrored; run `whatconverts mirror backfill "
                        "--start-date YYYY-MM-DD` (same --db) to read the older leads"
                    )
                    logger.warning("mirror refresh: %s", report.note)
                if covered is not None and covered.window_end < start:
                    start = covered.window_end  # catch up: no gap since the last scan
                    report.planned_requests = await self._planned_requests(start, now)
                state = await self._start_scan("refresh", start, now, tiers=choice.covers)
            report.tiers = state.tiers
            if resumed:
                report.note = _resumed_note(state)
                logger.warning("mirror refresh: %s", report.note)
            if await self._run_scan(
                state, "refresh", report, track_seen=True, on_progress=on_progress
            ):
                await self._finish_scan(state, report, track_seen=True)
                await self._confirm_missing(report)
        report.budget_left = self.wc.quota.remaining
        return report

    async def next_refresh(self) -> tuple[datetime, tuple[str, ...]]:
        """When the next refresh is due (now or earlier: due at once) and the tiers then
        due, under the plan fitted to the daily budget (``(now, ())`` with no tier left)."""
        now = self._now()
        async with self.engine.connect() as conn:
            rate = await self._rate(conn)
            counts = await self._counts(conn, now)
            last: dict[str, datetime | None] = {}
            for tier in self.plan.tiers:
                done = await self._scan_state(conn, f"tier:{tier.name}")
                last[tier.name] = None if done is None else done.finished_at
        due: dict[str, datetime] = {}
        for tier in self._fitted_plan(rate, counts).tiers:
            done_at = last.get(tier.name)
            due[tier.name] = now if done_at is None else max(now, done_at + tier.every)
        if not due:
            return now, ()
        at = min(due.values())
        return at, tuple(name for name, when in due.items() if when == at)

    async def dropped_tiers(self) -> tuple[str, ...]:
        """Names of the plan's tiers that ``daily_budget`` (default: the client's daily
        limit) leaves out at the measured lead rate (see :meth:`RefreshPlan.fit`)."""
        async with self.engine.connect() as conn:
            rate = await self._rate(conn)
            counts = await self._counts(conn, self._now())
        kept = {t.name for t in self._fitted_plan(rate, counts).tiers}
        return tuple(t.name for t in self.plan.tiers if t.name not in kept)

    async def _confirm_missing(self, report: SyncReport) -> None:
        lc = schema.leads.c
        async with self.engine.connect() as conn:
            ids = [
                r.lead_id
                for r in await conn.execute(
                    sa.select(lc.lead_id)
                    .where(
                        lc.scope == self.scope,
                        lc.missing_since.is_not(None),
                        lc.deleted_at.is_(None),
                    )
                    .order_by(lc.missing_since, lc.lead_id)
                    .limit(self.confirm_limit)
                )
            ]
        for lead_id in ids:
            with self.wc.count_requests() as tally:
                try:
                    lead = await self.wc.leads.get(lead_id)
                except NotFoundError:
                    lead = None
                except QuotaExhaustedError:
                    report.complete = False
                    return
                finally:
                    report.requests += tally.sent
                    report.confirm_requests += tally.sent
            now = self._now()
            async with self._write_engine.begin() as conn:
                await self._renew(conn)
                if lead is not None:
                    await self._upsert(conn, [lead], "confirm", report)
                    continue
                result = await conn.execute(
                    schema.leads.update()
                    .where(lc.lead_id == lead_id, lc.deleted_at.is_(None))
                    .values(deleted_at=now, synced_at=now, source="confirm")
                )
                if result.rowcount:
                    report.tombstoned += 1
                    fields: dict[str, list[Any]] = {"deleted_at": [None, _fmt(now)]}
                    if self.change_log:
                        await conn.execute(
                            schema.changes.insert().values(
                                lead_id=lead_id, changed_at=now, source="confirm", fields=fields
                            )
                        )
                    if len(report.changes) < report.max_changes:
                        report.changes.append(LeadChange(lead_id, "confirm", fields))

    # -- webhooks ------------------------------------------------------------------------

    async def on_webhook(self, event: WebhookEvent) -> SyncReport:
        """Write one webhook delivery through the same upsert as the scans.

        The body is merged into the stored record (fields it lacks, and its ``null``
        values, keep what is stored), then written under the same rules: a redelivery
        changes nothing, an older delivery (``last_updated``) is ``stale``. A body without
        ``last_updated`` for a stored lead counts as older: it only fills fields the stored
        record lacks. A webhook never clears ``missing_since`` or ``deleted_at`` unless its
        ``last_updated`` is newer than the stored one (otherwise it is ``unchanged`` or
        ``stale``); a refresh or a confirming ``GET`` that finds the lead does.

        A delivery for a lead the mirror does not hold yet must carry ``date_created``, and
        no delivery's ``date_created`` may lie more than a day after now: one without it
        (e.g. only ``lead_id`` and ``trigger``) or with such a date is not a lead delivery
        and is refused with
        :class:`~whatconverts_async.WebhookError` (the webhook handler answers
        **422** ``{"ok": false, "error": "not a lead delivery: ..."}``); nothing is written
        and no request is spent (the next refresh reads the lead if it exists). Use it with
        :func:`~whatconverts_async.webhooks.webhook_app`::

            app = webhook_app(mirror.on_webhook, shared_secret=secret)
        """
        body = event.lead.to_dict()
        report = SyncReport("webhook")
        lc = schema.leads.c
        async with self._write_engine.begin() as conn:
            query = sa.select(lc.record).where(lc.lead_id == event.lead_id)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()
            stored = (await conn.execute(query)).scalar_one_or_none()
            if stored is None and body.get("date_created") in (None, ""):
                # Nothing to merge into: a row without date_created would be an empty lead
                # that no scan cursor or refresh window can place.
                raise _not_a_lead(event.lead_id)
            merged = merge_webhook(None if stored is None else json.loads(stored), body)
            try:
                lead = Lead.from_dict(merged)
            except (ValueError, TypeError) as exc:
                raise MirrorError(f"webhook for lead {event.lead_id}: {exc}") from None
            created = event.lead.date_created  # the body's own: a merge may keep the stored
            if created is not None and created > self._now() + _FUTURE_SLACK:
                # A row created in the future lies beyond every refresh window, so it could
                # never be found missing: it would stay forever (moved there, likewise).
                raise WebhookError(
                    f"not a lead delivery: lead {event.lead_id} has date_created "
                    f"{_fmt(created)}, more than a day after now"
                )
            await self._upsert(conn, [lead], "webhook", report)
        return report

    # -- status and the service loop ------------------------------------------------------

    async def status(self) -> MirrorStatus:
        """Counts, scans, the lead rate and the refresh plan with its daily cost."""
        lc = schema.leads.c
        sc = schema.scans.c
        async with self.engine.connect() as conn:
            scope = lc.scope == self.scope
            counts = (
                await conn.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.count(lc.missing_since),
                        sa.func.count(lc.deleted_at),
                        sa.func.count(lc.hidden_confirmed_at),
                    ).where(scope)
                )
            ).one()
            names = [
                r.scan
                for r in await conn.execute(
                    sa.select(sc.scan)
                    .where(sc.key_name == self.key_name, sc.scope == self.scope)
                    .order_by(sc.scan)
                )
            ]
            scans = [s for n in names if (s := await self._scan_state(conn, n)) is not None]
            rate = await self._rate(conn)
            by_day = await self._counts(conn, self._now())
            lease = (
                await conn.execute(
                    sa.select(schema.leases).where(
                        schema.leases.c.key_name == self.key_name,
                        schema.leases.c.scope == self.scope,
                    )
                )
            ).first()
        plan = self._fitted_plan(rate, by_day)
        quota = self.wc.quota
        writer = None
        if lease is not None and lease.expires_at > self._now():
            writer = f"pid {lease.pid} on {lease.host} until {_fmt(lease.expires_at)}"
        return MirrorStatus(
            database=self.database,
            schema_version=self.schema_version or schema.SCHEMA_VERSION,
            key_name=self.key_name,
            scope=self.scope,
            leads=counts[0] - counts[2],
            missing=counts[1],
            tombstones=counts[2],
            hidden=counts[3],
            scans=tuple(scans),
            leads_per_day=rate,
            plan=tuple(plan.costs(rate, by_day)),
            daily_requests=plan.daily_requests(rate, by_day),
            daily_limit=quota.limit,
            budget_left=quota.remaining,
            writer=writer,
        )

    async def run(
        self,
        *,
        poll_seconds: float = 60.0,
        on_report: Callable[[SyncReport], None] | None = None,
        stop: asyncio.Event | None = None,
        max_backoff: float = 900.0,
    ) -> None:
        """Refresh whenever a tier is due, checking every ``poll_seconds``, until ``stop`` is
        set or the task is cancelled.

        A refresh that fails for a reason that may pass (:func:`transient`: the API
        unreachable or failing after retries, rate limited, another writer for a while) is
        logged as a warning and tried again after a backoff that doubles from
        ``poll_seconds`` up to ``max_backoff`` seconds (with jitter), back to
        ``poll_seconds`` after a success. A spent daily budget (a refresh left incomplete,
        or :class:`~whatconverts_async.QuotaExhaustedError`) waits for the budget's reset.
        Any other error ends the loop and is raised: rejected credentials
        (:class:`~whatconverts_async.AuthenticationError`, 401), a key without access
        (:class:`~whatconverts_async.PermissionDeniedError`, 403), bad parameters, a
        database or schema problem (:class:`MirrorError`, SQLAlchemy's errors) — trying
        again would only spend budget on the same answer.

        Raises :class:`~whatconverts_async.InvalidParameterError` for a ``poll_seconds``
        or ``max_backoff`` that is not a finite number of seconds > 0 (before any refresh).
        """
        for name, value in (("poll_seconds", poll_seconds), ("max_backoff", max_backoff)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < float("inf")
            ):
                raise InvalidParameterError(
                    name, f"must be a finite number of seconds > 0, got {value!r}"
                )
        failures = 0
        while stop is None or not stop.is_set():
            wait = float(poll_seconds)
            try:
                report = await self.refresh()
            except QuotaExhaustedError as exc:
                wait = self._until_reset(exc.resets_at, poll_seconds)
                logger.warning(
                    "mirror refresh: daily budget spent; waiting %gs for its reset: %s", wait, exc
                )
            except WhatConvertsError as exc:
                if not transient(exc):
                    raise
                failures += 1
                wait = min(float(max_backoff), poll_seconds * 2 ** (failures - 1))
                wait = max(float(poll_seconds), wait * random.uniform(0.5, 1.0))
                logger.warning(
                    "mirror refresh failed (%d in a row), retrying in %.3gs: %s",
                    failures,
                    wait,
                    exc,
                )
            else:
                failures = 0
                if on_report is not None and (report.tiers or report.requests):
                    on_report(report)
                if not report.complete:
                    wait = self._until_reset(self.wc.quota.resets_at, poll_seconds)
                    logger.warning(
                        "mirror refresh: daily budget spent; resuming after its reset in %gs",
                        wait,
                    )
            if stop is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)

    def _until_reset(self, resets_at: datetime, poll_seconds: float) -> float:
        # The budget's own clock decides; a reset already past (or a clock apart) still
        # waits one poll, so a budget that stays spent is not asked again at once.
        return max(float(poll_seconds), (resets_at - self._clock.now()).total_seconds() + 1)


def transient(exc: BaseException) -> bool:
    """Whether a failed refresh may succeed when tried again later unchanged.

    Transient: no answer or a timeout (:class:`~whatconverts_async.APIConnectionError`,
    but not a failed TLS certificate check), 5xx, 429, an unreadable answer, a list that
    changed while read, a shared budget that cannot be reached, another writer holding
    the scope (:class:`MirrorBusyError`). Everything else is permanent: 401, 403, 400,
    404, bad parameters, a spent budget's state file that cannot be read, the database.

    >>> from whatconverts_async import APIConnectionError
    >>> refused = APIConnectionError("refused", method="GET", url="http://127.0.0.1/")
    >>> transient(refused), transient(MirrorError("schema"))
    (True, False)
    """
    if isinstance(exc, CertificateError):
        return False
    return isinstance(
        exc,
        (
            APIConnectionError,
            ServerError,
            RateLimitError,
            MalformedResponseError,
            PaginationError,
            QuotaUnavailableError,
            MirrorBusyError,
        ),
    ) and not isinstance(exc, FilterNotAppliedError)
