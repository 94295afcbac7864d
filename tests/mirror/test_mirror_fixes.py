"""Mirror cases a hostile tester found: NUL characters in a lead (PostgreSQL), a stored
``last_updated`` in the future, PostgreSQL URL options, a backfill ending in the future
(SQLite and PostgreSQL where it applies)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from whatconverts_async import WhatConverts
from whatconverts_async.models import Lead
from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.webhooks import webhook_app

from .conftest import NOW
from .test_mirror import format_ts, rows, serve, wire_ids

UTC = timezone.utc

pytest.importorskip("sqlalchemy")

from whatconverts_async.mirror import LeadMirror  # noqa: E402


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def test_a_lead_with_nul_characters_is_stored_exactly(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts, caplog: pytest.LogCaptureFixture
) -> None:
    postgres = db_url.startswith("postgresql")
    ids = wire_ids(fake)
    in_notes, in_map, by_hook = ids[100], ids[200], ids[-5]
    fake.data.patch_lead(in_notes, {"notes": "call back\x00 tomorrow"})
    fake.data.patch_lead(in_map, {"additional_fields": {"Gate\x00 code": "12\x0034"}})
    caplog.set_level(logging.WARNING, logger="whatconverts_async.mirror")
    async with LeadMirror(wc, db_url) as mirror:
        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
        assert report.complete and report.inserted == len(ids)
        stored = await rows(mirror)
        for lead_id in (in_notes, in_map):
            # The record is the wire value exactly, NUL included, on both databases.
            record = json.loads(stored[lead_id].record)
            assert record == fake.data.lead(lead_id)
            assert Lead.from_dict(record).to_dict() == fake.data.lead(lead_id)
        notes = stored[in_notes].notes
        fields = stored[in_map].additional_fields
        if postgres:
            assert notes == "call back tomorrow"
            assert fields == {"Gate code": "1234"}
        else:
            assert notes == "call back\x00 tomorrow"
            assert fields == {"Gate\x00 code": "12\x0034"}
        warned = [r.getMessage() for r in caplog.records if "NUL" in r.getMessage()]
        if postgres:
            assert any(f"lead {in_notes}" in m and "notes" in m for m in warned)
            assert any(f"lead {in_map}" in m and "additional_fields" in m for m in warned)
            # Field names and ids only, never the values.
            assert not any("tomorrow" in m or "Gate" in m for m in warned)
        else:
            assert warned == []

        # A refresh reads the NUL lead again: unchanged, then an edit is applied.
        report = await mirror.refresh(force=True)
        assert report.complete and report.updated == 0
        newer = format_ts(_ts(fake.data.lead(in_notes)["last_updated"]) + timedelta(hours=1))
        fake.data.patch_lead(in_notes, {"notes": "\x00again\x00", "last_updated": newer})
        report = await mirror.refresh(force=True)
        assert report.complete and report.updated == 1
        row = (await rows(mirror))[in_notes]
        assert json.loads(row.record) == fake.data.lead(in_notes)
        assert row.notes == ("again" if postgres else "\x00again\x00")

        # A webhook with NUL in a text field and inside a JSON map is stored, not a 500.
        runner, url = await serve(webhook_app(mirror.on_webhook, path="/hooks"))
        try:
            wire = fake.data.lead(by_hook)
            later = format_ts(_ts(wire["last_updated"]) + timedelta(hours=2))
            body = {
                "trigger": "update",
                "lead_id": by_hook,
                "notes": "hook\x00note",
                "additional_fields": {"k\x00": "v\x00"},
                "last_updated": later,
            }
            delivery = await fake.webhooks.send(url, body=body)
            assert delivery.ok, delivery
            row = (await rows(mirror))[by_hook]
            record = json.loads(row.record)
            assert record["notes"] == "hook\x00note"
            assert record["additional_fields"] == {"k\x00": "v\x00"}
            assert record == {**wire, **{k: v for k, v in body.items() if k != "trigger"}}
            if postgres:
                assert row.notes == "hooknote" and row.additional_fields == {"k": "v"}
            else:
                assert row.notes == "hook\x00note"
            # Redelivered: unchanged (the hash is the record's, not the cleaned columns').
            assert (await fake.webhooks.send(url, body=body)).ok
            assert (await rows(mirror))[by_hook].synced_at == row.synced_at
        finally:
            await runner.cleanup()


@pytest.mark.parametrize("ahead", [timedelta(days=365_000), timedelta(days=2)])
async def test_a_stored_last_updated_in_the_future_does_not_pin_the_copy(
    db_url: str,
    fake: FakeWhatConverts,
    wc: WhatConverts,
    caplog: pytest.LogCaptureFixture,
    ahead: timedelta,
) -> None:
    lead_id = wire_ids(fake)[-10]
    future = format_ts(min(NOW + ahead, datetime(2999, 1, 1, tzinfo=UTC)))
    fake.data.patch_lead(lead_id, {"last_updated": future, "notes": "first"})
    caplog.set_level(logging.WARNING, logger="whatconverts_async.mirror")
    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        assert json.loads((await rows(mirror))[lead_id].record)["notes"] == "first"
        fake.data.patch_lead(lead_id, {"last_updated": format_ts(NOW), "notes": "corrected"})
        report = await mirror.refresh(force=True)
        assert report.updated == 1 and report.stale == 0
        row = (await rows(mirror))[lead_id]
        assert json.loads(row.record) == fake.data.lead(lead_id)
        assert row.notes == "corrected" and row.last_updated == _ts(format_ts(NOW))
        warned = [r.getMessage() for r in caplog.records if "more than a day" in r.getMessage()]
        assert len(warned) == 1 and f"lead {lead_id}" in warned[0]

        # The SQL guard (another writer may have stored the future copy between the
        # mirror's read and its write) lets the copy through likewise.
        fake.data.patch_lead(lead_id, {"last_updated": future, "notes": "future again"})
        await mirror.refresh(force=True)
        assert (await rows(mirror))[lead_id].notes == "future again"
        from whatconverts_async.mirror.records import lead_row

        fixed = Lead.from_dict({**fake.data.lead(lead_id), "last_updated": format_ts(NOW)})
        row_values = {
            **lead_row(fixed),
            "first_seen_at": NOW,
            "synced_at": NOW,
            "source": "refresh",
            "scope": mirror.scope,
            "missing_since": None,
            "deleted_at": None,
            "hidden_confirmed_at": None,
        }
        async with mirror.engine.begin() as conn:
            await mirror._bulk_upsert("refresh").execute(conn, [row_values])
        assert (await rows(mirror))[lead_id].last_updated == _ts(format_ts(NOW))


async def test_a_stored_last_updated_hours_ahead_still_wins_over_an_older_copy(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    # Within a day of the clock a last_updated is believed (clock skew): newer wins.
    lead_id = wire_ids(fake)[-10]
    soon = format_ts(NOW + timedelta(hours=3))
    fake.data.patch_lead(lead_id, {"last_updated": soon, "notes": "ahead"})
    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        fake.data.patch_lead(lead_id, {"last_updated": format_ts(NOW), "notes": "older"})
        report = await mirror.refresh(force=True)
        assert report.stale == 1 and report.updated == 0
        assert (await rows(mirror))[lead_id].notes == "ahead"


def test_postgresql_url_options_are_translated_for_asyncpg_or_refused() -> None:
    from whatconverts_async.errors import InvalidParameterError
    from whatconverts_async.mirror.core import database_url

    url = database_url("postgresql://u:pw-secret@db/crm?sslmode=require&connect_timeout=5")
    assert url.drivername == "postgresql+asyncpg"
    assert dict(url.query) == {"ssl": "require", "timeout": "5"}
    # psycopg takes libpq's names itself.
    assert dict(database_url("postgresql+psycopg://u@db/crm?sslmode=require").query) == {
        "sslmode": "require"
    }
    for text, named in (
        ("postgresql://u:pw-secret@db/crm?application_name=x", "'application_name'"),
        ("postgresql://u:pw-secret@db/crm?sslmode=sometimes", "sslmode"),
        ("postgresql://u:pw-secret@db/crm?connect_timeout=soon", "connect_timeout"),
        ("postgresql://u:pw-secret@db/crm?connect_timeout=-1", "connect_timeout"),
        ("postgresql://u:pw-secret@db/crm?sslmode=require&ssl=disable", "sslmode"),
        ("sqlite:///leads.db?mode=ro&foo=bar", "foo, mode"),
        ("sqlite:///leads.db?timeout=5", "timeout"),
    ):
        with pytest.raises(InvalidParameterError) as caught:
            database_url(text)
        assert caught.value.parameter == "url"
        assert named in str(caught.value) and "pw-secret" not in str(caught.value)


async def test_a_postgresql_url_with_sslmode_and_connect_timeout_connects(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL URL options")
    async with LeadMirror(wc, db_url + "?sslmode=prefer&connect_timeout=5") as mirror:
        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
        assert report.inserted == len(wire_ids(fake))
    # The test server has no TLS: sslmode=require reaches it and is refused by it
    # (before, asyncpg refused the keyword itself with a TypeError).
    with pytest.raises(Exception) as caught:
        async with LeadMirror(wc, db_url + "?sslmode=require&connect_timeout=5"):
            pass
    assert not isinstance(caught.value, TypeError)
    assert "SSL" in str(caught.value)


async def test_a_backfill_end_date_after_today_is_refused_and_today_ends_at_the_scan(
    db_url: str, fake: FakeWhatConverts
) -> None:
    from whatconverts_async.errors import InvalidParameterError

    from .conftest import MovableClock

    clock = MovableClock(NOW)
    async with (
        WhatConverts(fake.token, fake.secret, base_url=fake.url, max_retries=0) as wc,
        LeadMirror(wc, db_url, clock=clock) as mirror,
    ):
        before = fake.request_count
        for end in ("2999-01-01", (NOW + timedelta(days=1)).date()):
            with pytest.raises(InvalidParameterError) as caught:
                await mirror.backfill(start_date=NOW - timedelta(days=200), end_date=end)
            assert caught.value.parameter == "end_date" and "after today" in str(caught.value)
        assert fake.request_count == before
        report = await mirror.backfill(start_date=NOW - timedelta(days=200), end_date=NOW.date())
        assert report.complete and report.inserted == len(wire_ids(fake))
        covered = next(s for s in (await mirror.status()).scans if s.scan == "covered")
        # Covered up to the scan's time, not to the end of today: later leads are not in it.
        assert covered.window_end == NOW
        # Run again later the same day: what was created since is read, not assumed covered.
        clock.at = NOW + timedelta(seconds=30)
        report = await mirror.backfill(start_date=NOW - timedelta(days=200), end_date=NOW.date())
        assert report.requests == 1
        covered = next(s for s in (await mirror.status()).scans if s.scan == "covered")
        assert covered.window_end == NOW + timedelta(seconds=30)


async def test_a_refresh_that_resumes_an_interrupted_one_says_so(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    from whatconverts_async.mirror.plan import RefreshPlan, Tier

    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
    # A budget of one request: the 35-day refresh (several pages of 20) stops part way.
    async with (
        WhatConverts(fake.token, fake.secret, base_url=fake.url, daily_limit=1) as tight,
        LeadMirror(tight, db_url, page_size=20, daily_budget=100_000) as mirror,
    ):
        report = await mirror.refresh(force=True)
        assert not report.complete and report.note is None
    plan = RefreshPlan(tiers=(Tier("recent", 1, timedelta(hours=1)),))
    async with LeadMirror(wc, db_url, page_size=20, plan=plan) as mirror:
        report = await mirror.refresh(force=True)
        assert report.complete
        assert report.note is not None and "interrupted" in report.note
        assert "recent" not in report.tiers and "recent" not in report.note
        assert "NOTE: finished the refresh interrupted earlier" in report.summary()
        # The next one chooses again: the tier asked for runs.
        report = await mirror.refresh(force=True)
        assert report.tiers == ("recent",) and report.note is None
