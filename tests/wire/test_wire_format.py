"""Exact request shapes: query strings of GETs, multipart bodies of POSTs."""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from whatconverts_async import WhatConverts
from whatconverts_async.testing import FakeWhatConverts

UTC = timezone.utc


def _auth(fake: FakeWhatConverts) -> str:
    return "Basic " + base64.b64encode(f"{fake.token}:{fake.secret}".encode()).decode()


async def test_lead_list_get_is_pinned(client: WhatConverts, recorder: FakeWhatConverts) -> None:
    account_id = recorder.data.account_ids()[0]
    await client.leads.list(
        start_date=date(2025, 1, 1),
        end_date=date(2025, 3, 31),
        lead_type="phone_call",
        leads_per_page=100,
        page_number=2,
        order="asc",
        lead_status="unique",
        quotable="Not Set",
        sales_value="has_value",
        spam=True,
        account_id=account_id,
        lead_source="google",
    )
    (request,) = recorder.requests
    assert request.method == "GET"
    assert request.path == "/api/v1/leads"
    assert request.query == [
        ("leads_per_page", "100"),
        ("page_number", "2"),
        ("order", "asc"),
        ("start_date", "2025-01-01T00:00:00Z"),
        ("end_date", "2025-03-31T23:59:59Z"),
        ("lead_type", "phone_call"),
        ("lead_status", "unique"),
        ("quotable", "not_set"),
        ("sales_value", "has_value"),
        ("spam", "true"),
        ("account_id", str(account_id)),
        ("lead_source", "google"),
    ]
    assert request.body == b""
    assert request.headers["Authorization"] == _auth(recorder)
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("whatconverts-async")


async def test_aware_datetimes_go_out_in_utc_to_the_second(
    client: WhatConverts, recorder: FakeWhatConverts
) -> None:
    est = timezone(timedelta(hours=-5))
    await client.leads.list(
        start_date=datetime(2025, 1, 1, 19, 30, 15, 999_999, tzinfo=est),
        end_date="2025-01-05T00:00:00+01:00",
    )
    params = recorder.requests[0].params
    assert params["start_date"] == "2025-01-02T00:30:15Z"
    assert params["end_date"] == "2025-01-04T23:00:00Z"


async def test_create_is_a_multipart_post_with_bracketed_additional_fields(
    client: WhatConverts, recorder: FakeWhatConverts
) -> None:
    profile_id = recorder.data.profile_ids()[0]
    lead_id = await client.leads.create(
        lead_type="web_form",
        profile_id=profile_id,
        send_notification=False,
        contact_name="Jane Roe",
        quote_value=Decimal("1200.50"),
        additional_fields={"Budget": "5k", "Plan, tier": 'Pro "plus"'},
    )
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.path == "/api/v1/leads"
    assert request.query == []
    assert request.content_type.startswith("multipart/form-data")
    assert request.form == {
        "lead_type": "web_form",
        "profile_id": str(profile_id),
        "send_notification": "false",
        "quote_value": "1200.50",
        "contact_name": "Jane Roe",
        "additional_fields[Budget]": "5k",
        "additional_fields[Plan, tier]": 'Pro "plus"',
    }
    body = request.body.decode()
    assert re.search(r'Content-Disposition: form-data; name="additional_fields\[Budget\]"', body)
    assert request.headers["Authorization"] == _auth(recorder)
    created = await client.leads.get(lead_id)
    assert created.additional_fields == {"Budget": "5k", "Plan, tier": 'Pro "plus"'}
    assert created.contact_name == "Jane Roe"


async def test_update_is_a_multipart_post_to_the_lead(
    client: WhatConverts, recorder: FakeWhatConverts
) -> None:
    lead_id = recorder.data.lead_ids()[0]
    lead = await client.leads.update(
        lead_id, quotable="yes", sales_value=750, additional_fields={"Stage": "Won"}
    )
    post, get = recorder.requests
    assert (post.method, post.path) == ("POST", f"/api/v1/leads/{lead_id}")
    assert post.content_type.startswith("multipart/form-data")
    assert post.form == {"quotable": "yes", "sales_value": "750", "additional_fields[Stage]": "Won"}
    assert (get.method, get.path) == ("GET", f"/api/v1/leads/{lead_id}")
    assert lead.quotable == "Yes"
    assert lead.sales_value == Decimal("750")
    assert lead.additional_fields["Stage"] == "Won"


async def test_account_writes_and_delete(client: WhatConverts, recorder: FakeWhatConverts) -> None:
    account = await client.accounts.create(account_name="Barneys Motors", create_profile=True)
    await client.accounts.update(account.account_id, account_name="Barneys")
    deleted = await client.accounts.delete(account.account_id)
    create, update, delete = recorder.requests
    assert create.form == {"account_name": "Barneys Motors", "create_profile": "true"}
    assert (update.path, update.form) == (
        f"/api/v1/accounts/{account.account_id}",
        {"account_name": "Barneys"},
    )
    assert (delete.method, delete.path, delete.body) == (
        "DELETE",
        f"/api/v1/accounts/{account.account_id}",
        b"",
    )
    assert deleted == account.account_id


async def test_recording_request(client: WhatConverts, recorder: FakeWhatConverts) -> None:
    call = next(lead for lead in recorder.data.iter_leads() if lead["lead_type"] == "Phone Call")
    audio = await client.recordings.get(call["lead_id"])
    (request,) = recorder.requests
    assert (request.method, request.path, request.query) == (
        "GET",
        "/api/v1/recording",
        [("lead_id", str(call["lead_id"]))],
    )
    assert audio[:3] == b"ID3"
