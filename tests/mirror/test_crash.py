"""``kill -9`` at random points of a backfill and a refresh ends with the same database as an
uninterrupted run, and re-spends at most a page or two of budget per kill."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror import schema as mirror_schema
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW

CHILD = Path(__file__).with_name("_crash_child.py")
START = (NOW - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
KILLS = 10  # per phase: 10 in the backfill, 10 in the refresh


async def snapshot(url: str) -> tuple[dict[int, Any], list[tuple[int, str]]]:
    engine = sa.ext.asyncio.create_async_engine(
        url if "://" in url else f"sqlite+aiosqlite:///{url}"
    )
    try:
        async with engine.connect() as conn:
            leads = {
                r.lead_id: (r.content_hash, json.loads(r.record), r.missing_since, r.deleted_at)
                for r in await conn.execute(sa.select(mirror_schema.leads))
            }
            fields = mirror_schema.changes.c
            log = sorted(
                (r.lead_id, json.dumps(r.fields, sort_keys=True))
                for r in await conn.execute(sa.select(fields.lead_id, fields.fields))
            )
    finally:
        await engine.dispose()
    return leads, log


async def run_child(fake: FakeWhatConverts, db: str, action: str, kill_after: float | None) -> bool:
    """Run one child; kill it ``kill_after`` seconds after it is ready. True if it finished."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        fake.url,
        fake.token,
        fake.secret,
        db,
        action,
        START,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.startswith(b"ready"), line
        if kill_after is not None:
            try:
                await asyncio.wait_for(proc.wait(), kill_after)
            except asyncio.TimeoutError:
                proc.send_signal(signal.SIGKILL)
        out = await asyncio.wait_for(proc.stdout.read(), 120)
        code = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if code == -signal.SIGKILL:
        return False
    assert code == 0, out
    return True


def db_for_child(db_url: str) -> str:
    return db_url.replace("postgresql://", "postgresql+asyncpg://") if "://" in db_url else db_url


async def test_kill_9_during_backfill_and_refresh(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(9)
    async with FakeWhatConverts(
        leads=600, seed=5, start=NOW - timedelta(days=120), end=NOW
    ) as fake:
        fake.faults.latency = 0.01
        reference = str(tmp_path / "reference.db")
        async with (
            WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc,
            LeadMirror(wc, reference, page_size=20) as mirror,
        ):
            before = fake.request_count
            await mirror.backfill(start_date=START)
            backfill_requests = fake.request_count - before
        # The same backfill, killed again and again, then left to finish.
        before = fake.request_count
        kills = 0
        for _ in range(KILLS):
            finished = await run_child(fake, db_for_child(db_url), "backfill", rng.uniform(0, 0.2))
            kills += not finished
        await run_child(fake, db_for_child(db_url), "backfill", None)
        assert kills >= KILLS // 2
        # Each kill re-spends at most the page in flight and one looked ahead.
        assert fake.request_count - before <= backfill_requests + 2 * kills
        assert await snapshot(db_for_child(db_url)) == await snapshot(reference)

        # People edit leads; refresh both, the second killed again and again.
        for lead_id in fake.data.lead_ids()[-200::5]:
            fake.data.patch_lead(lead_id, {"quotable": "Yes", "sales_value": lead_id % 1000 + 0.5})
        async with (
            WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc,
            LeadMirror(wc, reference, page_size=20) as mirror,
        ):
            report = await mirror.refresh(force=True)
            assert report.updated == 40
        kills = 0
        for _ in range(KILLS):
            finished = await run_child(fake, db_for_child(db_url), "refresh", rng.uniform(0, 0.2))
            kills += not finished
        await run_child(fake, db_for_child(db_url), "refresh", None)
        assert kills >= KILLS // 2
        leads, log = await snapshot(db_for_child(db_url))
        ref_leads, ref_log = await snapshot(reference)
        assert leads == ref_leads
        # Exactly once: every change logged once, in the same transaction as its write.
        assert log == ref_log
