"""Every resource method over loopback against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from whatconverts_async import (
    Account,
    InvalidParameterError,
    Lead,
    LeadStatus,
    LeadType,
    MalformedResponseError,
    NotFoundError,
    Profile,
    Quotable,
    ServerError,
    WhatConverts,
)
from whatconverts_async.testing import FakeWhatConverts, recording_bytes

from ._support import client_for

UTC = timezone.utc


def first_call(fake: FakeWhatConverts) -> dict:  # type: ignore[type-arg]
    return next(lead for lead in fake.data.iter_leads() if lead["lead_type"] == "Phone Call")


async def test_list_returns_a_typed_page(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    start, end = datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 6, 30, 23, 59, 59, tzinfo=UTC)
    page = await wc.leads.list(
        start_date=date(2019, 1, 1),
        end_date=date(2019, 6, 30),
        leads_per_page=7,
        page_number=2,
        order="asc",
    )
    total = fake.data.count_leads(start, end)
    assert (page.page_number, page.per_page, page.total_items) == (2, 7, total)
    assert page.total_pages == -(-total // 7)
    assert [lead.lead_id for lead in page.items] == fake.data.lead_ids(start, end)[7:14]
    assert all(isinstance(lead, Lead) for lead in page)
    lead = page.items[0]
    assert lead.date_created is not None and lead.date_created.tzinfo is not None
    assert lead.to_dict() == fake.data.lead(lead.lead_id)


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"lead_type": "web_form"}, lambda lead: lead.lead_type == LeadType.WEB_FORM),
        ({"lead_type": LeadType.CHAT}, lambda lead: lead.lead_type == "Chat"),
        ({"lead_status": "repeat"}, lambda lead: lead.lead_status == LeadStatus.REPEAT),
        ({"quotable": "yes"}, lambda lead: lead.quotable == Quotable.YES),
        ({"sales_value": "has_value"}, lambda lead: lead.sales_value is not None),
        ({"quote_value": "no_value"}, lambda lead: lead.quote_value is None),
        ({"spam": True}, lambda lead: lead.spam is True),
        ({"duplicate": True}, lambda lead: lead.duplicate is True),
    ],
)
async def test_filters_reach_the_wire_and_select(
    wc: WhatConverts,
    fake: FakeWhatConverts,
    filters: dict,
    check: object,  # type: ignore[type-arg]
) -> None:
    page = await wc.leads.list(leads_per_page=200, **filters)
    assert page.items, "the generated data has leads of every kind"
    assert all(check(lead) for lead in page.items)  # type: ignore[operator]
    sent = fake.requests[-1].params
    for name, value in filters.items():
        expected = {True: "true"}.get(value, getattr(value, "filter_value", value))
        assert sent[name] == expected


async def test_get_unwraps_the_envelope_and_keeps_unknown_fields(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    lead_id = fake.data.lead_ids()[10]
    fake.data.patch_lead(lead_id, {"conversion_path": ["ad", "form"], "ai_score": 0.9})
    lead = await wc.leads.get(lead_id)
    assert lead.lead_id == lead_id
    assert lead.extra == {"conversion_path": ["ad", "form"], "ai_score": 0.9}
    assert lead.to_dict() == fake.data.lead(lead_id)


@pytest.mark.parametrize("status", [400, 404])
async def test_unknown_ids_are_not_found_whatever_the_status(status: int) -> None:
    fake = FakeWhatConverts(leads=20, key_type="master", invalid_id_status=status)
    async with fake, client_for(fake) as wc:
        with pytest.raises(NotFoundError) as info:
            await wc.leads.get(123)
        assert info.value.status == status
        with pytest.raises(NotFoundError):
            await wc.accounts.get(1)
        with pytest.raises(NotFoundError):
            await wc.roles.get(99_999)


async def test_create_then_get_round_trip(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    lead_id = await wc.leads.create(
        lead_type="phone_call",
        contact_name="Jane Roe",
        email_address="jane@example.com",
        phone_number="+17045550123",
        quotable="pending",
        quote_value=Decimal("99.95"),
        call_duration_seconds=42,
        lead_source="google",
        additional_fields={"Budget": "5k"},
    )
    lead = await wc.leads.get(lead_id)
    assert lead.lead_type == LeadType.PHONE_CALL
    assert (lead.contact_name, lead.email_address, lead.phone_number) == (
        "Jane Roe",
        "jane@example.com",
        "+17045550123",
    )
    assert lead.quotable == Quotable.PENDING
    assert lead.quote_value == Decimal("99.95")
    assert lead.lead_source == "google"
    assert lead.additional_fields == {"Budget": "5k"}
    assert lead_id > max(fake.data.lead_ids()[:-1])


async def test_master_key_create_needs_profile_id(
    mwc: WhatConverts, master_fake: FakeWhatConverts
) -> None:
    with pytest.raises(InvalidParameterError, match="profile_id"):
        await mwc.leads.create(lead_type="web_form")
    assert master_fake.request_count == 0
    profile_id = master_fake.data.profile_ids()[-1]
    lead_id = await mwc.leads.create(lead_type="web_form", profile_id=profile_id)
    assert (await mwc.leads.get(lead_id)).profile_id == profile_id


async def test_update_edits_and_rereads(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    lead_id = fake.data.lead_ids()[0]
    lead = await wc.leads.update(
        lead_id,
        quotable=Quotable.YES,
        quote_value=251,
        sales_value="750.25",
        lead_url="https://acme.example/thanks",
    )
    assert lead.quotable == "Yes"
    assert (lead.quote_value, lead.sales_value) == (Decimal("251"), Decimal("750.25"))
    assert lead.lead_url == "https://acme.example/thanks"
    with pytest.raises(InvalidParameterError, match="at least one"):
        await wc.leads.update(lead_id)


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda wc: wc.leads.list(leads_per_page=0), "leads_per_page"),
        (lambda wc: wc.leads.list(leads_per_page=2501), "leads_per_page"),
        (lambda wc: wc.leads.list(page_number=0), "page_number"),
        (lambda wc: wc.leads.list(order="up"), "order"),
        (lambda wc: wc.leads.list(quotable="maybe"), "quotable"),
        (lambda wc: wc.leads.list(spam="yes"), "spam"),
        (lambda wc: wc.leads.list(account_id=5), "account_id"),
        (
            lambda wc: wc.leads.list(start_date=date(2021, 1, 1), end_date=date(2020, 1, 1)),
            "start_date",
        ),
        (lambda wc: wc.leads.get(-1), "lead_id"),
        (lambda wc: wc.leads.get("12"), "lead_id"),
        (lambda wc: wc.leads.create(lead_type="fax"), "lead_type"),
        (lambda wc: wc.leads.create(lead_type="chat", sales_value=-3), "sales_value"),
        (lambda wc: wc.leads.create(lead_type="chat", favourite_colour="red"), "favourite_colour"),
        (
            lambda wc: wc.leads.create(lead_type="chat", additional_fields={"a[b]": "x"}),
            "additional_fields",
        ),
        (lambda wc: wc.accounts.list(accounts_per_page=251), "accounts_per_page"),
        (lambda wc: wc.accounts.create(account_name="  "), "account_name"),
        (lambda wc: wc.profiles.get(1, 0), "profile_id"),
        (lambda wc: wc.users.list(user_type="admin"), "user_type"),
        (lambda wc: wc.tracking.numbers(account_id=3), "account_id"),
        (lambda wc: wc.recordings.get(0), "lead_id"),
    ],
)
async def test_bad_arguments_fail_before_the_wire(
    wc: WhatConverts, fake: FakeWhatConverts, call: object, parameter: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        await call(wc)  # type: ignore[operator]
    assert info.value.parameter == parameter
    assert fake.request_count == 0


async def test_recordings_get_and_download(
    wc: WhatConverts, fake: FakeWhatConverts, tmp_path: Path
) -> None:
    call = first_call(fake)
    audio = await wc.recordings.get(call["lead_id"])
    assert audio == recording_bytes(fake.config.seed, call["lead_id"], fake.config.recording_size)
    target = tmp_path / "call.mp3"
    assert await wc.recordings.download(call["lead_id"], target) == target
    assert target.read_bytes() == audio
    assert [p.name for p in tmp_path.iterdir()] == ["call.mp3"]


async def test_a_recording_in_memory_is_capped_but_a_download_is_not(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    call = first_call(fake)
    size = fake.config.recording_size
    async with client_for(fake, max_response_bytes=size - 1) as wc:
        with pytest.raises(MalformedResponseError, match=f"larger than {size - 1} bytes"):
            await wc.recordings.get(call["lead_id"])
        target = await wc.recordings.download(call["lead_id"], tmp_path / "call.mp3")
        assert target.stat().st_size == size
        assert fake.request_count == 2  # an oversized answer is not retried
    async with client_for(fake, max_response_bytes=size) as wc:
        assert len(await wc.recordings.get(call["lead_id"])) == size


async def test_resources_use_the_public_request_verbs(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    """``request``/``stream`` are what every resource calls: usable directly, same path."""
    payload = await wc.request("get", "leads", params={"leads_per_page": 2, "spam": None})
    assert isinstance(payload, dict) and len(payload["leads"]) == 2
    assert fake.requests[-1].method == "GET" and fake.requests[-1].query == [
        ("leads_per_page", "2")
    ]
    call = first_call(fake)

    async def count(chunks: AsyncIterator[bytes]) -> int:
        return sum([len(chunk) async for chunk in chunks])

    assert await wc.stream("GET", "recording", count, params={"lead_id": call["lead_id"]}) == (
        fake.config.recording_size
    )
    with pytest.raises(MalformedResponseError, match="expected a file, got JSON"):
        await wc.stream("GET", "leads", count, params={"leads_per_page": 1})
    assert wc.quota.used == fake.request_count == 3
    assert wc.now().tzinfo is not None and wc.clock.now() <= wc.now()


async def test_lead_without_recording_is_not_found(
    wc: WhatConverts, fake: FakeWhatConverts, tmp_path: Path
) -> None:
    form = next(lead for lead in fake.data.iter_leads() if lead["lead_type"] == "Web Form")
    with pytest.raises(NotFoundError):
        await wc.recordings.get(form["lead_id"])
    with pytest.raises(NotFoundError):
        await wc.recordings.download(form["lead_id"], tmp_path / "none.mp3")
    assert list(tmp_path.iterdir()) == []


async def test_failed_download_leaves_no_partial_file(
    fake: FakeWhatConverts, tmp_path: Path
) -> None:
    call = first_call(fake)
    target = tmp_path / "call.mp3"
    target.write_bytes(b"previous good copy")
    fake.faults.fail_next(5, 503, path_prefix="/api/v1/recording")
    async with client_for(fake, max_retries=1) as wc:
        with pytest.raises(ServerError):
            await wc.recordings.download(call["lead_id"], target)
    assert target.read_bytes() == b"previous good copy"
    assert [p.name for p in tmp_path.iterdir()] == ["call.mp3"]


async def test_accounts_crud(mwc: WhatConverts, master_fake: FakeWhatConverts) -> None:
    page = await mwc.accounts.list()
    assert {a.account_id for a in page.items} == set(master_fake.data.account_ids())
    assert all(isinstance(a, Account) and a.profiles for a in page.items)
    first = page.items[0]
    assert (await mwc.accounts.get(first.account_id)).account_name == first.account_name
    created = await mwc.accounts.create(account_name="Barneys", create_profile=False)
    assert created.account_name == "Barneys"
    renamed = await mwc.accounts.update(created.account_id, account_name="Barneys Motors")
    assert renamed.account_name == "Barneys Motors"
    assert (await mwc.accounts.get(created.account_id)).account_name == "Barneys Motors"
    assert await mwc.accounts.delete(created.account_id) == created.account_id
    with pytest.raises(NotFoundError):
        await mwc.accounts.get(created.account_id)


async def test_profiles_crud(mwc: WhatConverts, master_fake: FakeWhatConverts) -> None:
    account_id = master_fake.data.account_ids()[0]
    listed = await mwc.profiles.list(account_id)
    assert {p.profile_id for p in listed.items} == set(master_fake.data.profile_ids(account_id))
    created = await mwc.profiles.create(account_id, profile_name="Landing pages")
    assert isinstance(created, Profile) and created.profile_name == "Landing pages"
    got = await mwc.profiles.get(account_id, created.profile_id)
    assert got.profile_name == "Landing pages"
    await mwc.profiles.update(account_id, created.profile_id, profile_name="LP")
    assert (await mwc.profiles.get(account_id, created.profile_id)).profile_name == "LP"
    assert await mwc.profiles.delete(account_id, created.profile_id) == created.profile_id
    with pytest.raises(NotFoundError):
        await mwc.profiles.get(account_id, created.profile_id)


async def test_users_roles_and_tracking(mwc: WhatConverts, master_fake: FakeWhatConverts) -> None:
    users = await mwc.users.list(users_per_page=250)
    assert users.items and all(u.email for u in users.items)
    one = await mwc.users.get(users.items[0].user_id)
    assert one.email == users.items[0].email
    everyone = [u async for u in mwc.users.iterate(user_type="account")]
    assert all(u.user_type == "account_user" for u in everyone)
    roles = await mwc.roles.list()
    assert roles.items and (await mwc.roles.get(roles.items[0].role_id)).role_name
    assert [r.role_id async for r in mwc.roles.iterate()] == [r.role_id for r in roles.items]
    numbers = await mwc.tracking.numbers()
    assert numbers.items and all(n.phone_number_id for n in numbers.items)
    profile_id = numbers.items[0].profile_id
    scoped = await mwc.tracking.numbers(profile_id=profile_id)
    assert scoped.items and all(n.profile_id == profile_id for n in scoped.items)
    forms = await mwc.tracking.forms()
    assert forms.items and all(f.form_id for f in forms.items)
    assert len([f async for f in mwc.tracking.iterate_forms()]) == forms.total_items
    assert len([n async for n in mwc.tracking.iterate_numbers()]) == numbers.total_items


async def test_an_edit_the_api_did_not_apply_is_reported(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    from whatconverts_async import UpdateNotAppliedError

    lead_id = fake.data.lead_ids()[1]
    # The edit is "accepted" but never reaches the data (as if a field were ignored).
    fake.faults.fail_next(1, 200, body=f'{{"lead_id": {lead_id}}}', path_prefix="/api/v1/leads/")
    with pytest.raises(UpdateNotAppliedError) as info:
        await wc.leads.update(
            lead_id, additional_fields={"Stage": "Won"}, lead_url="https://x.example/"
        )
    assert info.value.lead_id == lead_id
    assert info.value.fields == ["lead_url", "additional_fields[Stage]"]


async def test_a_delete_that_may_have_arrived_is_not_repeated(
    mwc: WhatConverts, master_fake: FakeWhatConverts
) -> None:
    account = await mwc.accounts.create(account_name="Temp")
    master_fake.reset_records()
    master_fake.faults.fail_next(1, 502, path_prefix="/api/v1/accounts/")
    with pytest.raises(ServerError):
        await mwc.accounts.delete(account.account_id)
    assert master_fake.request_count == 1


async def test_a_slow_recording_download_is_not_cut_off_by_the_request_timeout(
    tmp_path: Path,
) -> None:
    import asyncio

    from aiohttp import web

    async def recording(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await response.prepare(request)
        for _ in range(5):  # 1 s in all, but never more than 0.2 s of silence
            await response.write(b"x" * 1000)
            await asyncio.sleep(0.2)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/v1/recording", recording)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with WhatConverts(
            "t", "s", base_url=f"http://127.0.0.1:{port}/api/v1/", timeout=0.6, max_retries=0
        ) as wc:
            target = await wc.recordings.download(5, tmp_path / "slow.mp3")
            assert target.read_bytes() == b"x" * 5000
            assert wc.quota.used == 1
    finally:
        await runner.cleanup()
