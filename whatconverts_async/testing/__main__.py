"""Run the simulator standalone: ``python -m whatconverts_async.testing``.

Example::

    python -m whatconverts_async.testing --port 8080 --leads 100000 --key-type master
    python -m whatconverts_async.testing --start 2025-01-01   # leads up to now
    python -m whatconverts_async.testing --realism strict=true --realism spent_key_status=403
    curl -u TOKEN:SECRET 'http://127.0.0.1:8080/api/v1/leads?leads_per_page=5'

It prints the base URL, the (fake) credentials and ``export`` lines that point the
``whatconverts`` command at it, then serves until Ctrl-C or SIGTERM. The leads are dated
from ``--start`` (default 2017-01-01) to ``--end`` (default: now, so workflows about
recent data, such as the mirror's refresh tiers, see a live-looking account).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timezone

import attrs

from .realism import Realism
from .server import FakeWhatConverts

__all__ = ["main", "parse_realism"]


def parse_realism(settings: Sequence[str]) -> Realism:
    """Build a :class:`Realism` from ``NAME=VALUE`` strings (``strict=true``...).

    Booleans are ``true``/``false``, ``spent_key_status`` a number, the rest text.
    Raises ``ValueError`` naming a bad setting.
    """
    fields = {f.name: f for f in attrs.fields(Realism)}
    values: dict[str, object] = {}
    for setting in settings:
        name, sep, raw = setting.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields:
            known = ", ".join(fields)
            raise ValueError(
                f"--realism takes NAME=VALUE with NAME one of {known}; got {setting!r}"
            )
        default = fields[name].default
        value: object = raw
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false"):
                raise ValueError(f"--realism {name} must be true or false, got {raw!r}")
            value = raw.lower() == "true"
        elif isinstance(default, int):
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"--realism {name} must be a number, got {raw!r}") from None
        values[name] = value
    try:
        return Realism(**values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        # attrs validators put the readable message first among their arguments.
        message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise ValueError(f"--realism: {message}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m whatconverts_async.testing",
        description="Serve a local WhatConverts API v1 simulator with generated data.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument("--leads", type=int, default=100_000, help="number of generated leads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument(
        "--key-type",
        choices=("profile", "master"),
        default="profile",
        help="which key to print first (both keys always work)",
    )
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--profiles-per-account", type=int, default=1)
    parser.add_argument(
        "--daily-limit", type=int, default=None, help="requests per key per UTC day"
    )
    parser.add_argument(
        "--start",
        default="2017-01-01",
        help="date of the oldest generated lead (YYYY-MM-DD or ISO date-time; default 2017-01-01)",
    )
    parser.add_argument(
        "--end",
        default=None,
        help="date of the newest generated lead (a bare date: its end; default: now, UTC)",
    )
    parser.add_argument(
        "--realism",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Realism switch, e.g. strict=true or spent_key_status=403 (repeatable)",
    )
    return parser


def _moment(text: str, flag: str, *, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` (its first or, with ``end_of_day``, last second) or an ISO date-time
    (naive is UTC) as an aware UTC instant; ValueError naming ``flag``.

    The simulator parses its own flags: it shares no code with the client it checks.
    """
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            moment = datetime.combine(day, time(23, 59, 59) if end_of_day else time(0))
        else:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{flag} must be a date (YYYY-MM-DD) or ISO date-time, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _data_range(args: argparse.Namespace) -> tuple[datetime, datetime]:
    """``--start``/``--end`` as aware UTC instants; ValueError naming the flag."""
    start = _moment(args.start, "--start")
    end = (
        datetime.now(timezone.utc).replace(microsecond=0)
        if args.end is None
        else _moment(args.end, "--end", end_of_day=True)
    )
    if start >= end:
        raise ValueError(f"--start must be before --end ({start:%Y-%m-%d} >= {end:%Y-%m-%d})")
    return start, end


def _export_lines(fake: FakeWhatConverts, key_type: str) -> list[str]:
    """Shell lines that point ``whatconverts`` and the library at ``fake``."""
    env = {
        "WHATCONVERTS_API_TOKEN": fake.token,
        "WHATCONVERTS_API_SECRET": fake.secret,
        "WHATCONVERTS_BASE_URL": fake.url,
        "WHATCONVERTS_KEY_TYPE": key_type,
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


async def _serve(args: argparse.Namespace) -> None:
    start, end = _data_range(args)
    fake = FakeWhatConverts(
        leads=args.leads,
        seed=args.seed,
        key_type=args.key_type,
        host=args.host,
        port=args.port,
        accounts=args.accounts,
        profiles_per_account=args.profiles_per_account,
        daily_limit=args.daily_limit,
        latency=args.latency or None,
        realism=parse_realism(args.realism),
        start=start,
        end=end,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not available on Windows
            loop.add_signal_handler(sig, stop.set)
    async with fake:
        print(f"WhatConverts simulator listening on {fake.url}", flush=True)
        print(f"  {len(fake.data):,} leads, seed {args.seed}", flush=True)
        for label, key in (("profile key", fake.profile_key), ("master key", fake.master_key)):
            print(f"  {label}: token={key.token} secret={key.secret}", flush=True)
        print(f"  try: curl -u {fake.token}:{fake.secret} '{fake.url}leads'", flush=True)
        print(f"  leads dated {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC", flush=True)
        print("To point the whatconverts command at it, paste:", flush=True)
        for line in _export_lines(fake, args.key_type):
            print(line, flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        parse_realism(args.realism)
        _data_range(args)
    except ValueError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
