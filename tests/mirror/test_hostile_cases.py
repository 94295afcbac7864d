"""Cases a hostile tester found: tombstones, undated webhooks, future leads, concurrent
first opens, and a second backfill past the first one's end (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from whatconverts_async import WhatConverts
from whatconverts_async.errors import WebhookError
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror import schema as mirror_schema
from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.webhooks import parse_webhook

from .conftest import NOW, MovableClock
from .test_mirror import DeletingApi, format_ts, rows, wire_ids


@asynccontextmanager
async def deleting_api(leads: list[dict[str, Any]]) -> AsyncIterator[tuple[DeletingApi, str]]:
    api = DeletingApi(leads)
    runner = web.AppRunner(api.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield api, f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/"
    finally:
        await runner.cleanup()


def body_of(lead: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"trigger": "new", **lead, **extra})


async def test_a_redelivered_webhook_does_not_revive_a_tombstone(
    db_url: str, fake: FakeWhatConverts
) -> None:
    leads = [fake.data.lead(i) for i in wire_ids(fake)[-10:]]
    gone = leads[4]
    async with deleting_api(leads) as (api, base):
        client = WhatConverts("t", "s", base_url=base, max_retries=0)
        async with client, LeadMirror(client, db_url) as mirror:
            await mirror.backfill(start_date=NOW - timedelta(days=200))
            api.deleted.add(gone["lead_id"])
            report = await mirror.refresh(force=True)
            assert report.tombstoned == 1
            report = await mirror.on_webhook(parse_webhook(body_of(gone)))
            assert report.unchanged == 1 and report.updated == 0
            row = (await rows(mirror))[gone["lead_id"]]
            assert row.deleted_at is not None and row.missing_since is not None
            # A changed copy with the same last_updated does not revive it either.
            report = await mirror.on_webhook(parse_webhook(body_of(gone, notes="zq-marker-1")))
            assert report.stale == 1
            row = (await rows(mirror))[gone["lead_id"]]
            assert row.deleted_at is not None and "zq-marker-1" not in row.record
            # A missing (not yet confirmed) lead stays missing after a redelivery too.
            hidden = leads[7]
            api.unlisted.add(hidden["lead_id"])
            async with LeadMirror(client, db_url, confirm_limit=0) as quiet:
                assert (await quiet.refresh(force=True)).missing == 1
                await quiet.on_webhook(parse_webhook(body_of(hidden)))
                assert (await rows(quiet))[hidden["lead_id"]].missing_since is not None
            # A copy with a newer last_updated is evidence the lead lives: it is written.
            newer = format_ts(NOW + timedelta(hours=1))
            report = await mirror.on_webhook(
                parse_webhook(body_of(gone, last_updated=newer, notes="back"))
            )
            assert report.updated == 1
            row = (await rows(mirror))[gone["lead_id"]]
            assert row.deleted_at is None and row.missing_since is None


async def test_an_undated_late_webhook_does_not_undo_a_newer_edit(
    db_url: str, fake: FakeWhatConverts
) -> None:
    leads = [fake.data.lead(i) for i in wire_ids(fake)[-5:]]
    original = dict(leads[2])
    assert original["quotable"] != "Yes"
    async with deleting_api(leads) as (api, base):
        client = WhatConverts("t", "s", base_url=base, max_retries=0)
        async with client, LeadMirror(client, db_url) as mirror:
            await mirror.backfill(start_date=NOW - timedelta(days=200))
            edited = format_ts(NOW)
            for d in api.leads:
                if d["lead_id"] == original["lead_id"]:
                    d.update(quotable="Yes", last_updated=edited)
            assert (await mirror.refresh(force=True)).updated == 1
            late = {k: v for k, v in original.items() if k != "last_updated"}
            await mirror.on_webhook(parse_webhook(body_of(late)))
            row = (await rows(mirror))[original["lead_id"]]
            assert row.quotable == "Yes"
            assert json.loads(row.record)["last_updated"] == edited


async def test_a_webhook_lead_created_in_the_future_is_refused(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    lead = fake.data.lead(wire_ids(fake)[-1])
    async with LeadMirror(wc, db_url) as mirror:
        for created in ("2999-01-01T00:00:00Z", format_ts(NOW + timedelta(days=1, hours=1))):
            with pytest.raises(WebhookError, match="date_created"):
                await mirror.on_webhook(parse_webhook(body_of(lead, date_created=created)))
        assert await rows(mirror) == {}
        # Within a day (clock skew) is accepted.
        soon = format_ts(NOW + timedelta(hours=1))
        report = await mirror.on_webhook(parse_webhook(body_of(lead, date_created=soon)))
        assert report.inserted == 1
        # A stored lead cannot be moved into the future either.
        later = {
            "trigger": "update",
            "lead_id": lead["lead_id"],
            "date_created": "2999-01-01T00:00:00Z",
        }
        with pytest.raises(WebhookError, match="date_created"):
            await mirror.on_webhook(parse_webhook(json.dumps(later)))
        assert (await rows(mirror))[lead["lead_id"]].date_created.isoformat().startswith(soon[:10])


async def test_refresh_finds_a_lead_first_seen_from_a_webhook_missing(
    db_url: str, fake: FakeWhatConverts
) -> None:
    leads = [fake.data.lead(i) for i in wire_ids(fake)[-5:]]
    stray = {**leads[0], "lead_id": 99_999_999, "date_created": format_ts(NOW - timedelta(days=1))}
    async with deleting_api(leads) as (_api, base):
        client = WhatConverts("t", "s", base_url=base, max_retries=0)
        async with client, LeadMirror(client, db_url) as mirror:
            assert (await mirror.on_webhook(parse_webhook(body_of(stray)))).inserted == 1
            report = await mirror.refresh(force=True)
            assert report.missing == 1 and report.tombstoned == 1
            assert (await rows(mirror))[stray["lead_id"]].deleted_at is not None


async def test_a_second_backfill_reads_past_the_first_ones_end(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    cut = NOW - timedelta(days=60)
    async with LeadMirror(wc, db_url) as mirror:
        first = await mirror.backfill(start_date=NOW - timedelta(days=200), end_date=cut)
        assert first.inserted == len(wire_ids(fake, cut)) > 0
        second = await mirror.backfill(start_date=NOW - timedelta(days=200))
        assert second.inserted == len(wire_ids(fake)) - first.inserted > 0
        assert sorted(await rows(mirror)) == sorted(wire_ids(fake))
        # Covered now to the end: a third run reads nothing.
        third = await mirror.backfill(start_date=NOW - timedelta(days=200), end_date=cut)
        assert third.requests == 0 and third.inserted == 0


async def test_concurrent_first_opens_on_a_fresh_database(db_url: str, wc: WhatConverts) -> None:
    mirrors = [LeadMirror(wc, db_url, key_name=f"k{n}") for n in range(4)]
    try:
        opened = await asyncio.gather(*(m.open() for m in mirrors))
        assert [m.schema_version for m in opened] == [mirrors[0].schema_version] * 4
        assert mirrors[0].schema_version is not None
    finally:
        for m in mirrors:
            await m.close()


async def test_many_mirrors_opening_fresh_sqlite_files_together_all_open(
    tmp_path: Path, wc: WhatConverts
) -> None:
    # Two connections switching a fresh file to WAL together get "database is locked" at
    # once, without SQLite waiting on busy_timeout: it used to fail about one round in 20.
    for round_ in range(25):
        path = tmp_path / f"fresh{round_}.db"
        mirrors = [LeadMirror(wc, str(path), key_name=f"k{n}") for n in range(6)]
        try:
            await asyncio.gather(*(m.open() for m in mirrors))
            async with mirrors[0].engine.connect() as conn:
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            assert mode == "wal"
        finally:
            for m in mirrors:
                await m.close()


async def _stored_ids(mirror: LeadMirror) -> list[int]:
    async with mirror.engine.connect() as conn:
        return sorted((await conn.execute(sa.select(mirror_schema.leads.c.lead_id))).scalars())


MIDDLE = (NOW - timedelta(days=80), NOW - timedelta(days=40))


def _gaps(fake: FakeWhatConverts) -> tuple[int, int]:
    """Leads before the middle range, and from its last second on (the later gap starts
    at the covered end, inclusive)."""
    early = len(fake.data.lead_ids(None, MIDDLE[0] - timedelta(seconds=1)))
    late = len(fake.data.lead_ids(MIDDLE[1], None))
    return early, late


async def test_a_backfill_sticking_out_both_sides_reads_both_gaps_in_one_run(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    async with LeadMirror(wc, db_url, page_size=50) as mirror:
        first = await mirror.backfill(start_date=MIDDLE[0], end_date=MIDDLE[1])
        before = fake.request_count
        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
        stored = await _stored_ids(mirror)
        covered = next(s for s in (await mirror.status()).scans if s.scan == "covered")
        again = await mirror.backfill(start_date=NOW - timedelta(days=200))
    assert stored == sorted(fake.data.lead_ids())
    assert report.complete and report.inserted == 600 - first.inserted and report.updated == 0
    assert report.window is not None and report.window[0] == NOW - timedelta(days=200)
    # Both gaps, each at 50 leads a page; nothing of the middle is read again.
    early, late = _gaps(fake)
    assert early > 50 and late > 50
    assert report.requests == fake.request_count - before == -(-early // 50) + -(-late // 50)
    assert covered.window_start == NOW - timedelta(days=200)
    assert covered.window_end >= NOW - timedelta(seconds=5)
    assert again.requests == 0 and again.inserted == 0


async def test_a_both_sides_backfill_stopped_by_the_budget_resumes_both(
    db_url: str, fake: FakeWhatConverts
) -> None:
    from whatconverts_async import LocalQuota

    async with (
        WhatConverts(fake.token, fake.secret, base_url=fake.url, max_retries=0) as wc,
        LeadMirror(wc, db_url, page_size=50) as mirror,
    ):
        first = await mirror.backfill(start_date=MIDDLE[0], end_date=MIDDLE[1])
    before = fake.request_count
    runs = []
    for _ in range(30):
        quota = LocalQuota(limit=3)  # three requests a "day"
        async with (
            WhatConverts(fake.token, fake.secret, base_url=fake.url, quota=quota) as wc,
            LeadMirror(wc, db_url, page_size=50) as mirror,
        ):
            report = await mirror.backfill(start_date=NOW - timedelta(days=200))
            runs.append(report)
            if report.complete:
                stored = await _stored_ids(mirror)
                break
    assert runs[-1].complete and len(runs) > 2 and not runs[0].complete
    assert stored == sorted(fake.data.lead_ids())
    # Every lead written once, none rewritten; at most one extra page per resumption.
    early, late = _gaps(fake)
    assert sum(r.inserted for r in runs) == 600 - first.inserted
    assert sum(r.updated for r in runs) == 0
    pages = -(-early // 50) + -(-late // 50)
    assert pages <= fake.request_count - before <= pages + len(runs)
    assert sum(r.requests for r in runs) == fake.request_count - before


async def test_a_hidden_lead_is_confirmed_once_a_day_not_every_refresh(
    db_url: str, fake: FakeWhatConverts
) -> None:
    leads = [fake.data.lead(i) for i in wire_ids(fake)[-40:]]
    clock = MovableClock(NOW)
    async with (
        deleting_api(leads) as (api, base),
        WhatConverts("t", "s", base_url=base, max_retries=0) as client,
        LeadMirror(client, db_url, clock=clock) as mirror,
    ):
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        hidden = leads[9]["lead_id"]
        api.unlisted.add(hidden)
        first = await mirror.refresh(force=True)
        assert api.gets == [hidden] and first.confirm_requests == 1
        plan_cost = first.requests - 1  # the list pages of the pass
        assert f"requests {first.requests} (1 confirming)" in first.summary()
        assert first.missing == 1 and first.tombstoned == 0
        stored = (await rows(mirror))[hidden]
        assert stored.missing_since is None and stored.hidden_confirmed_at == NOW
        assert (await mirror.status()).hidden == 1
        # Later refreshes the same day cost the plan's one request each, no GET.
        for hours in (1, 6, 23):
            clock.at = NOW + timedelta(hours=hours)
            report = await mirror.refresh(force=True)
            assert report.requests == plan_cost and report.confirm_requests == 0
            assert report.missing == 0
        assert api.gets == [hidden]
        # A day later it is confirmed again, once.
        clock.at = NOW + timedelta(days=1, minutes=1)
        again = await mirror.refresh(force=True)
        assert api.gets == [hidden, hidden] and again.confirm_requests == 1
        stored = (await rows(mirror))[hidden]
        assert stored.hidden_confirmed_at == clock.at
        # Listed again: the mark goes, and a later deletion is found as usual.
        api.unlisted.clear()
        clock.at += timedelta(hours=1)
        await mirror.refresh(force=True)
        assert (await rows(mirror))[hidden].hidden_confirmed_at is None
        api.deleted.add(hidden)
        clock.at += timedelta(hours=1)
        gone = await mirror.refresh(force=True)
        assert gone.tombstoned == 1 and api.gets[-1] == hidden


async def test_a_version_1_database_is_upgraded_in_place(db_url: str, wc: WhatConverts) -> None:
    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        async with mirror.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE leads DROP COLUMN hidden_confirmed_at")
            await conn.exec_driver_sql(
                "UPDATE mirror_meta SET value = '1' WHERE name = 'schema_version'"
            )
    async with LeadMirror(wc, db_url) as mirror:
        assert mirror.schema_version == mirror_schema.SCHEMA_VERSION == 2
        stored = await rows(mirror)
        assert len(stored) == 600
        assert all(r.hidden_confirmed_at is None for r in stored.values())
        report = await mirror.refresh(force=True)
        assert report.complete and report.unchanged > 0
    async with LeadMirror(wc, db_url) as mirror:  # opened again: nothing more to do
        assert mirror.schema_version == 2
