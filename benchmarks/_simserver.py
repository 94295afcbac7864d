"""A simulator process for the benchmarks: ``python -m benchmarks._simserver OPTIONS``.

A thin wrapper over :class:`whatconverts_async.testing.FakeWhatConverts` that adds what
``python -m whatconverts_async.testing`` has no option for: the date range of the generated
leads, the size of the rendered-lead cache and a warm-up that renders every lead before
serving (so the simulator is not what a throughput figure measures). Once it answers, it
prints one JSON line ``{"url": ..., "token": ..., "secret": ..., "leads": ...}`` and serves
until SIGTERM, SIGINT or the end of its standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timezone

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._simserver")
    parser.add_argument("--leads", type=int, required=True)
    parser.add_argument("--start", default="2017-01-01", help="first day of generated leads")
    parser.add_argument("--end", default="2026-01-01", help="generated leads are before this day")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--cache", type=int, default=10_000, help="rendered leads kept")
    parser.add_argument("--warm", action="store_true", help="render every lead before serving")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


async def _serve(args: argparse.Namespace) -> None:
    from whatconverts_async.testing import FakeWhatConverts

    fake = FakeWhatConverts(
        leads=args.leads,
        seed=args.seed,
        start=_day(args.start),
        end=_day(args.end),
        daily_limit=10**9,
        latency=args.latency or None,
        lead_cache_size=max(args.cache, 1),
    )
    if args.warm:
        for lead_id in fake.data.lead_ids():
            fake.data.wire_lead(lead_id)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    # The end of stdin (the parent went away) stops the server too.
    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    async with fake:
        line = {
            "url": fake.url,
            "token": fake.token,
            "secret": fake.secret,
            "leads": len(fake.data),
        }
        print(json.dumps(line), flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until stopped; returns the exit status."""
    asyncio.run(_serve(_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
