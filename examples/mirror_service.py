"""A mirror service: a SQL table of leads kept current by refreshes and webhooks.

On start it backfills (resumable: a restart continues after the last committed page),
then refreshes the recent past on the mirror's plan and writes webhook deliveries as
they arrive. Both paths write through the same rules (newest ``last_updated`` wins, a
redelivery changes nothing), so they can run side by side.

    pip install 'whatconverts-async[mirror]'     # [postgres] for PostgreSQL
    export WHATCONVERTS_API_TOKEN=... WHATCONVERTS_API_SECRET=... WHATCONVERTS_WEBHOOK_SECRET=...
    python examples/mirror_service.py --db leads.db --port 8080

Demo against the simulator (backfill, one webhook, one refresh, then exit)::

    python examples/mirror_service.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sqlite3
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from aiohttp import web

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.webhooks import webhook_app


async def serve(
    wc: WhatConverts, database: str, webhook_secret: str, port: int, start_date: date
) -> None:
    """Backfill, then serve webhooks and refresh on the plan until cancelled."""
    async with LeadMirror(wc, database) as mirror:
        print((await mirror.backfill(start_date=start_date)).summary())
        app = webhook_app(mirror.on_webhook, shared_secret=webhook_secret)
        runner = web.AppRunner(app, access_log=None)  # access logs would record ?secret=
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", port).start()
        try:
            await mirror.run(poll_seconds=300, on_report=lambda r: print(r.summary()))
        finally:
            await runner.cleanup()


async def demo(folder: Path) -> None:
    database = folder / "leads.db"
    hook_secret = secrets.token_urlsafe(16)
    async with (
        FakeWhatConverts(leads=1_000, seed=6) as fake,
        WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc,
        LeadMirror(wc, str(database)) as mirror,
    ):
        print((await mirror.backfill(start_date=date(2015, 1, 1))).summary())

        runner = web.AppRunner(webhook_app(mirror.on_webhook, shared_secret=hook_secret))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        try:
            fake.webhooks.subscribe(f"http://{host}:{port}/?secret={hook_secret}")
            lead_id = fake.data.lead_ids()[-1]
            await wc.leads.update(lead_id, sales_value=4_200)
            await fake.webhooks.drain()
        finally:
            await runner.cleanup()
        print((await mirror.refresh(force=True)).summary())
        print((await mirror.status()).render())

    with sqlite3.connect(database) as db:
        (count,) = db.execute("select count(*) from leads").fetchone()
        (record, source) = db.execute(
            "select record, source from leads where lead_id = ?", (lead_id,)
        ).fetchone()
    assert count == len(fake.data.lead_ids()), (count, len(fake.data.lead_ids()))
    assert Decimal(str(json.loads(record)["sales_value"])) == 4200, record
    print(f"{count} leads mirrored; lead {lead_id} edited, last written by {source}")
    print("demo ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run against the simulator")
    parser.add_argument(
        "--db",
        default=os.environ.get("WHATCONVERTS_MIRROR_DB", "leads.db"),
        help="SQLite path or postgresql:// URL (env WHATCONVERTS_MIRROR_DB)",
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2015, 1, 1))
    args = parser.parse_args()
    if args.demo:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(demo(Path(tmp)))
        return

    async def run() -> None:
        async with WhatConverts.from_env() as wc:
            secret = os.environ["WHATCONVERTS_WEBHOOK_SECRET"]
            await serve(wc, args.db, secret, args.port, args.start_date)

    asyncio.run(run())


if __name__ == "__main__":
    main()
