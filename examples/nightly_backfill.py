"""A nightly backfill: export every lead to JSONL, continuing where last night stopped.

Run it from cron (or any scheduler) every night with the same arguments. Each run spends
at most the day's budget; when the budget runs out it stops with exit code 3 and a
checkpoint, and the next run resumes after the last page written. Every lead ends up in
the file exactly once.

    export WHATCONVERTS_API_TOKEN=... WHATCONVERTS_API_SECRET=...
    python examples/nightly_backfill.py --start-date 2015-01-01 --out leads.jsonl

Demo against the simulator, with a budget so small that it takes several "nights"::

    python examples/nightly_backfill.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import date
from pathlib import Path

from whatconverts_async import QuotaExhaustedError, WhatConverts
from whatconverts_async.export import export_leads
from whatconverts_async.testing import FakeWhatConverts

EXIT_DONE, EXIT_BUDGET_SPENT = 0, 3


async def one_night(wc: WhatConverts, out: Path, start_date: date) -> int:
    """One run: resume (or start) the export; returns the exit code."""
    try:
        result = await export_leads(
            wc, out, start_date=start_date, resume=out.exists(), per_page=500
        )
    except QuotaExhaustedError as exc:
        print(f"budget spent, resets at {exc.resets_at:%Y-%m-%d %H:%M} UTC; run again then")
        return EXIT_BUDGET_SPENT
    print(f"done: {result.leads_written} leads written, {result.requests_used} requests")
    return EXIT_DONE


async def demo() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await demo_in(Path(tmp) / "leads.jsonl")
    print("demo ok")


async def demo_in(out: Path) -> None:
    async with FakeWhatConverts(leads=3_000, seed=2) as fake:
        nights = 0
        while True:
            nights += 1
            # A new client each night: the budget of 4 requests stands for a day's 1,000.
            async with WhatConverts(
                fake.token, fake.secret, base_url=fake.url, daily_limit=4
            ) as wc:
                code = await one_night(wc, out, date(2015, 1, 1))
            if code == EXIT_DONE:
                break
            assert nights < 20, "the backfill does not progress"
        ids = [json.loads(line)["lead_id"] for line in out.read_text().splitlines()]
        assert sorted(ids) == sorted(fake.data.lead_ids()), "leads lost or repeated"
        print(f"{len(ids)} leads exported exactly once over {nights} nights")


async def run(out: Path, start_date: date) -> int:
    async with WhatConverts.from_env() as wc:
        return await one_night(wc, out, start_date)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run against the simulator")
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2015, 1, 1))
    parser.add_argument("--out", type=Path, default=Path("leads.jsonl"))
    args = parser.parse_args()
    if args.demo:
        asyncio.run(demo())
        return EXIT_DONE
    return asyncio.run(run(args.out, args.start_date))


if __name__ == "__main__":
    sys.exit(main())
