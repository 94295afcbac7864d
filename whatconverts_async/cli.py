"""The ``whatconverts`` command: backfill export, quota, single leads.

::

    whatconverts export leads --demo --start-date 2019-01-01 --out leads.jsonl
    WHATCONVERTS_API_TOKEN=… WHATCONVERTS_API_SECRET=… \\
      whatconverts export leads --start-date 2015-01-01 --out leads.csv --format csv --resume
    whatconverts quota
    whatconverts leads get 123
    whatconverts merge shard0.jsonl shard1.jsonl --out leads.jsonl

Exit codes: 0 done, 1 other error, 2 usage error, 3 daily budget spent (the export is
resumable with ``--resume``), 4 authentication failed. Errors are one line on stderr;
``--debug`` shows the traceback and DEBUG logs (which never contain credentials).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, TextIO, cast

from . import __version__
from .budget import Clock, FileQuota, SystemClock, daily_limit_for, default_state_dir
from .client import WhatConverts
from .errors import (
    AuthenticationError,
    InvalidParameterError,
    QuotaExhaustedError,
    QuotaStateError,
    QuotaUnavailableError,
    UsageError,
    WhatConvertsError,
)
from .export import (
    Checkpoint,
    Completion,
    ExportError,
    ExportProgress,
    export_leads,
    merge_jsonl,
)
from .export.checkpoint import completion_path
from .export.orchestrator import check_export, check_resume_arguments, check_writable_folder
from .mirror.cli import add_mirror_parser, run_mirror
from .throttle import per_shard_concurrency
from .vocab import LEAD_FILTERS

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUOTA, EXIT_AUTH = 0, 1, 2, 3, 4
# A reader that went away (``| head``) is no failure of the command: it exits as a
# program killed by SIGPIPE does (128 + 13), silently, so ``set -o pipefail`` scripts
# see the same code as for any other Unix filter, and a finished run is not claimed (0).
EXIT_CLOSED_STDOUT = 141
DEMO_LEADS = 200_000
DEMO_START = datetime(2019, 1, 1, tzinfo=timezone.utc)
DEMO_END = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _env_default(name: str, default: Any = None) -> Any:
    return os.environ.get(name, default)


def _add_debug(parser: argparse.ArgumentParser) -> None:
    # Also after the subcommand (`whatconverts export leads ... --debug`); SUPPRESS keeps
    # the value given before it when this one is absent.
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="tracebacks and DEBUG logs"
    )


_TRUST_ENV_HELP = (
    "send requests through the proxy named by HTTP_PROXY/HTTPS_PROXY (honouring NO_PROXY) "
    "and use ~/.netrc; by default the environment is ignored"
)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    _add_debug(parser)
    group = parser.add_argument_group(
        "connection",
        "Credentials come from WHATCONVERTS_API_TOKEN and WHATCONVERTS_API_SECRET.",
    )
    group.add_argument(
        "--key-type",
        choices=("profile", "master"),
        default=_env_default("WHATCONVERTS_KEY_TYPE", "profile"),
        help="API key type (env WHATCONVERTS_KEY_TYPE; default profile)",
    )
    group.add_argument(
        "--base-url",
        default=_env_default("WHATCONVERTS_BASE_URL"),
        help="API root (env WHATCONVERTS_BASE_URL)",
    )
    group.add_argument(
        "--daily-limit",
        type=int,
        default=None,
        help="daily request budget (default 1000 for profile keys, 10000 for master keys)",
    )
    group.add_argument("--timeout", type=float, default=30.0, help="seconds per attempt")
    # Also after the subcommand; SUPPRESS keeps the value given before it when absent.
    group.add_argument(
        "--trust-env", action="store_true", default=argparse.SUPPRESS, help=_TRUST_ENV_HELP
    )
    group.add_argument("--max-retries", type=int, default=5, help="retries per request")
    group.add_argument(
        "--quota-redis",
        default=_env_default("WHATCONVERTS_QUOTA_REDIS"),
        metavar="URL",
        help="share the daily budget through Redis, e.g. redis://localhost:6379/0 "
        "(env WHATCONVERTS_QUOTA_REDIS; needs the [redis] extra)",
    )
    group.add_argument(
        "--quota-key-id",
        default=_env_default("WHATCONVERTS_QUOTA_KEY_ID"),
        help="name of the shared budget in Redis (default: derived from the token)",
    )
    group.add_argument(
        "--quota-fallback",
        type=float,
        default=None,
        metavar="FRACTION",
        help="when Redis is unreachable, spend at most this fraction of the daily limit "
        "locally instead of stopping (default: stop)",
    )
    group.add_argument(
        "--demo",
        action="store_true",
        help="run against the built-in API simulator (no credentials, no network)",
    )
    group.add_argument(
        "--demo-leads",
        type=int,
        default=DEMO_LEADS,
        metavar="N",
        help=f"leads in the demo account (default {DEMO_LEADS:,}, over 2019-2025)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whatconverts",
        description="WhatConverts API from the command line: backfill exports and lookups.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="tracebacks and DEBUG logs")
    parser.add_argument("--trust-env", action="store_true", help=_TRUST_ENV_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    export = commands.add_parser("export", help="export data to a file")
    export_kinds = export.add_subparsers(dest="kind", metavar="KIND")
    export_kinds.required = True
    leads = export_kinds.add_parser(
        "leads",
        help="export every lead of a date range to JSONL or CSV, resumable",
        description=(
            "Export every lead from --start-date to --end-date (default: now) to a JSONL or "
            "CSV file. Progress is checkpointed after every page: after a crash, run the "
            "same command with --resume. Exit code 3 means the daily budget is spent; "
            "resume after the UTC-midnight reset, or use --wait-for-quota. A finished "
            "export stays finished: for leads that arrive later, export the following "
            "range to a new file. The format follows the file name (.jsonl, .ndjson, "
            ".json or .csv) unless --format is given."
        ),
    )
    leads.add_argument(
        "--start-date", required=True, help="first day (YYYY-MM-DD or ISO date-time)"
    )
    leads.add_argument(
        "--end-date",
        default=None,
        help="last day, inclusive, not after today (default: now; the end is fixed when "
        "the export starts and --resume keeps it)",
    )
    leads.add_argument("--out", required=True, type=_file_path, help="output file")
    leads.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default=None,
        help="output format (default: from the file name, else jsonl)",
    )
    leads.add_argument("--resume", action="store_true", help="continue an interrupted export")
    leads.add_argument("--force", action="store_true", help="overwrite an existing output")
    leads.add_argument("--order", choices=("asc", "desc"), default="asc", help="date order")
    leads.add_argument("--per-page", type=int, default=None, help="leads per request (max 2500)")
    leads.add_argument("--prefetch", type=int, default=4, help="pages in flight (default 4)")
    leads.add_argument(
        "--wait-for-quota",
        action="store_true",
        help="when the daily budget is spent, wait for the UTC reset and go on",
    )
    leads.add_argument("--quiet", action="store_true", help="no progress bar")
    leads.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="export only shard I of N (0-based), for parallel workers",
    )
    _add_filter_flags(leads)
    _add_connection(leads)

    quota = commands.add_parser(
        "quota",
        help="today's local request budget and the next reset",
        description=(
            "Show the request budget this machine has spent today with these credentials "
            "(counted locally by every whatconverts command) and when it resets."
        ),
    )
    _add_connection(quota)

    merge = commands.add_parser(
        "merge",
        help="merge the JSONL outputs of sharded exports into one file",
        description=(
            "Merge JSONL files written by `export leads --shard I/N` workers into one file "
            "ordered by date, checking that no lead appears twice. The parts must be every "
            "shard of one finished export (as recorded when each finished), unless "
            "--allow-partial."
        ),
    )
    merge.add_argument("parts", nargs="+", type=_file_path, help="the shard outputs (JSONL)")
    merge.add_argument(
        "--out", required=True, type=_file_path, help="merged output (.jsonl or .csv)"
    )
    merge.add_argument("--order", choices=("asc", "desc"), default="asc")
    merge.add_argument("--force", action="store_true", help="overwrite an existing output")
    merge.add_argument(
        "--allow-partial",
        action="store_true",
        help="merge even if the parts are not every shard of one finished export",
    )
    _add_debug(merge)

    add_mirror_parser(commands, _add_connection)
    lead_cmd = commands.add_parser("leads", help="single leads")
    lead_actions = lead_cmd.add_subparsers(dest="action", metavar="ACTION")
    lead_actions.required = True
    get = lead_actions.add_parser(
        "get",
        help="print one lead as JSON",
        description=(
            "Fetch one lead by its id and print it as JSON on stdout (every field the API "
            "returned, unknown ones included). Costs one request of today's budget."
        ),
    )
    get.add_argument(
        "lead_id", type=_lead_id, metavar="LEAD_ID", help="the lead's id (a positive integer)"
    )
    _add_connection(get)
    return parser


def _file_path(text: str) -> Path:
    """A file path from the command line; an empty one is refused (``Path("")`` would
    quietly become the current folder)."""
    if not text:
        raise argparse.ArgumentTypeError("must be the path of a file, got an empty string")
    return Path(text)


def _lead_id(text: str) -> int:
    """A lead id from the command line: a positive integer (argparse says which argument)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if not 1 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _plural(count: int, noun: str) -> str:
    """``1 request``, ``2 requests`` (counts with thousands separators)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _add_filter_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per lead filter of the API (``--lead-type``, ``--spam``, ...)."""
    group = parser.add_argument_group("filters")
    for spec in LEAD_FILTERS.values():
        flag = "--" + spec.name.replace("_", "-")
        if spec.kind == "choice":
            group.add_argument(flag, choices=spec.allowed, help=spec.help)
        elif spec.kind == "bool":
            group.add_argument(flag, action="store_true", default=None, help=spec.help)
        elif spec.kind == "id":
            group.add_argument(flag, type=int, help=spec.help)
        else:
            group.add_argument(flag, help=spec.help)


def _state_quota(token: str, key_type: str, limit: int) -> FileQuota:
    # A digest names the file: the token itself never lands on disk.
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    return FileQuota(default_state_dir() / f"quota-{key_type}-{digest}.json", limit)


def _check_connection_flags(args: argparse.Namespace) -> None:
    """UsageError for a connection flag no run could use (before anything happens)."""
    if args.daily_limit is not None and args.daily_limit < 1:
        raise UsageError(
            f"--daily-limit must be a positive number of requests per UTC day, "
            f"got {args.daily_limit}"
        )
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.max_retries < 0:
        raise UsageError(f"--max-retries must be 0 or more, got {args.max_retries}")
    if args.quota_fallback is not None and not 0 < args.quota_fallback <= 1:
        raise UsageError(
            f"--quota-fallback must be a fraction in (0, 1], e.g. 0.1, got {args.quota_fallback}"
        )
    if args.demo and args.demo_leads < 0:
        raise UsageError("--demo-leads must be >= 0")


@asynccontextmanager
async def _client(args: argparse.Namespace, **extra: Any) -> AsyncIterator[WhatConverts]:
    _check_connection_flags(args)
    key_type = args.key_type
    limit = args.daily_limit
    common: dict[str, Any] = {
        "key_type": key_type,
        "timeout": args.timeout,
        "max_retries": args.max_retries,
        "trust_env": bool(getattr(args, "trust_env", False)),
        **extra,
    }
    if args.demo:
        from .testing import FakeWhatConverts

        fake = FakeWhatConverts(
            leads=args.demo_leads, seed=0, key_type=key_type, start=DEMO_START, end=DEMO_END
        )
        await fake.start()
        try:
            async with WhatConverts(
                fake.token, fake.secret, base_url=fake.url, daily_limit=limit, **common
            ) as wc:
                yield wc
        finally:
            await fake.close()
        return
    token = os.environ.get("WHATCONVERTS_API_TOKEN", "")
    secret = os.environ.get("WHATCONVERTS_API_SECRET", "")
    if not token or not secret:
        raise UsageError("set WHATCONVERTS_API_TOKEN and WHATCONVERTS_API_SECRET, or try --demo")
    daily = daily_limit_for(key_type, limit)
    if args.quota_redis:
        from .budget import RedisQuota

        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        try:
            shared = RedisQuota(
                args.quota_redis,
                key_id=args.quota_key_id or f"{key_type}-{digest}",
                limit=daily,
                fallback_fraction=args.quota_fallback,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        quota: Any = shared
    else:
        shared = None
        quota = _state_quota(token, key_type, daily)
    kwargs: dict[str, Any] = {"quota": quota, **common}
    if args.base_url:
        kwargs["base_url"] = args.base_url
    try:
        async with WhatConverts(token, secret, **kwargs) as wc:
            if shared is not None:
                await shared.refresh()
            yield wc
    finally:
        if shared is not None:
            await shared.aclose()


class _Progress:
    """Progress on stderr: a tqdm bar on a terminal, nothing otherwise."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.bar: Any = None
        self.enabled = enabled and stream.isatty()
        self.started = time.monotonic()

    def __call__(self, p: ExportProgress) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=p.windows_total,
                unit="window",
                file=self.stream,
                dynamic_ncols=True,
                initial=p.windows_done,
            )
        self.bar.n = p.windows_done
        rate = p.leads_written / max(time.monotonic() - self.started, 1e-9)
        self.bar.set_postfix_str(
            f"{p.leads_written:,} leads, {rate:,.0f}/s, {_plural(p.requests_used, 'request')}, "
            f"{p.requests_left} left today",
            refresh=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise UsageError(f"--shard index must be 0..N-1, got {text!r}")
    return index, count


class _AnnouncingClock:
    """The system clock, saying on stderr when the export starts waiting for the reset.

    The client sleeps on its clock only to wait for the daily budget's reset, so each
    sleep here is that wait: one line per reset, however many tasks wait for it.
    """

    def __init__(self, stream: TextIO, clock: Clock | None = None) -> None:
        self.stream = stream
        self.clock = clock or SystemClock()
        self._announced: datetime | None = None

    def now(self) -> datetime:
        """The current instant (aware UTC)."""
        return self.clock.now()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, first saying until when (UTC), once per reset."""
        until = (self.now() + timedelta(seconds=seconds)).replace(microsecond=0)
        if self._announced is None or until > self._announced + timedelta(minutes=1):
            self._announced = until
            hours, rest = divmod(int(seconds), 3600)
            print(
                f"whatconverts: today's request budget is spent; waiting until "
                f"{_utc(until)} ({hours} h {rest // 60:02d} min) "
                "for the reset, then going on",
                file=self.stream,
                flush=True,
            )
        await self.clock.sleep(seconds)


_OFFSET_TIME = re.compile(r"\b(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?\+00:00\b")


def _utc(moment: datetime) -> str:
    """``moment`` as the CLI prints every time: UTC to the second, ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_in_text(message: str) -> str:
    """A library message with its ISO UTC times (``...T00:00:00.000918+00:00``) as
    :func:`_utc` prints them; other offsets are left alone, since they are not UTC."""
    return _OFFSET_TIME.sub(lambda m: m.group(1) + "Z", message)


def _preflight(windows: int, left: int, mode: str) -> str:
    """The line before an export: the fewest requests it needs against today's budget.

    ``windows`` is a floor (one request per window; more when a window holds more leads
    than a page), so the budget is never said to cover the export, only the floor.
    """
    line = (
        f"whatconverts: {windows} window(s) of up to 400 days: at least {windows} "
        f"request(s) (one more per extra page); today's budget has {left} left"
    )
    if left < windows:
        then = "it will wait for the reset" if mode == "wait" else "it will stop (exit 3)"
        return f"{line}: not enough; {then} and --resume goes on"
    return f"{line} (enough for the first page of each window)"


_FORMAT_OF_SUFFIX: dict[str, Literal["jsonl", "csv"]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".br")


def _output_format(path: Path, given: str | None, flag: str = "--out") -> Literal["jsonl", "csv"]:
    """The format to write ``path`` in: ``--format`` if given, else from the file name.

    Raises :class:`UsageError` when the name says another format than ``--format``, or
    when without ``--format`` the name says none we write (a compressed or unknown
    extension): the output would not be what its name promises.
    """
    suffix = path.suffix.lower()
    named = _FORMAT_OF_SUFFIX.get(suffix)
    if given is not None:
        if named is not None and named != given:
            raise UsageError(
                f"--format {given} contradicts {flag} {path}: the name says {named}; "
                "change the name or the --format"
            )
        return "csv" if given == "csv" else "jsonl"
    if named is not None:
        return named
    if suffix in _COMPRESSED:
        raise UsageError(
            f"{flag} {path} names a compressed file, but the output is written "
            "uncompressed; name it .jsonl or .csv and compress it afterwards (or pass "
            "--format to write plain text under this name anyway)"
        )
    raise UsageError(
        f"cannot tell the format from {flag} {path}: name it .jsonl (or .ndjson, .json) "
        "or .csv, or pass --format jsonl|csv"
    )


def _not_stdout(path: Path, why: str) -> None:
    """UsageError for ``--out -``: the usual name of standard output would otherwise
    become a file named ``-`` in the current folder."""
    if str(path) == "-":
        raise UsageError(f"--out - (standard output) is not accepted: {why}")


async def _export(args: argparse.Namespace, err: TextIO) -> int:
    # Every check comes first: nothing is printed, sent or written for a bad command.
    _not_stdout(
        args.out,
        "an export writes a file and keeps its checkpoint beside it (for --resume); "
        "name a file, e.g. --out leads.jsonl",
    )
    fmt = _output_format(args.out, args.format)
    filters = {
        name: getattr(args, name) for name in LEAD_FILTERS if getattr(args, name) is not None
    }
    shard = _parse_shard(args.shard)
    _check_connection_flags(args)
    state = check_export(
        args.out,
        start_date=args.start_date,
        end_date=args.end_date,
        format=fmt,
        resume=args.resume,
        force=args.force,
        per_page=args.per_page,
        prefetch=args.prefetch,
        shard=shard,
    )
    mode = "wait" if args.wait_for_quota else "raise"
    progress = _Progress(err, enabled=not args.quiet)
    # Shards share one key: together they keep within its in-flight maximum.
    cap = per_shard_concurrency(shard[1] if shard else 1)
    extra: dict[str, Any] = {"on_quota_exhausted": mode, "max_concurrency": cap}
    if args.wait_for_quota:
        extra["clock"] = _AnnouncingClock(err)
    async with _client(args, **extra) as wc:
        if isinstance(state, Checkpoint):
            # Arguments other than the checkpoint's fail here, before the plan line.
            check_resume_arguments(
                wc,
                state,
                start_date=args.start_date,
                end_date=args.end_date,
                order=args.order,
                per_page=args.per_page,
                shard=shard,
                **filters,
            )
            windows = state.windows_total - state.window
        else:
            plan = wc.leads.plan_scan(
                start_date=args.start_date,
                end_date=args.end_date,
                order=args.order,
                per_page=args.per_page,
                **filters,
            )
            windows = len(plan.shard(*shard).windows if shard is not None else plan.windows)
        if not isinstance(state, Completion) and windows:
            print(_preflight(windows, wc.quota.remaining, mode), file=err)
        try:
            result = await export_leads(
                wc,
                args.out,
                start_date=args.start_date,
                end_date=args.end_date,
                format=fmt,
                resume=args.resume,
                force=args.force,
                order=args.order,
                per_page=args.per_page,
                prefetch=args.prefetch,
                shard=shard,
                on_progress=progress,
                **filters,
            )
        finally:
            progress.close()
        if result.already_complete:
            print(
                f"whatconverts: {result.path} is already complete "
                f"({result.leads_written:,} leads, {result.windows_total} windows); "
                "nothing to do",
                file=err,
            )
            return EXIT_OK
        left = _plural(wc.quota.remaining, "request")
        if isinstance(state, Checkpoint):
            # The result counts the whole export, its elapsed time only this run: say which.
            leads = result.leads_written - state.leads_written
            rate = leads / max(result.elapsed, 1e-9)
            print(
                f"whatconverts: exported to {result.path} ({result.format}), resumed; "
                f"this run: {leads:,} leads in {result.elapsed:.1f} s ({rate:,.0f} leads/s), "
                f"{_plural(result.requests_used - state.requests_used, 'request')}; "
                f"whole export: {result.leads_written:,} leads, "
                f"{_plural(result.requests_used, 'request')}, "
                f"{result.windows_done}/{result.windows_total} windows; {left} left today",
                file=err,
            )
            return EXIT_OK
        rate = result.leads_written / max(result.elapsed, 1e-9)
        print(
            f"whatconverts: exported {result.leads_written:,} leads to {result.path} "
            f"({result.format}) in {result.elapsed:.1f} s ({rate:,.0f} leads/s), "
            f"{_plural(result.requests_used, 'request')}, "
            f"{result.windows_done}/{result.windows_total} "
            f"windows; {left} left today",
            file=err,
        )
    return EXIT_OK


async def _quota(args: argparse.Namespace, out: TextIO) -> int:
    async with _client(args) as wc:
        quota = wc.quota
        if isinstance(quota, FileQuota):
            # A damaged file reads as a spent day: say it is damaged, not "0 remaining".
            quota.check_state()
        print(
            json.dumps(
                {
                    "key_type": wc.key_type.value,
                    "limit": quota.limit,
                    "used": quota.used,
                    "remaining": quota.remaining,
                    "resets_at": _utc(quota.resets_at),
                },
                indent=2,
            ),
            file=out,
        )
    return EXIT_OK


async def _lead_get(args: argparse.Namespace, out: TextIO) -> int:
    async with _client(args) as wc:
        lead = await wc.leads.get(args.lead_id)
        print(json.dumps(lead.to_dict(), indent=2, ensure_ascii=False), file=out)
    return EXIT_OK


def _check_shard_set(parts: Sequence[Path]) -> None:
    """UsageError unless ``parts`` are every shard of one finished export, once each.

    What each part is comes from the record its export left when it finished (see
    :class:`~whatconverts_async.export.Completion`): its arguments and its ``I/N``.
    """
    found: dict[int, Path] = {}
    counts: set[int] = set()
    queries: list[tuple[Path, dict[str, Any]]] = []
    for part in parts:
        record = Completion.load(completion_path(part))
        if record is None or not record.matches(part):
            raise UsageError(
                f"cannot tell which shard {part} is: there is no record here of an export "
                "that finished writing it (or it changed since); merge it with "
                "--allow-partial if you know the set is complete"
            )
        index, count = record.query.get("shard") or (0, 1)
        if index in found:
            raise UsageError(
                f"{found[index]} and {part} are both shard {index}/{count}; pass each shard once"
            )
        found[index] = part
        counts.add(count)
        queries.append((part, {k: v for k, v in record.query.items() if k != "shard"}))
    if len(counts) > 1:
        raise UsageError(
            "the parts come from exports split into different numbers of shards "
            f"({', '.join(str(n) for n in sorted(counts))}); merge the shards of one export"
        )
    first, query = queries[0]
    for part, other in queries[1:]:
        if other != query:
            names = sorted(k for k in set(query) | set(other) if query.get(k) != other.get(k))
            raise UsageError(
                f"{part} and {first} are shards of different exports "
                f"({', '.join(names)} differ); merge the shards of one export"
            )
    (count,) = counts
    missing = [str(i) for i in range(count) if i not in found]
    if missing:
        raise UsageError(
            f"the set is incomplete: shard(s) {', '.join(missing)} of {count} are missing "
            f"(given: {', '.join(f'{i}/{count}' for i in sorted(found))}); pass every shard, "
            "or --allow-partial to merge only these"
        )


def _check_merge_paths(parts: Sequence[Path], out: Path) -> None:
    """UsageError for a part that is not a readable file, InvalidParameterError (naming
    --out) for an output that cannot be written: both before anything is read."""
    for part in parts:
        if part.is_dir():
            raise UsageError(f"{part} is a directory, not a file: pass the JSONL files to merge")
        if not part.is_file():
            raise UsageError(f"{part} is not a file (no such file)")
        if not os.access(part, os.R_OK):
            raise UsageError(f"{part} cannot be read (permission denied)")
    check_writable_folder(out, "path")


def _merge(args: argparse.Namespace, err: TextIO) -> int:
    _not_stdout(
        args.out, "the merged output is written to a file and renamed into place when complete"
    )
    fmt = _output_format(args.out, None)
    _check_merge_paths(args.parts, args.out)
    if not args.allow_partial:
        _check_shard_set(args.parts)
    written = merge_jsonl(args.parts, args.out, order=args.order, format=fmt, force=args.force)
    print(
        f"whatconverts: merged {written:,} leads from {len(args.parts)} files into {args.out}",
        file=err,
    )
    return EXIT_OK


async def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "merge":
        return _merge(args, err)
    if args.command == "export":
        return await _export(args, err)
    if args.command == "quota":
        return await _quota(args, out)
    if args.command == "mirror":
        return await run_mirror(args, out, err, _client, _in_cli_words)
    return await _lead_get(args, out)


_PYTHON_OPTION = re.compile(r"\b(\w+)=True(?: \((--[\w-]+)\))?")

# The library's parameter names and the flags that set them: the one place where an
# error about a Python argument is turned into one about the flag the user typed.
_FLAG_OF = {
    "start_date": "--start-date",
    "end_date": "--end-date",
    "per_page": "--per-page",
    "leads_per_page": "--per-page",
    "prefetch": "--prefetch",
    "shard": "--shard",
    "format": "--format",
    "order": "--order",
    "resume": "--resume",
    "force": "--force",
    "path": "--out",
    "fallback_fraction": "--quota-fallback",
    "daily_limit": "--daily-limit",
    "limit": "--daily-limit",
    "key_type": "--key-type",
    "timeout": "--timeout",
    "max_retries": "--max-retries",
    "lead_id": "LEAD_ID",
    **{name: "--" + name.replace("_", "-") for name in LEAD_FILTERS},
}
# In running text only the names with an underscore are replaced: "resume" or "order"
# are also plain words there.
_PYTHON_NAME = re.compile(
    r"(?<![\w-])("
    + "|".join(sorted((n for n in _FLAG_OF if "_" in n), key=len, reverse=True))
    + r")(?![\w-])"
)


def _in_cli_words(message: str, parameter: str | None = None, *, names: bool = True) -> str:
    """A library message as the command line says it: flags for Python argument names.

    ``parameter`` (an :class:`InvalidParameterError`'s) heads the message and is
    replaced even when it is a plain word; ``force=True (--force)`` becomes ``--force``.
    ``names=False`` only does the latter (the mirror commands word their own messages).
    """
    if not names:
        return _PYTHON_OPTION.sub(
            lambda m: m.group(2) or "--" + m.group(1).replace("_", "-"), message
        ).replace(" (or --force)", "")
    if parameter in _FLAG_OF and message.startswith(parameter + " "):
        message = _FLAG_OF[parameter] + message[len(parameter) :]
    message = _PYTHON_OPTION.sub(
        lambda m: m.group(2) or _FLAG_OF.get(m.group(1), "--" + m.group(1).replace("_", "-")),
        message,
    ).replace(" (or --force)", "")
    return _PYTHON_NAME.sub(lambda m: _FLAG_OF[m.group(1)], message)


def _quota_hint(args: argparse.Namespace, exc: QuotaExhaustedError) -> str:
    """What to do about a spent budget, in the options of the command that was run."""
    if isinstance(exc, QuotaStateError):
        return ""  # its message already says how to reset the file; waiting will not
    if args.command == "export":
        return (
            "; progress is saved: run the same command with --resume after the reset "
            "(or use --wait-for-quota)"
        )
    if args.command == "mirror":
        return "; committed pages stay: run the same mirror command again after the reset"
    return f"; run the command again after the reset ({_utc(exc.resets_at)})"


def _one_log_handler() -> None:
    """Leave the CLI's handler as the only one that prints the library's records.

    ``WHATCONVERTS_LOG`` gives the library a stderr handler of its own for programs that
    configure no logging; the CLI does, so with both every line would print twice. The
    level it asked for stays.
    """
    library = logging.getLogger("whatconverts_async")
    for handler in list(library.handlers):
        if not isinstance(handler, logging.NullHandler):
            library.removeHandler(handler)


class _StdoutClosed(BrokenPipeError):
    """Standard output's reader went away (never a socket's or a database's pipe).

    A :class:`BrokenPipeError` still, so code that already handles a closed stdout (the
    mirror commands') keeps doing so; :func:`main` handles the rest.
    """


class _GuardedStdout:
    """Standard output whose broken pipe is told apart from any other one.

    Only a :class:`BrokenPipeError` from writing here means the reader left; the same
    error from a socket or a database must still fail loudly as an error.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text``; :class:`_StdoutClosed` when the reader is gone."""
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise _StdoutClosed from None

    def flush(self) -> None:
        """Flush; :class:`_StdoutClosed` when the reader is gone."""
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise _StdoutClosed from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's own flush
    at exit (of what is still buffered for the gone reader) raises nothing: the recipe
    of Python's ``signal`` module documentation for SIGPIPE."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    finally:
        os.close(null)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    err = sys.stderr
    _one_log_handler()
    if args.debug:
        logging.basicConfig(
            level=logging.DEBUG,
            stream=err,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    else:
        logging.basicConfig(level=logging.WARNING, stream=err, format="whatconverts: %(message)s")
    out = _GuardedStdout(sys.stdout)
    try:
        code = asyncio.run(_run(args, cast(TextIO, out), err))
        out.flush()  # inside the try: a reader gone is found here, not at exit
        return code
    except _StdoutClosed:
        _silence_stdout()
        return EXIT_CLOSED_STDOUT
    except KeyboardInterrupt:
        if args.command == "mirror":
            print(
                "whatconverts: interrupted; committed pages stay: run the same mirror command "
                "again to continue",
                file=err,
            )
        else:
            print("whatconverts: interrupted; an export can continue with --resume", file=err)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        code = EXIT_ERROR
        message = str(exc)
        if isinstance(exc, (UsageError, InvalidParameterError, ExportError)):
            code = EXIT_USAGE
        elif isinstance(exc, QuotaExhaustedError):
            code = EXIT_QUOTA
            message += _quota_hint(args, exc)
        elif isinstance(exc, AuthenticationError):
            code = EXIT_AUTH
            message = f"authentication failed: check the API token and secret ({exc.status})"
        elif not isinstance(exc, WhatConvertsError):
            message = f"{type(exc).__name__}: {exc}"
        parameter = exc.parameter if isinstance(exc, InvalidParameterError) else None
        # Only our own messages are reworded: an API's error text is quoted as it came.
        ours = isinstance(
            exc, (UsageError, InvalidParameterError, ExportError, QuotaUnavailableError)
        )
        words = _utc_in_text(
            _in_cli_words(message, parameter, names=ours and args.command != "mirror")
        )
        print(f"whatconverts: error: {words}", file=err)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
