"""The lead mirror against the simulator over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web

from whatconverts_async import InvalidParameterError, WhatConverts
from whatconverts_async.mirror import LeadMirror, MirrorBusyError, RefreshPlan
from whatconverts_async.mirror import schema as mirror_schema
from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.webhooks import webhook_app

from .conftest import NOW, MovableClock

UTC = timezone.utc


async def rows(mirror: LeadMirror) -> dict[int, Any]:
    async with mirror.engine.connect() as conn:
        result = await conn.execute(sa.select(mirror_schema.leads))
        return {r.lead_id: r for r in result}


def wire_ids(fake: FakeWhatConverts, end: datetime | None = None) -> list[int]:
    return fake.data.lead_ids(None, end)


async def test_backfill_equals_the_simulator(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    async with LeadMirror(wc, db_url, page_size=250) as mirror:
        before = fake.request_count
        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
        stored = await rows(mirror)
    ids = wire_ids(fake)
    assert report.inserted == len(ids) == len(stored) == 600
    assert report.complete and report.updated == report.unchanged == 0
    # One window, 600 leads at 250 a page: 3 requests, and the report counts them.
    assert report.requests == fake.request_count - before == 3
    for lead_id in ids:
        wire = fake.data.lead(lead_id)
        row = stored[lead_id]
        assert json.loads(row.record) == wire
        # Same text as the wire, in the model's key order (lead_id first).
        assert json.dumps(json.loads(row.record), sort_keys=True) == json.dumps(
            wire, sort_keys=True
        )
        assert row.date_created == datetime.strptime(
            wire["date_created"], "%Y-%m-%dT%H:%M:%SZ"
        ).replace(tzinfo=UTC)
        assert row.date_created.tzinfo is not None
        for money in ("quote_value", "sales_value"):
            value = wire.get(money)
            expected = None if value is None else Decimal(repr(value))
            assert row._mapping[money] == expected, (lead_id, money)
            assert row._mapping[money] is None or isinstance(row._mapping[money], Decimal)
        assert row.lead_type == wire["lead_type"]
        assert row.source == "backfill" and row.missing_since is None
    # Equal to what travelled: the lead in a raw answer, numbers read exactly.
    sample = ids[::97]
    async with aiohttp.ClientSession() as session:
        for lead_id in sample:
            async with session.get(
                f"{fake.url}leads/{lead_id}",
                headers={"Authorization": fake.key.authorization},
            ) as response:
                body = await response.read()
            exact = json.loads(body, parse_float=Decimal)["leads"][0]
            assert json.loads(stored[lead_id].record, parse_float=Decimal) == exact


async def test_backfill_is_resumed_not_repeated(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    async with LeadMirror(wc, db_url, page_size=250) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        before = fake.request_count
        again = await mirror.backfill(start_date=NOW - timedelta(days=200))
        assert fake.request_count == before and again.requests == 0
        with pytest.raises(InvalidParameterError, match="start_date"):
            await mirror.backfill(start_date="not a date")


async def test_refresh_picks_up_edits_10_and_30_days_after_creation(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    t0 = NOW - timedelta(days=60)
    clock = MovableClock(t0)
    ten = wire_ids(fake, t0 - timedelta(days=5))[-1]  # created up to 5 days before t0
    thirty = wire_ids(fake, t0 - timedelta(days=2))[-1]
    async with LeadMirror(wc, db_url, clock=clock) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        created = {
            i: datetime.strptime(fake.data.lead(i)["date_created"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC
            )
            for i in (ten, thirty)
        }
        # 10 days after creation, someone qualifies the lead.
        clock.at = created[ten] + timedelta(days=10)
        fake.data.patch_lead(
            ten,
            {"quotable": "Yes", "sales_value": 750.25, "last_updated": format_ts(clock.at)},
        )
        first = await mirror.refresh()
        assert first.tiers == ("hot", "warm", "cold")
        changed = {c.lead_id: c.fields for c in first.changes}
        assert set(changed[ten]) == {"quotable", "sales_value", "last_updated"}
        # 30 days after creation, another one gets its value.
        clock.at = created[thirty] + timedelta(days=30)
        fake.data.patch_lead(
            thirty, {"quote_value": 1200, "notes": "won", "last_updated": format_ts(clock.at)}
        )
        second = await mirror.refresh()
        changed = {c.lead_id: c.fields for c in second.changes}
        assert set(changed[thirty]) == {"quote_value", "notes", "last_updated"}
        assert ten not in changed
        stored = await rows(mirror)
        assert stored[ten].sales_value == Decimal("750.25") and stored[ten].quotable == "Yes"
        assert stored[thirty].quote_value == Decimal("1200") and stored[thirty].notes == "won"
        assert stored[thirty].source == "refresh"
        for lead_id in (ten, thirty):
            assert json.loads(stored[lead_id].record) == fake.data.lead(lead_id)
        # Nothing is due right after a pass: no request.
        before = fake.request_count
        idle = await mirror.refresh()
        assert idle.tiers == () and fake.request_count == before


def format_ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def hook_url(fake: FakeWhatConverts) -> AsyncIterator[list[Any]]:
    holder: list[Any] = []
    yield holder


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hooks"


async def test_webhooks_redelivery_partial_and_older_scan_page(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        runner, url = await serve(webhook_app(mirror.on_webhook, path="/hooks"))
        try:
            lead_id = wire_ids(fake)[-3]
            wire = fake.data.lead(lead_id)
            before = (await rows(mirror))[lead_id]
            # A redelivered "new" webhook equal to what is stored: nothing is written.
            for _ in range(2):
                delivery = await fake.webhooks.send(url, lead_id, trigger="new")
                assert delivery.ok
            after = (await rows(mirror))[lead_id]
            assert after.synced_at == before.synced_at and after.source == "backfill"
            # A partial update: changed fields plus a null that must not erase anything.
            newer = datetime.strptime(wire["last_updated"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC
            ) + timedelta(hours=1)
            partial = {
                "trigger": "update",
                "lead_id": lead_id,
                "quotable": "Yes",
                "sales_value": 99.5,
                "lead_source": None,
                "last_updated": format_ts(newer),
            }
            assert (await fake.webhooks.send(url, body=partial)).ok
            row = (await rows(mirror))[lead_id]
            assert row.quotable == "Yes" and row.sales_value == Decimal("99.5")
            assert row.lead_source == wire["lead_source"]
            assert row.contact_name == wire["contact_name"]
            assert row.source == "webhook"
            record = json.loads(row.record)
            assert record == {
                **wire,
                "quotable": "Yes",
                "sales_value": 99.5,
                "last_updated": format_ts(newer),
                "lead_source": wire["lead_source"],
            }
            # The same partial again is a no-op.
            synced = row.synced_at
            assert (await fake.webhooks.send(url, body=partial)).ok
            assert (await rows(mirror))[lead_id].synced_at == synced
            # The API still serves the older copy: a refresh page must not overwrite it.
            report = await mirror.refresh(force=True)
            assert report.stale == 1
            row = (await rows(mirror))[lead_id]
            assert row.sales_value == Decimal("99.5") and row.source == "webhook"
            # An older webhook delivery is refused too.
            old = {**partial, "sales_value": 1, "last_updated": wire["last_updated"]}
            assert (await fake.webhooks.send(url, body=old)).ok
            assert (await rows(mirror))[lead_id].sales_value == Decimal("99.5")
        finally:
            await runner.cleanup()


async def test_two_writers_on_one_scope_are_refused(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    fake.faults.latency = 0.3
    async with LeadMirror(wc, db_url, page_size=100) as first, LeadMirror(wc, db_url) as second:
        running = asyncio.ensure_future(first.backfill(start_date=NOW - timedelta(days=200)))
        try:
            for _ in range(100):
                status = await second.status()
                if status.writer is not None:
                    break
                await asyncio.sleep(0.05)
            assert status.writer is not None
            with pytest.raises(MirrorBusyError, match="being written by pid"):
                await second.refresh(force=True)
            with pytest.raises(MirrorBusyError):
                await second.backfill(start_date=NOW - timedelta(days=200))
            # Another scope is another writer's business.
        finally:
            fake.faults.latency = 0
            report = await running
        assert report.inserted == 600
        # Once the first has finished, the second may write.
        again = await second.refresh(force=True)
        assert again.complete and again.unchanged > 0


# --- deletions: a small loopback API whose leads can be deleted --------------------------


class DeletingApi:
    """Just ``GET leads`` (dates, pages, ascending) and ``GET leads/{id}``, with deletions and
    a lead that the list hides while ``GET`` still finds it."""

    def __init__(self, leads: list[dict[str, Any]]) -> None:
        self.leads = sorted(leads, key=lambda d: (d["date_created"], d["lead_id"]))
        self.deleted: set[int] = set()
        self.unlisted: set[int] = set()
        self.gets: list[int] = []
        app = web.Application()
        app.router.add_get("/api/v1/leads", self.list)
        app.router.add_get("/api/v1/leads/{lead_id}", self.get)
        self.app = app

    @staticmethod
    def _ts(text: str) -> str:
        return text if "T" in text else text + "T00:00:00Z"

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        start, end = q.get("start_date"), q.get("end_date")
        per = int(q.get("leads_per_page", "25"))
        page = int(q.get("page_number", "1"))
        chosen = [
            d
            for d in self.leads
            if d["lead_id"] not in self.deleted | self.unlisted
            and (start is None or d["date_created"] >= self._ts(start))
            and (end is None or d["date_created"] <= self._ts(end))
        ]
        items = chosen[(page - 1) * per : page * per]
        return web.json_response(
            {
                "page_number": page,
                "leads_per_page": per,
                "total_pages": max(1, -(-len(chosen) // per)),
                "total_leads": len(chosen),
                "leads": items,
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        lead_id = int(request.match_info["lead_id"])
        self.gets.append(lead_id)
        for d in self.leads:
            if d["lead_id"] == lead_id and lead_id not in self.deleted:
                return web.json_response(
                    {
                        "page_number": 1,
                        "leads_per_page": 1,
                        "total_pages": 1,
                        "total_leads": 1,
                        "leads": [d],
                    }
                )
        return web.json_response({"error_message": "Invalid lead ID."}, status=400)


async def test_tombstone_only_after_the_confirming_read(
    db_url: str, fake: FakeWhatConverts
) -> None:
    leads = [fake.data.lead(i) for i in wire_ids(fake)[-40:]]
    api = DeletingApi(leads)
    runner = web.AppRunner(api.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/"
    try:
        async with WhatConverts("t", "s", base_url=base, max_retries=0) as client:
            gone, hidden = leads[5]["lead_id"], leads[9]["lead_id"]
            async with LeadMirror(client, db_url, confirm_limit=0) as mirror:
                await mirror.backfill(start_date=NOW - timedelta(days=200))
                api.deleted.add(gone)
                api.unlisted.add(hidden)
                report = await mirror.refresh(force=True)
                assert report.missing == 2 and report.tombstoned == 0 and api.gets == []
                stored = await rows(mirror)
                for lead_id in (gone, hidden):
                    assert stored[lead_id].missing_since is not None
                    assert stored[lead_id].deleted_at is None
            async with LeadMirror(client, db_url) as mirror:
                report = await mirror.refresh(force=True)
                assert sorted(api.gets) == sorted([gone, hidden])
                assert report.tombstoned == 1 and report.missing == 0
                stored = await rows(mirror)
                assert stored[gone].deleted_at is not None  # a tombstone, not a deletion
                assert json.loads(stored[gone].record) == leads[5]
                assert stored[hidden].deleted_at is None and stored[hidden].missing_since is None
                status = await mirror.status()
                assert status.tombstones == 1 and status.leads == 39
                # Tombstoned leads are not asked about again.
                api.gets.clear()
                await mirror.refresh(force=True)
                assert api.gets == [hidden] or api.gets == []
    finally:
        await runner.cleanup()


async def test_schema_is_created_idempotently_and_versioned(db_url: str, wc: WhatConverts) -> None:
    for _ in range(2):
        async with LeadMirror(wc, db_url) as mirror:
            assert mirror.schema_version == mirror_schema.SCHEMA_VERSION
    async with mirror.engine.connect() if False else _nothing():
        pass
    columns = set(mirror_schema.leads.c.keys())
    assert {
        "quote_value",
        "additional_fields",
        "record",
        "content_hash",
        "first_seen_at",
        "synced_at",
        "source",
        "missing_since",
        "deleted_at",
        "gclid",
    } <= columns


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_refresh_catches_up_after_a_long_pause(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    t0 = NOW - timedelta(days=100)
    clock = MovableClock(t0)
    plan = RefreshPlan(widen=False)
    async with LeadMirror(wc, db_url, clock=clock, plan=plan) as mirror:
        first = await mirror.backfill(start_date=NOW - timedelta(days=200))
        assert first.inserted == len(wire_ids(fake, t0))
        # 100 days without a refresh: the 35-day tier alone would leave a 65-day gap.
        clock.at = NOW
        report = await mirror.refresh()
        assert report.window is not None and report.window[0] <= t0
        assert report.inserted == len(wire_ids(fake)) - first.inserted
        assert len(await rows(mirror)) == 600
        status = await mirror.status()
        covered = next(s for s in status.scans if s.scan == "covered")
        assert covered.window_start == NOW - timedelta(days=200)
        assert covered.window_end == NOW


async def test_the_lease_is_renewed_while_working_and_expires_when_abandoned(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    fake.faults.latency = 0.25
    async with (
        LeadMirror(wc, db_url, page_size=60, lease_seconds=0.6) as first,
        LeadMirror(wc, db_url, lease_seconds=0.6) as second,
    ):
        running = asyncio.ensure_future(first.backfill(start_date=NOW - timedelta(days=200)))
        try:
            await asyncio.sleep(1.5)  # well past one lease term: renewed meanwhile
            assert not running.done()
            with pytest.raises(MirrorBusyError):
                await second.refresh(force=True)
        finally:
            fake.faults.latency = 0
            await running
        # A lease left by a writer on another host is honoured until it expires.
        c = mirror_schema.leases.c
        async with first.engine.begin() as conn:
            await conn.execute(
                mirror_schema.leases.insert().values(
                    key_name="default",
                    scope="key",
                    holder="elsewhere",
                    host="other-host",
                    pid=1,
                    acquired_at=NOW,
                    expires_at=datetime.now(UTC) + timedelta(seconds=1),
                )
            )
        with pytest.raises(MirrorBusyError, match="other-host"):
            await second.refresh(force=True)
        await asyncio.sleep(2.1)  # the mirror's clock reads whole seconds
        assert (await second.refresh(force=True)).complete
        async with first.engine.connect() as conn:
            assert (await conn.execute(sa.select(c.holder))).all() == []  # released


async def test_a_webhook_with_only_an_id_for_an_unknown_lead_is_refused(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    async with LeadMirror(wc, db_url) as mirror:
        runner, url = await serve(webhook_app(mirror.on_webhook, path="/hooks"))
        try:
            before = fake.request_count
            delivery = await fake.webhooks.send(url, body={"trigger": "new", "lead_id": 123})
            assert delivery.status == 422
            assert await rows(mirror) == {}
            assert fake.request_count == before  # no request spent on it
            # A full delivery of the same unknown lead is written.
            lead_id = wire_ids(fake)[-1]
            assert (await fake.webhooks.send(url, lead_id, trigger="new")).ok
            assert list(await rows(mirror)) == [lead_id]
            # Once stored, an id-only update merges into it (changes nothing).
            body = {"trigger": "update", "lead_id": lead_id}
            assert (await fake.webhooks.send(url, body=body)).ok
        finally:
            await runner.cleanup()


async def test_cancelled_backfills_release_the_lease_and_lose_nothing(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts, caplog: pytest.LogCaptureFixture
) -> None:
    # Ctrl-C is a cancellation of the running command: at any moment, the lease must be
    # released (the next run needs no takeover), no half-written page may remain, and no
    # raw SQL error may reach the log.
    fake.faults.latency = 0.01
    delays = [0.02, 0.05, 0.08, 0.11, 0.15, 0.2]
    cancelled = 0
    async with LeadMirror(wc, db_url, page_size=50) as mirror:
        for delay in delays:
            task = asyncio.ensure_future(mirror.backfill(start_date=NOW - timedelta(days=200)))
            await asyncio.sleep(delay)
            if task.done():  # finished first: nothing left to interrupt
                assert task.result().complete
                break
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            cancelled += 1
            async with mirror.engine.connect() as conn:
                leases = (await conn.execute(sa.select(mirror_schema.leases))).all()
            assert leases == []
        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
        stored = await rows(mirror)
    assert cancelled >= 2 and report.complete
    assert sorted(stored) == sorted(wire_ids(fake))
    assert "not released" not in caplog.text and "[SQL" not in caplog.text


async def test_requests_are_the_mirrors_own_with_a_shared_budget(
    db_url: str, fake: FakeWhatConverts
) -> None:
    from whatconverts_async import LocalQuota

    shared = LocalQuota(limit=1000)
    fake.faults.latency = 0.02
    async with (
        WhatConverts(fake.token, fake.secret, base_url=fake.url, quota=shared) as mine,
        WhatConverts(fake.token, fake.secret, base_url=fake.url, quota=shared) as other,
    ):
        ids = wire_ids(fake)

        async def busy() -> int:
            sent = 0
            for lead_id in ids[:30]:
                await other.leads.get(lead_id)
                sent += 1
            return sent

        async with LeadMirror(mine, db_url, page_size=50) as mirror:
            elsewhere = asyncio.ensure_future(busy())
            report = await mirror.backfill(start_date=NOW - timedelta(days=200))
            left = shared.remaining
            assert await elsewhere == 30
    lists = [r for r in fake.requests if r.path.rstrip("/").endswith("/leads")]
    assert report.inserted == 600 and report.requests == len(lists) == 12
    # The budget is shared: what it has left counts the other client's requests too.
    assert shared.used == 12 + 30
    assert report.budget_left == left < 1000 - 12
    assert f"requests 12, budget left {left}" in report.summary()


async def test_a_key_found_spent_counts_only_the_requests_sent(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    fake.spend_daily_limit(after=2)  # another user of the key spends its day
    async with LeadMirror(wc, db_url, page_size=100) as mirror:
        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
    assert not report.complete and report.inserted == 200
    # Two pages read, the third refused: three requests, not the whole daily limit.
    assert report.requests == 3 == fake.request_count
    assert report.budget_left == 0


async def test_a_webhook_first_lead_in_another_key_order_is_no_change(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        lead_id = fake.data.insert_lead(NOW - timedelta(hours=2), lead_type="phone_call")["lead_id"]
        wire = fake.data.lead(lead_id)
        runner, url = await serve(webhook_app(mirror.on_webhook, path="/hooks"))
        try:
            body = {"trigger": "new", **dict(reversed(list(wire.items())))}
            assert (await fake.webhooks.send(url, body=body)).ok
        finally:
            await runner.cleanup()
        stored = (await rows(mirror))[lead_id]
        assert stored.source == "webhook" and json.loads(stored.record) == wire
        assert list(json.loads(stored.record)) != list(wire)  # the webhook's key order
        report = await mirror.refresh(force=True)
        assert report.updated == 0 and report.inserted == 0
        assert [c for c in report.changes if c.lead_id == lead_id] == []
        async with mirror.engine.connect() as conn:
            logged = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(mirror_schema.changes)
                    .where(
                        mirror_schema.changes.c.lead_id == lead_id,
                        mirror_schema.changes.c.source != "webhook",
                    )
                )
            ).scalar_one()
        assert logged == 0
        # Stored in the scan's order now (the API's bytes), with the same content.
        record = (await rows(mirror))[lead_id].record
        assert list(json.loads(record)) == list(wire)
