"""Must FAIL ``mypy --strict``: each line marked ``# error`` misspells a filter or gives
it a value of the wrong type (the test reads the marked line numbers)."""

from __future__ import annotations

from datetime import date

from whatconverts_async import WhatConverts


async def main(wc: WhatConverts) -> None:
    await wc.leads.list(start_date=date(2025, 1, 1), lead_typ="phone_call")  # error
    wc.leads.iterate(start_date=date(2025, 1, 1), spams=True)  # error
    wc.leads.iterate_pages(start_date=date(2025, 1, 1), profile_id="7")  # error
    wc.leads.plan_scan(start_date=date(2025, 1, 1), quote_value="yes")  # error
    await wc.leads.create(lead_type="web_form", contact_nam="Jane Roe")  # error
    await wc.leads.create(lead_type="web_form", gclid=12345)  # error
