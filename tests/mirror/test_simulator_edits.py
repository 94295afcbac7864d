"""An edit made through the API reaches the mirror for every lead of the simulator's data:
no generated lead was last updated after the data's end (the simulator's "now"), which
would make an edit at "now" look older than the lead it edits (newer wins)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror import schema as mirror_schema
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW


def test_no_generated_lead_was_updated_after_the_datas_end() -> None:
    from whatconverts_async.testing import Dataset

    data = Dataset.generate(leads=3_000, seed=5, start=NOW - timedelta(days=30), end=NOW)
    end = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    leads = list(data.iter_leads())
    assert leads and max(lead["last_updated"] for lead in leads) <= end
    assert all(lead["last_updated"] >= lead["date_created"] for lead in leads)


async def test_an_api_edit_of_the_newest_leads_reaches_the_mirror(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    newest = fake.data.lead_ids(NOW - timedelta(days=3), None)[-20:]
    assert newest
    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        for lead_id in newest:
            await wc.leads.update(lead_id, sales_value=Decimal("999"))
        report = await mirror.refresh(force=True)
        async with mirror.engine.connect() as conn:
            stored = (
                await conn.execute(
                    sa.select(mirror_schema.leads.c.lead_id, mirror_schema.leads.c.record).where(
                        mirror_schema.leads.c.lead_id.in_(newest)
                    )
                )
            ).all()
    assert report.updated >= len(newest)
    values = {lead_id: record for lead_id, record in stored}
    for lead_id in newest:
        record = values[lead_id]
        body = json.loads(record)
        assert str(body["sales_value"]) in ("999", "999.0", "999.00"), (lead_id, body)
