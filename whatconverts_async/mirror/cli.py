"""``whatconverts mirror backfill|refresh|run|status``: the mirror from the command line.

::

    whatconverts mirror backfill --demo                       # a demo mirror in SQLite
    whatconverts mirror refresh --demo                        # the simulator edits leads first
    whatconverts mirror backfill --db sqlite:///leads.db --start-date 2015-01-01
    whatconverts mirror refresh  --db postgresql://user@host/crm
    whatconverts mirror run      --db leads.db --webhook-port 8080
    whatconverts mirror status   --db leads.db

Exit codes as for ``export``: 0 done, 1 error (another writer, a database server that
refuses the connection or cannot be reached, a permanent API error in ``run``), 2 usage (a
database path that cannot be used: a missing directory, a directory, a read-only file, a
synchronous driver; a public webhook listener without a secret; one line, password
masked), 3 daily budget spent (everything committed stays; run again to resume),
4 authentication (401, also from ``run``, which does not retry it). After Ctrl-C (130)
or SIGTERM, run the same command again: committed pages stay. SIGTERM (systemd, Docker)
stops like Ctrl-C — the page under way commits or rolls back, the lease is released — and
exits 0 from ``run`` (a service stopped as asked) or 143 from ``backfill``/``refresh``
(stopped before its end).

``status`` reads an existing database only (it refuses a path that does not exist) and
needs no API credentials (without them it shows no budget left). ``--demo`` keeps the
simulator's history in the demo database (see :mod:`.demo`), so repeated demo refreshes
show only that run's edits.

This module imports SQLAlchemy only when a mirror command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import attrs

from ..errors import InvalidParameterError, QuotaExhaustedError

if TYPE_CHECKING:
    from ..client import WhatConverts
    from ..testing import FakeWhatConverts
    from .core import LeadMirror, ScanProgress, SyncReport

__all__ = ["DEMO_DB", "add_mirror_parser", "run_mirror"]

DEMO_DB = "whatconverts-demo.db"
DEMO_LEADS = 20_000
DEMO_DAYS = 365
WEBHOOK_SECRET_ENV = "WHATCONVERTS_WEBHOOK_SECRET"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUOTA = 0, 1, 2, 3
EXIT_TERM = 143  # 128 + SIGTERM: a backfill or refresh stopped before its end
# 128 + SIGPIPE, as a filter killed by a closed pipe (`| head`), like the other commands.
EXIT_CLOSED_STDOUT = 141

ClientFactory = Callable[[argparse.Namespace], AbstractAsyncContextManager["WhatConverts"]]
Words = Callable[[str, "str | None"], str]


class _OneLineErrors(argparse.ArgumentParser):
    """A mirror action's parser: a bad value (``--daily-limit nan``) is one line naming the
    flag, exit 2, like every other mirror usage error (not the whole usage text)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"whatconverts: error: {message}\n")


def add_mirror_parser(
    commands: Any, add_connection: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``mirror`` and its actions to ``commands`` (an ``add_subparsers()`` object);
    ``add_connection`` adds the client's connection options (credentials, ``--demo``)."""
    mirror = commands.add_parser(
        "mirror",
        help="keep a SQL database (SQLite or PostgreSQL) in step with WhatConverts",
        description="Mirror leads into SQLite (a file path is enough) or PostgreSQL.",
    )
    actions = mirror.add_subparsers(
        dest="mirror_action", metavar="ACTION", parser_class=_OneLineErrors
    )
    actions.required = True
    helps = {
        "backfill": "read every lead since --start-date (resumable at page level)",
        "refresh": "re-read the recent past by plan, confirm missing leads",
        "run": "refresh whenever due and (with --webhook-port) receive webhooks",
        "status": "what is covered, the refresh plan and its daily cost",
    }
    for name, text in helps.items():
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "--db",
            default=os.environ.get("WHATCONVERTS_MIRROR_DB"),
            help="SQLite file or URL, or postgresql://... (env WHATCONVERTS_MIRROR_DB; "
            f"with --demo default {DEMO_DB})",
        )
        action.add_argument("--key-name", default="default", help="name of the key's sync state")
        scope = action.add_mutually_exclusive_group()
        scope.add_argument("--account-id", type=int, help="mirror one account (master key)")
        scope.add_argument("--profile-id", type=int, help="mirror one profile (master key)")
        action.add_argument("--quiet", action="store_true", help="no progress bar")
        if name in ("refresh", "run", "status"):
            action.add_argument(
                "--tier",
                action="append",
                metavar="NAME:DAYS:HOURS",
                help="a refresh tier: re-read the last DAYS days every HOURS hours (repeat; "
                "default hot:2:1 warm:7:6 cold:35:24)",
            )
            action.add_argument(
                "--daily-budget",
                type=int,
                help="requests a day the refresh plan may cost (the narrowest, most frequent "
                "tiers are dropped first until it fits)",
            )
        if name == "backfill":
            action.add_argument("--start-date", help="first creation date (YYYY-MM-DD)")
            action.add_argument("--end-date", help="last creation date (default: now)")
        if name == "refresh":
            action.add_argument("--force", action="store_true", help="refresh even if not due")
        if name == "run":
            action.add_argument(
                "--webhook-port",
                type=int,
                help="serve webhooks on this port, on --webhook-host (default 127.0.0.1: this "
                "machine only; --webhook-host 0.0.0.0 listens publicly)",
            )
            action.add_argument(
                "--webhook-host",
                default=None,  # 127.0.0.1, set after the checks (given alone, it is refused)
                help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
            )
            action.add_argument("--webhook-path", default=None, help="default /")
            action.add_argument(
                "--webhook-insecure",
                action="store_true",
                help=f"listen on a non-loopback --webhook-host without {WEBHOOK_SECRET_ENV} "
                "(anyone who can reach the port can then rewrite rows; for a network you "
                "trust, e.g. behind a proxy that checks requests)",
            )
            action.add_argument(
                "--poll-seconds", type=float, default=60.0, help="how often to check the plan"
            )
        add_connection(action)
        for option in action._actions:
            if option.dest == "demo_leads":
                # The export's demo spans years; the mirror's is its own.
                option.default = None  # DEMO_LEADS, set after the checks (needs --demo)
                option.help = (
                    f"leads in the demo account (default {DEMO_LEADS:,}, over the "
                    f"{DEMO_DAYS} days before the first demo run on this database)"
                )


@asynccontextmanager
async def _demo(
    args: argparse.Namespace, db: str, out: TextIO
) -> AsyncIterator[tuple[WhatConverts, FakeWhatConverts]]:
    """The simulator for ``--demo``, replaying the demo's history stored in ``db`` (see
    :mod:`.demo`); ``refresh`` and ``run`` make and store this run's edits first."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from ..client import WhatConverts
    from ..testing import FakeWhatConverts
    from .core import database_url
    from .demo import DemoJournal

    if args.demo_leads < 0:
        raise InvalidParameterError("--demo-leads", "must be >= 0")
    engine = create_async_engine(database_url(db))
    try:
        journal = await DemoJournal.load(engine, datetime.now(timezone.utc))
        # Generated leads are dated in the year before the anchor (the first demo run's
        # UTC midnight): every run against this database sees the same leads.
        fake = FakeWhatConverts(
            leads=args.demo_leads,
            seed=0,
            key_type=args.key_type,
            start=journal.anchor - timedelta(days=DEMO_DAYS),
            end=journal.anchor,
        )
        journal.replay(fake)
        args.demo_start = (journal.anchor - timedelta(days=DEMO_DAYS + 1)).date()
        if args.mirror_action in ("refresh", "run"):
            print(await journal.edit(engine, fake), file=out)
    finally:
        await engine.dispose()
    await fake.start()
    try:
        async with WhatConverts(
            fake.token,
            fake.secret,
            base_url=fake.url,
            key_type=args.key_type,
            daily_limit=args.daily_limit,
        ) as wc:
            yield wc, fake
    finally:
        await fake.close()


class _Bar:
    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.bar: Any = None

    def __call__(self, p: ScanProgress) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(unit="page", file=self.stream, dynamic_ncols=True, desc=p.scan)
        self.bar.n = p.pages
        at = "" if p.cursor_at is None else f", at {p.cursor_at:%Y-%m-%d}"
        self.bar.set_postfix_str(f"{p.leads:,} leads, {p.requests} requests{at}", refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


DEMO_BUDGET_NOTE = (
    "demo: the budget is this run's simulator's (each demo run starts a new simulator with "
    "a full daily budget); a real key's budget is shared by every run that day"
)


def _print_report(report: SyncReport, out: TextIO, *, changes: bool) -> None:
    if changes:
        for change in report.changes[:50]:
            if "lead_id" in change.fields:  # no earlier copy
                print(f"  lead {change.lead_id} ({change.source}): new", file=out)
                continue
            parts = [f"{name} {old!r} -> {new!r}" for name, (old, new) in change.fields.items()]
            if len(parts) > 6:
                parts = [*parts[:6], f"... {len(parts) - 6} more"]
            print(f"  lead {change.lead_id} ({change.source}): {', '.join(parts)}", file=out)
        if len(report.changes) > 50:
            kept_all = len(report.changes) < report.max_changes
            more = (
                f"{len(report.changes) - 50:,}"
                if kept_all
                else "over " + format(report.max_changes - 50, ",")
            )
            print(f"  ... and {more} more", file=out)
    print(report.summary(), file=out)


async def _act(args: argparse.Namespace, mirror: LeadMirror, out: TextIO, err: TextIO) -> int:
    bar = _Bar(err, not args.quiet)
    try:
        if args.mirror_action == "status":
            status = await mirror.status()
            if getattr(args, "status_without_credentials", False):
                # No key given: the local budget of a real key is unknown here.
                status = attrs.evolve(status, budget_left=None)
            print(status.render(), file=out)
            if args.demo:
                print(DEMO_BUDGET_NOTE, file=out)
            return EXIT_OK
        if args.mirror_action == "backfill":
            start = args.start_date
            if start is None:  # only with --demo (checked before connecting)
                start = args.demo_start
            report = await mirror.backfill(
                start_date=start, end_date=args.end_date, on_progress=bar
            )
            bar.close()
            _print_report(report, out, changes=False)
            if args.demo:
                print(DEMO_BUDGET_NOTE, file=out)
        elif args.mirror_action == "refresh":
            report = await mirror.refresh(force=args.force or args.demo, on_progress=bar)
            bar.close()
            if not report.tiers and report.complete:
                print("refresh: nothing due (use --force to refresh anyway)", file=out)
            _print_report(report, out, changes=True)
            if args.demo:
                print(DEMO_BUDGET_NOTE, file=out)
        else:
            return await _serve(args, mirror, out)
    finally:
        bar.close()
    return EXIT_OK if report.complete else EXIT_QUOTA


async def _serve(args: argparse.Namespace, mirror: LeadMirror, out: TextIO) -> int:
    from ..webhooks import serve_webhooks

    async def refresh_forever() -> None:
        await mirror.run(
            poll_seconds=args.poll_seconds,
            on_report=lambda r: print(r.summary(), file=out, flush=True),
        )

    at, tiers = await mirror.next_refresh()
    if not tiers:
        print("next refresh: never (no tier fits the daily budget)", file=out, flush=True)
    elif at <= datetime.now(timezone.utc):
        print(f"next refresh: now ({', '.join(tiers)})", file=out, flush=True)
    else:
        when = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"next refresh: {when} ({', '.join(tiers)})", file=out, flush=True)
    if args.webhook_port is None:
        await refresh_forever()
        return EXIT_OK
    secret = os.environ.get(WEBHOOK_SECRET_ENV) or None
    async with serve_webhooks(
        mirror.on_webhook,
        host=args.webhook_host,
        port=args.webhook_port,
        shared_secret=secret,
        path=args.webhook_path,
    ) as url:
        print(
            f"receiving webhooks on {url}" + ("" if secret else f" (no {WEBHOOK_SECRET_ENV} set)"),
            file=out,
            flush=True,
        )
        await refresh_forever()
    return EXIT_OK


MAX_TIER_HOURS = 24 * 366
"""The longest ``--tier`` period: a year (the widest tier reads at most 100 years back)."""
MAX_POLL_SECONDS = 86_400.0
"""The longest ``--poll-seconds``: a day (a plan's tiers come due hourly by default)."""
MIN_POLL_SECONDS = 1.0
"""The shortest ``--poll-seconds``: each check reads the database (and a failed refresh
backs off from it), so a shorter one only spins."""
MAX_DEMO_LEADS = 1_000_000
"""The most ``--demo-leads``: the simulator holds them in memory."""
MAX_TIMEOUT = 3_600.0
"""The longest ``--timeout`` a mirror command takes: an hour per attempt."""
MAX_RETRIES = 100
MAX_DAILY = 10**9
"""The largest ``--daily-limit``/``--daily-budget`` (far above any real key's budget)."""
MAX_WEBHOOK_PATH = 200

# A flag that only means something with another one: given alone it would be ignored.
_NEEDS = (
    ("webhook_host", "--webhook-host", "webhook_port", "--webhook-port"),
    ("webhook_path", "--webhook-path", "webhook_port", "--webhook-port"),
    ("webhook_insecure", "--webhook-insecure", "webhook_port", "--webhook-port"),
    ("quota_key_id", "--quota-key-id", "quota_redis", "--quota-redis"),
    ("quota_fallback", "--quota-fallback", "quota_redis", "--quota-redis"),
    ("demo_leads", "--demo-leads", "demo", "--demo"),
)
# The library's parameter names in the mirror's messages, as the flags that set them
# (the export's own names are the CLI's _FLAG_OF).
_MIRROR_FLAGS = {
    "base_url": "--base-url",
    "url": "--db",
    "daily_budget": "--daily-budget",
    "key_name": "--key-name",
    "poll_seconds": "--poll-seconds",
}


def _plan(specs: list[str]) -> Any:
    from .plan import RefreshPlan, Tier

    tiers = []
    for spec in specs:
        parts = spec.split(":")
        try:
            name, days, hours = parts[0], int(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise InvalidParameterError(
                "--tier", f"must look like NAME:DAYS:HOURS (e.g. hot:2:1), got {spec!r}"
            ) from None
        if len(parts) != 3:
            raise InvalidParameterError("--tier", f"must look like NAME:DAYS:HOURS, got {spec!r}")
        if not hours * 60 >= 1:  # nan fails it too
            raise InvalidParameterError(
                "--tier", f"HOURS must be at least 1/60 (one minute), got {parts[2]!r} in {spec!r}"
            )
        if hours > MAX_TIER_HOURS:  # inf too
            raise InvalidParameterError(
                "--tier",
                f"HOURS must be at most {MAX_TIER_HOURS:,} (a year), got {parts[2]!r} in {spec!r}",
            )
        tiers.append(Tier(name, days, timedelta(hours=hours)))
    return RefreshPlan(tiers=tuple(tiers))


def _check_options(args: argparse.Namespace, now: datetime) -> str | None:
    """The first bad option value, as a message naming the option (``None``: all fine).

    Run before anything is opened: a bad value costs no request and writes no database.
    """
    from ..params import to_utc_datetime

    action = args.mirror_action
    problem = _check_flag_values(args)
    if problem is not None:
        return problem
    for option, value in (("--account-id", args.account_id), ("--profile-id", args.profile_id)):
        if value is not None and not 1 <= value < 2**63:
            return f"{option} must be a positive integer (below 2**63), got {value}"
    if not args.key_name.strip() or len(args.key_name) > 100:
        return f"--key-name must be non-empty text of at most 100 characters, got {args.key_name!r}"
    if getattr(args, "demo_leads", 0) < 0:
        return f"--demo-leads must be >= 0, got {args.demo_leads}"
    if getattr(args, "demo_leads", 0) > MAX_DEMO_LEADS:
        return f"--demo-leads must be at most {MAX_DEMO_LEADS:,}, got {args.demo_leads:,}"
    if getattr(args, "daily_limit", None) is not None and args.daily_limit < 0:
        return f"--daily-limit must be >= 0, got {args.daily_limit}"
    if getattr(args, "daily_budget", None) is not None and args.daily_budget < 0:
        return f"--daily-budget must be an integer >= 0, got {args.daily_budget}"
    if action == "backfill":
        try:
            start = (
                None
                if args.start_date is None
                else to_utc_datetime(args.start_date, "--start-date")
            )
            end = (
                None
                if args.end_date is None
                else to_utc_datetime(args.end_date, "--end-date", end_of_day=True)
            )
        except InvalidParameterError as exc:
            return str(exc)
        if end is not None and end.date() > now.date():
            return (
                f"--end-date {args.end_date} is after today ({now.date().isoformat()} UTC): "
                "a backfill covers what exists now; omit --end-date to read up to now"
            )
        if start is not None and end is not None and end < start:
            return f"--end-date {args.end_date} is before --start-date {args.start_date}"
        if start is not None and end is None and start > now:
            return (
                f"--start-date {args.start_date}: the start_date is in the future, "
                "no lead exists yet"
            )
    if action == "run":
        poll = args.poll_seconds
        if not MIN_POLL_SECONDS <= poll <= MAX_POLL_SECONDS:  # nan fails both
            return (
                f"--poll-seconds must be a number of seconds from {MIN_POLL_SECONDS:g} to "
                f"{MAX_POLL_SECONDS:,.0f} (a day), got {poll!r}"
            )
        if args.webhook_port is not None and not 1 <= args.webhook_port <= 65535:
            return f"--webhook-port must be 1..65535, got {args.webhook_port}"
        path_problem = _webhook_path_problem(args.webhook_path)
        if path_problem is not None:
            return f"--webhook-path {path_problem}"
        if not args.webhook_host.strip():
            return "--webhook-host must not be empty"
        if (
            args.webhook_port is not None
            and not os.environ.get(WEBHOOK_SECRET_ENV)
            and not args.webhook_insecure
            and not _loopback(args.webhook_host)
        ):
            return (
                f"--webhook-host {args.webhook_host} listens beyond this machine, and without "
                f"a shared secret anyone who reaches the port can rewrite rows: set "
                f"{WEBHOOK_SECRET_ENV} (the secret your WhatConverts webhook sends), or use "
                "--webhook-insecure to listen without one"
            )
    return None


def _given(args: argparse.Namespace, name: str) -> bool:
    """Whether the flag for ``name`` was given."""
    return getattr(args, name, None) not in (None, False)


def _check_flag_values(args: argparse.Namespace) -> str | None:
    """Flags given without the flag they depend on, and connection values no run can use
    (``nan``, ``inf``, absurdly large); ``None`` when all is well."""
    for name, flag, needed, needed_flag in _NEEDS:
        if _given(args, name) and not _given(args, needed):
            return f"{flag} needs {needed_flag} (alone it would be ignored)"
    # The defaults of the flags above, now that "given" is known.
    for name, default in (
        ("webhook_host", "127.0.0.1"),
        ("webhook_path", "/"),
        ("demo_leads", DEMO_LEADS),
    ):
        if hasattr(args, name) and getattr(args, name) is None:
            setattr(args, name, default)
    if not args.key_name.isprintable():
        return f"--key-name must be printable text, got {args.key_name!r}"
    timeout = getattr(args, "timeout", None)
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:  # nan fails both
        return (
            f"--timeout must be a number of seconds > 0 and at most {MAX_TIMEOUT:,.0f}, "
            f"got {timeout!r}"
        )
    retries = getattr(args, "max_retries", None)
    if retries is not None and not 0 <= retries <= MAX_RETRIES:
        return f"--max-retries must be 0..{MAX_RETRIES}, got {retries}"
    for name, flag, low in (
        ("daily_limit", "--daily-limit", 1),
        ("daily_budget", "--daily-budget", 0),
    ):
        value = getattr(args, name, None)
        if value is not None and not low <= value <= MAX_DAILY:
            return f"{flag} must be an integer {low}..{MAX_DAILY:,}, got {value}"
    fallback = getattr(args, "quota_fallback", None)
    if fallback is not None and not 0 < fallback <= 1:  # nan fails it
        return f"--quota-fallback must be a fraction in (0, 1], e.g. 0.1, got {fallback!r}"
    redis = getattr(args, "quota_redis", None)
    if redis is not None:
        problem = _redis_url_problem(redis)
        if problem is not None:
            return f"--quota-redis {problem}"
    key_id = getattr(args, "quota_key_id", None)
    if key_id is not None and not (0 < len(key_id) <= 200 and key_id.isprintable()):
        return "--quota-key-id must be printable text of 1 to 200 characters"
    base = getattr(args, "base_url", None)
    if base is not None and not base.strip():
        return "--base-url must not be empty (leave it out for the real API)"
    return None


def _redis_url_problem(url: str) -> str | None:
    """What is wrong with a ``--quota-redis`` URL (never quoting it: it may hold a
    password), ``None`` when it looks usable."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "must be a redis://, rediss:// or unix:// URL"
    if parts.scheme != "unix":
        if not parts.hostname:
            return "must name a host, e.g. redis://localhost:6379/0"
        database = parts.path.strip("/")
        if database and not database.isdigit():
            return "must end with a database number, e.g. redis://localhost:6379/0"
    return None


def _webhook_path_problem(path: str) -> str | None:
    """What is wrong with a ``--webhook-path`` (``None``: a plain absolute path)."""
    from urllib.parse import unquote

    if not path.startswith("/"):
        return f"must start with '/', got {path!r}"
    if len(path) > MAX_WEBHOOK_PATH:
        return f"must be at most {MAX_WEBHOOK_PATH} characters, got {len(path):,}"
    if not path.isprintable() or any(c.isspace() or c in "?#" for c in path):
        return f"must be a plain path (no spaces, '?' or '#'), got {path!r}"
    try:
        if re.search(r"%(?![0-9A-Fa-f]{2})", path):
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "a % without two hex digits")
        unquote(path, errors="strict")
    except UnicodeDecodeError:
        return f"has %-escapes that do not decode, got {path!r}"
    return None


def _flag_words(exc: InvalidParameterError, words: Words | None) -> str:
    """A library message about a parameter, in the flags the user typed: the mirror's own
    names first, then ``words`` (the export CLI's rewording, passed in by it)."""
    message = str(exc)
    if exc.parameter.startswith("tier"):
        return f"--tier: {message}"  # "tier days must be ...": the part of the value
    flag = _MIRROR_FLAGS.get(exc.parameter)
    if flag is not None and message.startswith(exc.parameter + " "):
        message = flag + message[len(exc.parameter) :]
    return message if words is None else words(message, exc.parameter)


def _loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost`` or a loopback address)."""
    import ipaddress

    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _db_path_problem(url: Any, action: str) -> str | None:
    """What is wrong with a SQLite ``--db`` before connecting (``None``: looks usable)."""
    path = Path(url.database)
    if path.is_dir():
        return f"--db {path} is a directory, not a SQLite file"
    if not path.exists():
        if action == "status":
            return (
                f"--db {path}: no such database (status only reads an existing mirror; "
                "check the path, or run backfill first)"
            )
        parent = path.parent
        if not parent.is_dir():
            return f"--db {path}: the directory {parent} does not exist"
        if not os.access(parent, os.W_OK):
            return f"--db {path}: cannot create it, the directory {parent} is not writable"
        return None
    if action != "status" and not os.access(path, os.W_OK):
        return f"--db {path} is read-only (the mirror writes to it)"
    return None


def _quiet_stdout(out: TextIO) -> None:
    # The reader (``| head``) is gone: send the rest, and the flush at exit, to nowhere.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError):
        pass


async def _warnings(args: argparse.Namespace, mirror: LeadMirror, err: TextIO) -> None:
    """Warnings before refresh/run/status: tiers the daily budget drops, a backfill left
    incomplete."""
    if args.mirror_action not in ("refresh", "run", "status"):
        return
    dropped = await mirror.dropped_tiers()
    if dropped:
        budget = mirror.daily_budget if mirror.daily_budget is not None else mirror.wc.quota.limit
        left = [t.name for t in mirror.plan.tiers if t.name not in dropped]
        rest = f"; the plan keeps {', '.join(left)}" if left else "; no tier is left to refresh"
        print(
            f"whatconverts: warning: a daily budget of {budget:,} requests is too small for "
            f"the tier(s) {', '.join(dropped)}: dropped{rest}",
            file=err,
        )
    if args.mirror_action == "status":
        return
    status = await mirror.status()
    for scan in status.scans:
        if scan.scan == "backfill" and scan.status == "running":
            at = "" if scan.cursor_at is None else f", read up to {scan.cursor_at:%Y-%m-%d}"
            print(
                f"whatconverts: warning: the backfill from {scan.window_start:%Y-%m-%d} is "
                f"incomplete{at}; run `whatconverts mirror backfill` again to finish it",
                file=err,
            )


@asynccontextmanager
async def _status_client(args: argparse.Namespace) -> AsyncIterator[WhatConverts]:
    """A client that is never used for a request: ``status`` reads only the database."""
    from ..client import WhatConverts

    async with WhatConverts(
        "status-only", "status-only", key_type=args.key_type, daily_limit=args.daily_limit
    ) as wc:
        yield wc


def _on_sigterm() -> Callable[[], bool]:
    """Make SIGTERM cancel the running command like Ctrl-C; returns "was it SIGTERM?".

    A no-op (always ``False``) where the loop cannot take signal handlers (Windows, a
    thread other than the main one)."""
    seen = False
    task = asyncio.current_task()

    def stop() -> None:
        nonlocal seen
        seen = True
        if task is not None:
            task.cancel()

    with suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
    return lambda: seen


async def run_mirror(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    client: ClientFactory,
    words: Words | None = None,
) -> int:
    """Run ``whatconverts mirror ...``; ``client(args)`` opens the API client (real keys);
    ``words(message, parameter)`` rewords a library message in flags (the CLI's).

    Database problems are one line naming the database (password masked) and exit 2 when
    the database cannot be opened, 1 when it fails later; no SQL text is shown."""
    try:
        from sqlalchemy.exc import SQLAlchemyError

        from . import schema
        from .core import LeadMirror, MirrorBusyError, database_url, shown_url
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        print(
            f"whatconverts: error: the mirror needs the [mirror] extra "
            f"(pip install 'whatconverts-async[mirror]'): {exc}",
            file=err,
        )
        return EXIT_USAGE
    problem = _check_options(args, datetime.now(timezone.utc))
    plan = None
    if problem is None and getattr(args, "tier", None):
        try:
            plan = _plan(args.tier)
        except InvalidParameterError as exc:
            problem = _flag_words(exc, words)
    if problem is not None:
        print(f"whatconverts: error: {problem}", file=err)
        return EXIT_USAGE
    if args.mirror_action == "backfill" and args.start_date is None and not args.demo:
        print("whatconverts: error: --start-date is required for a backfill", file=err)
        return EXIT_USAGE
    db = args.db or (DEMO_DB if args.demo else None)
    if db is None:
        print("whatconverts: error: --db is required (or set WHATCONVERTS_MIRROR_DB)", file=err)
        return EXIT_USAGE
    try:
        url = database_url(db)
    except InvalidParameterError as exc:
        print(f"whatconverts: error: --db: {str(exc)[len(exc.parameter) + 1 :]}", file=err)
        return EXIT_USAGE
    shown = shown_url(url)
    if url.get_backend_name() == "sqlite":
        problem = _db_path_problem(url, args.mirror_action)
        if problem:
            print(f"whatconverts: error: {problem}", file=err)
            return EXIT_USAGE
    if (args.account_id or args.profile_id) and args.key_type != "master":
        flag = "--account-id" if args.account_id else "--profile-id"
        print(
            f"whatconverts: error: {flag} filters by account or profile only with a master "
            "(agency) key (--key-type master)",
            file=err,
        )
        return EXIT_USAGE
    options: dict[str, Any] = {
        "key_name": args.key_name,
        "account_id": args.account_id,
        "profile_id": args.profile_id,
    }
    if plan is not None:
        options["plan"] = plan
    if getattr(args, "daily_budget", None) is not None:
        options["daily_budget"] = args.daily_budget
    opened = False

    async def act(wc: WhatConverts) -> int:
        nonlocal opened
        mirror = LeadMirror(wc, url, **options)
        # status only reads: it creates no table in a database that holds no mirror.
        await mirror.open(create=args.mirror_action != "status")
        try:
            opened = True
            await _warnings(args, mirror, err)
            return await _act(args, mirror, out, err)
        finally:
            await mirror.close()

    terminated = _on_sigterm()
    try:
        if args.demo:
            async with _demo(args, db, out) as (wc, _fake):
                return await act(wc)
        credentials = os.environ.get("WHATCONVERTS_API_TOKEN") and os.environ.get(
            "WHATCONVERTS_API_SECRET"
        )
        if args.mirror_action == "status" and not credentials:
            args.status_without_credentials = True
            async with _status_client(args) as wc:
                return await act(wc)
        async with client(args) as wc:
            return await act(wc)
    except asyncio.CancelledError:
        if not terminated():
            raise
        uncancel = getattr(asyncio.current_task(), "uncancel", None)  # Python 3.11+
        if uncancel is not None:
            uncancel()
        # Stopped by SIGTERM (systemd, Docker): the page under way committed or rolled
        # back and the lease was released on the way out, as after Ctrl-C.
        if args.mirror_action == "run":
            print("whatconverts: stopped (SIGTERM); committed pages stay", file=err)
            return EXIT_OK
        print(
            "whatconverts: stopped (SIGTERM); committed pages stay: run the same mirror "
            "command again to continue",
            file=err,
        )
        return EXIT_TERM
    except MirrorBusyError as exc:
        print(f"whatconverts: error: {exc}", file=err)
        return EXIT_ERROR
    except (schema.NoMirrorError, schema.SchemaConflictError, schema.SchemaVersionError) as exc:
        print(f"whatconverts: error: database {shown}: {exc}", file=err)
        return EXIT_USAGE
    except InvalidParameterError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"whatconverts: error: {_flag_words(exc, words)}", file=err)
        return EXIT_USAGE
    except QuotaExhaustedError as exc:
        print(f"whatconverts: error: {exc}; run the same command again after the reset", file=err)
        return EXIT_QUOTA
    except ModuleNotFoundError as exc:
        if exc.name not in ("asyncpg", "psycopg", "aiosqlite"):
            raise
        if exc.name == "psycopg":
            hint = "use a postgresql:// URL: the mirror picks asyncpg"
        else:
            extra = "mirror" if exc.name == "aiosqlite" else "mirror,postgres"
            hint = f"pip install 'whatconverts-async[{extra}]'"
        print(
            f"whatconverts: error: the database driver {exc.name} is not installed ({hint})",
            file=err,
        )
        return EXIT_USAGE
    except SQLAlchemyError as exc:
        from .core import _db_problem

        print(f"whatconverts: error: database {shown}: {_db_problem(exc)}", file=err)
        unreachable = isinstance(getattr(exc, "orig", None), OSError)
        return EXIT_ERROR if opened or unreachable else EXIT_USAGE
    except BrokenPipeError:
        _quiet_stdout(out)
        return EXIT_CLOSED_STDOUT
    except OSError as exc:
        if opened:
            raise
        # asyncpg lets connection errors through unwrapped (refused, unknown host): the
        # server is down or unreachable, not a mistake on the command line.
        print(f"whatconverts: error: database {shown}: {type(exc).__name__}: {exc}", file=err)
        return EXIT_ERROR
    finally:
        with suppress(Exception):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
