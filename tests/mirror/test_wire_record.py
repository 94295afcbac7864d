"""The stored record is the wire: each lead's JSON text is its slice of the raw HTTP body."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import aiohttp
import sqlalchemy as sa

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror import schema as mirror_schema
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW


async def raw_leads_body(fake: FakeWhatConverts) -> bytes:
    """One page with every lead of the simulator, as the bytes it sends."""
    auth = base64.b64encode(f"{fake.token}:{fake.secret}".encode()).decode("ascii")
    params = {
        "start_date": (NOW - timedelta(days=200)).strftime("%Y-%m-%d"),
        "end_date": (NOW + timedelta(days=1)).strftime("%Y-%m-%d"),
        "leads_per_page": "2500",
        "page_number": "1",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{str(fake.url).rstrip('/')}/leads",
            params=params,
            headers={"Authorization": f"Basic {auth}"},
        ) as response,
    ):
        assert response.status == 200
        return await response.read()


async def test_records_are_byte_equal_to_the_wire(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    fake.data.patch_lead(
        fake.data.lead_ids()[0], {"zz_brand_new": {"ü": [1, 2.5]}, "notes": "naïve “quotes”"}
    )
    async with LeadMirror(wc, db_url, page_size=250) as mirror:
        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
        async with mirror.engine.connect() as conn:
            c = mirror_schema.leads.c
            stored = {r.lead_id: r for r in await conn.execute(sa.select(c.lead_id, c.record))}
    assert report.inserted == len(stored) == 600
    body = await raw_leads_body(fake)
    order = [lead["lead_id"] for lead in json.loads(body)["leads"]]
    assert sorted(order) == sorted(stored)
    # The page's "leads" array is exactly the stored records joined by commas: every byte
    # of every lead, key order included, unknown and non-ASCII values too.
    joined = ",".join(stored[lead_id].record for lead_id in order)
    assert f'"leads":[{joined}]'.encode() in body
    patched = stored[fake.data.lead_ids()[0]].record
    assert '"zz_brand_new":{"ü":[1,2.5]}' in patched and "naïve “quotes”" in patched
