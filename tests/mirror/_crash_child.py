"""A mirror run to be killed: ``python _crash_child.py BASE TOKEN SECRET DB ACTION START``."""

from __future__ import annotations

import asyncio
import sys

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror


async def main(base: str, token: str, secret: str, db: str, action: str, start: str) -> None:
    async with (
        WhatConverts(token, secret, base_url=base, max_retries=0) as wc,
        LeadMirror(wc, db, page_size=20) as mirror,
    ):
        print("ready", flush=True)
        if action == "backfill":
            report = await mirror.backfill(start_date=start)
        else:
            report = await mirror.refresh(force=True)
        print("done", report.summary(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
