"""``whatconverts mirror backfill|refresh|run|status``: the mirror from the command line.

::

    whatconverts mirror backfill --demo                       # a demo mirror in SQLite
    whatconverts mirror refresh --demo                        # the simulator edits leads first
    whatconverts mirror backfill --db sqlite:///leads.db --start-date 2015-01-01
    whatconverts mirror refresh  --db postgresql://user@host/crm
    whatconverts mirror run      --db leads.db --webhook-port 8080
    whatconverts mirror status   --db leads.db

Exit codes as for ``export``: 0 done, 1 error (another writer included), 2 usage,
3 daily budget spent (everything committed stays; run again to resume), 4 authentication.
This module imports SQLAlchemy only when a mirror command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TextIO

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

ClientFactory = Callable[[argparse.Namespace], AbstractAsyncContextManager["WhatConverts"]]


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
    actions = mirror.add_subparsers(dest="mirror_action", metavar="ACTION")
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
                help="requests a day the refresh plan may cost (lowest tiers dropped to fit)",
            )
        if name == "backfill":
            action.add_argument("--start-date", help="first creation date (YYYY-MM-DD)")
            action.add_argument("--end-date", help="last creation date (default: now)")
        if name == "refresh":
            action.add_argument("--force", action="store_true", help="refresh even if not due")
        if name == "run":
            action.add_argument("--webhook-port", type=int, help="serve webhooks on this port")
            action.add_argument("--webhook-host", default="127.0.0.1", help="default 127.0.0.1")
            action.add_argument("--webhook-path", default="/", help="default /")
            action.add_argument(
                "--poll-seconds", type=float, default=60.0, help="how often to check the plan"
            )
        add_connection(action)
        action.set_defaults(demo_leads=DEMO_LEADS)


@asynccontextmanager
async def _demo(args: argparse.Namespace) -> AsyncIterator[tuple[WhatConverts, FakeWhatConverts]]:
    from ..client import WhatConverts
    from ..testing import FakeWhatConverts

    if args.demo_leads < 0:
        raise InvalidParameterError("--demo-leads", "must be >= 0")
    # Dated up to today's UTC midnight: every run of the same day sees the same leads.
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    fake = FakeWhatConverts(
        leads=args.demo_leads,
        seed=0,
        key_type=args.key_type,
        start=today - timedelta(days=DEMO_DAYS),
        end=today,
    )
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


def _demo_edits(fake: FakeWhatConverts, out: TextIO) -> None:
    """What people do in WhatConverts days after a lead arrives, done in the simulator."""
    now = fake.now()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    edits: list[tuple[int, dict[str, Any]]] = [
        (2, {"quotable": "Yes", "quote_value": 450}),
        (10, {"quotable": "Yes", "sales_value": 1250.5}),
        (30, {"quotable": "No", "notes": "not a fit"}),
    ]
    for days, fields in edits:
        ids = fake.data.lead_ids(None, now - timedelta(days=days))
        if ids:
            # Generated leads may carry a last_updated ahead of now: never go back from it.
            before = str(fake.data.lead(ids[-1]).get("last_updated") or "")
            fake.data.patch_lead(ids[-1], {**fields, "last_updated": max(stamp, before)})
    for hours in (1, 2, 3):
        fake.data.insert_lead(now - timedelta(hours=hours), lead_type="phone_call")
    print(
        "demo: the simulator edited 3 older leads (2, 10 and 30 days old) and received 3 new ones",
        file=out,
    )


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
    print(report.summary(), file=out)


async def _act(args: argparse.Namespace, mirror: LeadMirror, out: TextIO, err: TextIO) -> int:
    bar = _Bar(err, not args.quiet)
    try:
        if args.mirror_action == "status":
            print((await mirror.status()).render(), file=out)
            return EXIT_OK
        if args.mirror_action == "backfill":
            start = args.start_date
            if start is None:  # only with --demo (checked before connecting)
                start = (datetime.now(timezone.utc) - timedelta(days=DEMO_DAYS + 1)).date()
            report = await mirror.backfill(
                start_date=start, end_date=args.end_date, on_progress=bar
            )
            bar.close()
            _print_report(report, out, changes=False)
        elif args.mirror_action == "refresh":
            report = await mirror.refresh(force=args.force or args.demo, on_progress=bar)
            bar.close()
            if not report.tiers and report.complete:
                print("refresh: nothing due (use --force to refresh anyway)", file=out)
            _print_report(report, out, changes=True)
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
        tiers.append(Tier(name, days, timedelta(hours=hours)))
    return RefreshPlan(tiers=tuple(tiers))


async def run_mirror(
    args: argparse.Namespace, out: TextIO, err: TextIO, client: ClientFactory
) -> int:
    """Run ``whatconverts mirror ...``; ``client(args)`` opens the API client (real keys)."""
    try:
        from .core import LeadMirror, MirrorBusyError
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        print(
            f"whatconverts: error: the mirror needs the [mirror] extra "
            f"(pip install 'whatconverts-async[mirror]'): {exc}",
            file=err,
        )
        return EXIT_USAGE
    if args.mirror_action == "backfill" and args.start_date is None and not args.demo:
        print("whatconverts: error: --start-date is required for a backfill", file=err)
        return EXIT_USAGE
    db = args.db or (DEMO_DB if args.demo else None)
    if db is None:
        print("whatconverts: error: --db is required (or set WHATCONVERTS_MIRROR_DB)", file=err)
        return EXIT_USAGE
    options: dict[str, Any] = {
        "key_name": args.key_name,
        "account_id": args.account_id,
        "profile_id": args.profile_id,
    }
    try:
        if getattr(args, "tier", None):
            options["plan"] = _plan(args.tier)
        if getattr(args, "daily_budget", None) is not None:
            options["daily_budget"] = args.daily_budget
    except InvalidParameterError as exc:
        print(f"whatconverts: error: {exc}", file=err)
        return EXIT_USAGE
    try:
        if args.demo:
            async with _demo(args) as (wc, fake):
                if args.mirror_action in ("refresh", "run"):
                    _demo_edits(fake, out)
                async with LeadMirror(wc, db, **options) as mirror:
                    return await _act(args, mirror, out, err)
        async with client(args) as wc, LeadMirror(wc, db, **options) as mirror:
            return await _act(args, mirror, out, err)
    except MirrorBusyError as exc:
        print(f"whatconverts: error: {exc}", file=err)
        return EXIT_ERROR
    except QuotaExhaustedError as exc:
        print(f"whatconverts: error: {exc}; run the same command again after the reset", file=err)
        return EXIT_QUOTA
    except asyncio.CancelledError:  # pragma: no cover - Ctrl-C in `run`
        raise
