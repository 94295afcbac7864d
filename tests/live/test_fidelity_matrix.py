"""The client against the simulator in every position of every realism switch.

Each switch answers one question the API documentation leaves open. Whatever the answer,
each operation below must give the right result or a typed error that names what was
unexpected: never a silent wrong answer.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from whatconverts_async import (
    FilterNotAppliedError,
    InvalidParameterError,
    MalformedResponseError,
    WhatConverts,
    WhatConvertsError,
)
from whatconverts_async.endpoints import EndpointClient, OfflineLead
from whatconverts_async.testing import FakeWhatConverts, Realism, recording_bytes

from ._support import FAST_RETRIES, client_for

UTC = timezone.utc
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)

POSITIONS: list[dict[str, Any]] = [
    {},
    {"strict": True},
    {"spent_key_status": 429},
    {"spent_key_status": 403},
    {"spent_key_status": 200},
    {"hide_spam_by_default": True},
    {"list_default_window": "today"},
    {"recording": "redirect"},
    {"recording": "html"},
    {"update_webhooks": "partial"},
    {"endpoint_answer": "empty"},
    {"endpoint_answer": "text"},
    {"undocumented_endpoints": True},
    {"ignore_lead_type": True},
    {"spam_any_value_is_only_spam": True},
]


async def _lead_type(wc: WhatConverts, switch: dict[str, Any]) -> None:
    if switch.get("ignore_lead_type"):
        with pytest.raises(FilterNotAppliedError) as info:
            await wc.leads.list(start_date=START, end_date=END, lead_type="phone_call")
        assert info.value.filter == "lead_type"
        return
    page = await wc.leads.list(start_date=START, end_date=END, lead_type="phone_call")
    assert page.items and all(lead.lead_type == "Phone Call" for lead in page.items)


async def _spam(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    spam = [lead async for lead in wc.leads.iterate(start_date=START, end_date=END, spam=True)]
    expected = {x["lead_id"] for x in fake.data.iter_leads(START, END) if x["spam"]}
    assert {lead.lead_id for lead in spam} == expected
    with pytest.raises(InvalidParameterError, match="spam"):
        await wc.leads.list(spam=False)


async def _everything(wc: WhatConverts, fake: FakeWhatConverts, switch: dict[str, Any]) -> None:
    leads = [lead async for lead in wc.leads.iterate(start_date=START, end_date=END)]
    hidden = switch.get("hide_spam_by_default", False)
    # What the server lists without a spam filter: the client reports exactly that.
    expected = [
        x["lead_id"] for x in fake.data.iter_leads(START, END) if not (hidden and x["spam"])
    ]
    assert sorted(lead.lead_id for lead in leads) == sorted(expected)
    assert len(leads) == len({lead.lead_id for lead in leads})


async def _lists(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    accounts = [a.account_id async for a in wc.accounts.iterate()]
    assert sorted(accounts) == sorted(fake.data.account_ids())
    profiles = [p.profile_id async for p in wc.profiles.iterate(accounts[0])]
    assert sorted(profiles) == sorted(fake.data.profile_ids(accounts[0]))


async def _recording(wc: WhatConverts, fake: FakeWhatConverts, switch: dict[str, Any]) -> None:
    call = next(x for x in fake.data.iter_leads() if x["lead_type"] == "Phone Call")
    mode = switch.get("recording", "stream")
    if mode == "stream":
        audio = await wc.recordings.get(call["lead_id"])
        assert audio == recording_bytes(
            fake.config.seed, call["lead_id"], fake.config.recording_size
        )
        return
    with pytest.raises(MalformedResponseError) as info:
        await wc.recordings.get(call["lead_id"])
    assert ("another host" if mode == "redirect" else "HTML page") in str(info.value)


async def _writes(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    lead_id = await wc.leads.create(
        lead_type="web_form",
        profile_id=fake.data.profile_ids()[0],
        contact_name="Jane Roe",
        gclid="EAIaIQ-matrix",
        date_created=date(2024, 5, 1),
        additional_fields={"Budget": "5k"},
        mapped_fields={"Company": "Acme"},
        verify=True,
    )
    lead = await wc.leads.update(lead_id, quotable="yes", sales_value=Decimal("750.00"))
    assert lead.sales_value == Decimal("750.00")


async def _endpoint(fake: FakeWhatConverts) -> None:
    row = OfflineLead(profile_id=fake.data.profile_ids()[0], date=date(2024, 6, 1))
    async with EndpointClient(fake.endpoint_url(), retry_policy=FAST_RETRIES) as ep:
        result = await ep.send([row])
    assert result.status == 200 and result.rows == 1


async def _spent(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    fake.spend_daily_limit()
    with pytest.raises(WhatConvertsError) as info:
        await wc.leads.list(leads_per_page=1)
    assert "limit" in str(info.value).lower()


@pytest.mark.parametrize(
    "switch",
    POSITIONS,
    ids=[",".join(f"{k}={v}" for k, v in p.items()) or "defaults" for p in POSITIONS],
)
async def test_every_switch_position_gives_right_answers_or_typed_errors(
    switch: dict[str, Any],
) -> None:
    async with (
        FakeWhatConverts(
            leads=600,
            seed=11,
            key_type="master",
            accounts=2,
            profiles_per_account=2,
            daily_limit=5_000,
            realism=Realism(**switch),
        ) as fake,
        client_for(fake) as wc,
    ):
        await _lead_type(wc, switch)
        await _spam(wc, fake)
        await _everything(wc, fake, switch)
        await _lists(wc, fake)
        await _recording(wc, fake, switch)
        await _writes(wc, fake)
        await _endpoint(fake)
        await _spent(wc, fake)
