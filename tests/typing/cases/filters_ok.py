"""Must pass ``mypy --strict``: every lead filter, spelt right, with the types it takes
(and an Endpoint row given its enums as strings, as the README shows)."""

from __future__ import annotations

from datetime import date

from whatconverts_async import LeadType, WhatConverts
from whatconverts_async.endpoints import OfflineLead
from whatconverts_async.vocab import LeadFilters


async def main(wc: WhatConverts) -> None:
    page = await wc.leads.list(
        start_date=date(2025, 1, 1),
        lead_type="phone_call",
        lead_status="unique",
        quotable="not_set",
        quote_value="has_value",
        spam=True,
        phone_number="+17045550100",
        customer_journey=None,
    )
    print(page.total_items, page.headers.get("Date"))
    async for lead in wc.leads.iterate(start_date=date(2025, 1, 1), lead_type=LeadType.WEB_FORM):
        print(lead.lead_id)
    async for leads in wc.leads.iterate_pages(start_date=date(2025, 1, 1), profile_id=7):
        print(len(leads))
    filters: LeadFilters = {"lead_source": "google", "duplicate": True}
    plan = wc.leads.plan_scan(start_date=date(2025, 1, 1), **filters)
    print(len(plan.windows))
    lead_id = await wc.leads.create(lead_type="web_form", contact_name="Jane Roe", gclid="EAIa")
    print(lead_id)
    fast = wc.with_options(timeout=2, max_retries=0)
    answer = await fast.request_raw("GET", "leads")
    print(answer.headers["content-type"], answer.data)


def offline() -> OfflineLead:
    return OfflineLead(profile_id=1, date=date(2026, 3, 10), quotable="yes", lead_type="web_form")
