"""Bad input fails before the wire: ``ValueError``/``TypeError`` naming the parameter.

Extends the tables in test_resources.py and test_pagination.py to every public method,
the constructor and ``export_leads``; each case asserts the simulator saw no request.
Also: naive datetimes are taken as UTC (the wire value is checked).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from whatconverts_async import InvalidParameterError, RetryPolicy, WhatConverts
from whatconverts_async.export import ExportError, export_leads
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for

pytestmark = pytest.mark.filterwarnings("error")

UTC = timezone.utc
D = date(2024, 1, 1)
Call = Callable[[WhatConverts], Any]


async def _call(call: Call, wc: WhatConverts) -> None:
    result = call(wc)
    if hasattr(result, "__await__"):
        await result
    elif hasattr(result, "__anext__"):
        await result.__anext__()


LEAD_CASES: list[tuple[Call, str]] = [
    # leads.list
    (lambda wc: wc.leads.list(leads_per_page=-1), "leads_per_page"),
    (lambda wc: wc.leads.list(leads_per_page="100"), "leads_per_page"),
    (lambda wc: wc.leads.list(leads_per_page=2.0), "leads_per_page"),
    (lambda wc: wc.leads.list(leads_per_page=True), "leads_per_page"),
    (lambda wc: wc.leads.list(page_number=-2), "page_number"),
    (lambda wc: wc.leads.list(lead_type="Phone Calls"), "lead_type"),
    (lambda wc: wc.leads.list(lead_type=3), "lead_type"),
    (lambda wc: wc.leads.list(lead_status="new"), "lead_status"),
    (lambda wc: wc.leads.list(quote_value="lots"), "quote_value"),
    (lambda wc: wc.leads.list(sales_value=100), "sales_value"),
    (lambda wc: wc.leads.list(duplicate=1), "duplicate"),
    (lambda wc: wc.leads.list(customer_journey="true"), "customer_journey"),
    (lambda wc: wc.leads.list(phone_number=17045551234), "phone_number"),
    (lambda wc: wc.leads.list(profile_id=80022), "profile_id"),  # profile key
    (lambda wc: wc.leads.list(start_date=20240101), "start_date"),
    (lambda wc: wc.leads.list(start_date="2024-02-30"), "start_date"),
    (lambda wc: wc.leads.list(start_date=D, end_date="soon"), "end_date"),
    (lambda wc: wc.leads.list(start_date=D, end_date=D + timedelta(days=401)), "end_date"),
    (lambda wc: wc.leads.list(start_date=date(2015, 1, 1)), "end_date"),  # open end: now
    (
        lambda wc: wc.leads.list(
            start_date=datetime(2024, 1, 1, tzinfo=UTC),
            end_date=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        ),
        "start_date",
    ),
    (lambda wc: wc.leads.list(lead_colour="red"), "lead_colour"),
    # leads.iterate / iterate_pages
    (lambda wc: wc.leads.iterate(start_date=D, per_page=0), "per_page"),
    (lambda wc: wc.leads.iterate(start_date=D, prefetch=21), "prefetch"),
    (lambda wc: wc.leads.iterate(start_date=D, prefetch="4"), "prefetch"),
    (lambda wc: wc.leads.iterate(start_date=D, max_items=1.5), "max_items"),
    (lambda wc: wc.leads.iterate(start_date=D, spam="no"), "spam"),
    (lambda wc: wc.leads.iterate_pages(start_date=None), "start_date"),
    (lambda wc: wc.leads.iterate_pages(start_date=D, per_page=2501), "per_page"),
    (lambda wc: wc.leads.iterate_pages(start_date=D, order="ascending"), "order"),
    (lambda wc: wc.leads.iterate_pages(start_date=D, prefetch=0), "prefetch"),
    # leads.get / create / update
    (lambda wc: wc.leads.get(0), "lead_id"),
    (lambda wc: wc.leads.get(None), "lead_id"),
    (lambda wc: wc.leads.get(1.5), "lead_id"),
    (lambda wc: wc.leads.get(True), "lead_id"),
    (lambda wc: wc.leads.get(5, customer_journey="yes"), "customer_journey"),
    (lambda wc: wc.leads.create(lead_type=None), "lead_type"),
    (lambda wc: wc.leads.create(lead_type="chat", profile_id=-1), "profile_id"),
    (lambda wc: wc.leads.create(lead_type="chat", send_notification="yes"), "send_notification"),
    (lambda wc: wc.leads.create(lead_type="chat", quotable="probably"), "quotable"),
    (lambda wc: wc.leads.create(lead_type="chat", quote_value="NaN"), "quote_value"),
    (lambda wc: wc.leads.create(lead_type="chat", quote_value=float("inf")), "quote_value"),
    (lambda wc: wc.leads.create(lead_type="chat", sales_value=True), "sales_value"),
    (
        lambda wc: wc.leads.create(lead_type="chat", call_duration_seconds=-1),
        "call_duration_seconds",
    ),
    (lambda wc: wc.leads.create(lead_type="chat", contact_name=42), "contact_name"),
    (lambda wc: wc.leads.create(lead_type="chat", additional_fields=["a"]), "additional_fields"),
    (
        lambda wc: wc.leads.create(lead_type="chat", additional_fields={"": "x"}),
        "additional_fields",
    ),
    (
        lambda wc: wc.leads.create(lead_type="chat", additional_fields={"a": None}),
        "additional_fields",
    ),
    (lambda wc: wc.leads.update(0, quotable="yes"), "lead_id"),
    (lambda wc: wc.leads.update(5, quotable="perhaps"), "quotable"),
    (lambda wc: wc.leads.update(5, sales_value=Decimal("-0.01")), "sales_value"),
    (lambda wc: wc.leads.update(5, lead_url=7), "lead_url"),
    (lambda wc: wc.leads.update(5), "update"),
    # recordings
    (lambda wc: wc.recordings.get(-5), "lead_id"),
    (lambda wc: wc.recordings.get("5"), "lead_id"),
    (lambda wc: wc.recordings.download(0, "x.mp3"), "lead_id"),
    (lambda wc: wc.recordings.download(5, 123), "path"),
    (lambda wc: wc.recordings.download(5, "."), "path"),
    (lambda wc: wc.recordings.download(5, "/no/such/folder/x.mp3"), "path"),
    # tracking (profile keys may list their own numbers and forms)
    (lambda wc: wc.tracking.numbers(numbers_per_page=251), "numbers_per_page"),
    (lambda wc: wc.tracking.forms(forms_per_page=0), "forms_per_page"),
    (lambda wc: wc.tracking.forms(page_number=0), "page_number"),
    (lambda wc: wc.tracking.iterate_numbers(per_page=-1), "per_page"),
    (lambda wc: wc.tracking.iterate_forms(prefetch=0), "prefetch"),
    (lambda wc: wc.tracking.iterate_forms(profile_id=3), "profile_id"),
]


@pytest.mark.parametrize(("call", "parameter"), LEAD_CASES)
async def test_profile_key_methods_refuse_bad_arguments_before_the_wire(
    wc: WhatConverts, fake: FakeWhatConverts, call: Call, parameter: str
) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        await _call(call, wc)
    assert isinstance(info.value, InvalidParameterError), repr(info.value)
    assert info.value.parameter == parameter
    assert parameter in str(info.value)
    assert fake.request_count == 0


MASTER_CASES: list[tuple[Call, str]] = [
    (lambda wc: wc.leads.list(account_id=0), "account_id"),
    (lambda wc: wc.leads.list(profile_id="80022"), "profile_id"),
    (lambda wc: wc.leads.create(lead_type="chat"), "profile_id"),
    (lambda wc: wc.leads.iterate(start_date=D, profile_ids=[1, 1]), "profile_ids"),
    (lambda wc: wc.leads.iterate(start_date=D, profile_ids=[]), "profile_ids"),
    (lambda wc: wc.leads.iterate(start_date=D, profile_ids="80022"), "profile_ids"),
    (lambda wc: wc.leads.iterate(start_date=D, account_ids=[-1]), "account_id"),
    (lambda wc: wc.leads.iterate(start_date=D, profile_id=5, profile_ids=[6]), "profile_ids"),
    (lambda wc: wc.accounts.list(accounts_per_page=0), "accounts_per_page"),
    (lambda wc: wc.accounts.list(start_date="x"), "start_date"),
    (lambda wc: wc.accounts.list(order="random"), "order"),
    (lambda wc: wc.accounts.iterate(per_page=251), "per_page"),
    (lambda wc: wc.accounts.iterate(max_items=-1), "max_items"),
    (lambda wc: wc.accounts.get(-1), "account_id"),
    (lambda wc: wc.accounts.create(account_name=None), "account_name"),
    (lambda wc: wc.accounts.create(account_name="A", create_profile="yes"), "create_profile"),
    (lambda wc: wc.accounts.update(1, account_name=""), "account_name"),
    (lambda wc: wc.accounts.update("1", account_name="A"), "account_id"),
    (lambda wc: wc.accounts.delete(0), "account_id"),
    (lambda wc: wc.profiles.list(0), "account_id"),
    (lambda wc: wc.profiles.list(1, profiles_per_page=300), "profiles_per_page"),
    (lambda wc: wc.profiles.iterate(-3), "account_id"),
    (lambda wc: wc.profiles.get(1, -1), "profile_id"),
    (lambda wc: wc.profiles.create(1, profile_name=" "), "profile_name"),
    (lambda wc: wc.profiles.update(1, 2, profile_name=3), "profile_name"),
    (lambda wc: wc.profiles.delete(1, 0), "profile_id"),
    (lambda wc: wc.users.list(users_per_page=251), "users_per_page"),
    (lambda wc: wc.users.list(start_date=D, end_date=date(2023, 1, 1)), "start_date"),
    (lambda wc: wc.users.iterate(user_type="root"), "user_type"),
    (lambda wc: wc.users.get(0), "user_id"),
    (lambda wc: wc.roles.list(role_type="god"), "role_type"),
    (lambda wc: wc.roles.get(-1), "role_id"),
    (lambda wc: wc.tracking.numbers(account_id=-4), "account_id"),
    (lambda wc: wc.tracking.iterate_numbers(profile_id=0), "profile_id"),
]


@pytest.mark.parametrize(("call", "parameter"), MASTER_CASES)
async def test_master_key_methods_refuse_bad_arguments_before_the_wire(
    mwc: WhatConverts, master_fake: FakeWhatConverts, call: Call, parameter: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        await _call(call, mwc)
    assert info.value.parameter == parameter
    assert master_fake.request_count == 0


@pytest.mark.parametrize(
    ("given", "wire"),
    [
        (datetime(2024, 3, 1, 12, 30, 15), "2024-03-01T12:30:15Z"),  # naive: UTC
        (datetime(2024, 3, 1, 12, 30, 15, 999_999), "2024-03-01T12:30:15Z"),
        (
            datetime(2024, 3, 1, 12, 30, 15, tzinfo=timezone(timedelta(hours=-5))),
            "2024-03-01T17:30:15Z",
        ),
        ("2024-03-01T12:30:15+01:00", "2024-03-01T11:30:15Z"),
        ("2024-03-01T12:30:15", "2024-03-01T12:30:15Z"),
        ("2024-03-01", "2024-03-01T00:00:00Z"),
        (date(2024, 3, 1), "2024-03-01T00:00:00Z"),
    ],
)
async def test_dates_reach_the_wire_as_utc(
    wc: WhatConverts, fake: FakeWhatConverts, given: Any, wire: str
) -> None:
    await wc.leads.list(start_date=given, end_date=date(2024, 12, 31), leads_per_page=1)
    (request,) = fake.requests
    assert request.params["start_date"] == wire
    assert request.params["end_date"] == "2024-12-31T23:59:59Z"  # a bare date: its whole day


async def test_naive_datetimes_in_a_scan_are_utc(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    await wc.leads.iterate(
        start_date=datetime(2024, 1, 1, 6), end_date=datetime(2024, 1, 2, 18), per_page=5
    ).collect()
    assert {(r.params["start_date"], r.params["end_date"]) for r in fake.requests} == {
        ("2024-01-01T06:00:00Z", "2024-01-02T18:00:00Z")
    }


async def test_exactly_400_days_is_one_page_call_and_401_is_refused(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    await wc.leads.list(start_date=start, end_date=start + timedelta(days=400), leads_per_page=1)
    with pytest.raises(InvalidParameterError, match="400 days"):
        await wc.leads.list(
            start_date=start, end_date=start + timedelta(days=400, seconds=1), leads_per_page=1
        )
    assert fake.request_count == 1


# --- the constructor ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"api_token": ""}, "api_token"),
        ({"api_token": None}, "api_token"),
        ({"api_secret": "   "}, "api_secret"),
        ({"api_secret": b"bytes"}, "api_secret"),
        ({"key_type": None}, "key_type"),
        ({"base_url": None}, "base_url"),
        ({"base_url": "app.whatconverts.com/api/v1"}, "base_url"),
        ({"timeout": "30"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"max_concurrency": 2.0}, "max_concurrency"),
        ({"daily_limit": "1000"}, "daily_limit"),
        ({"daily_limit": True}, "daily_limit"),
        ({"on_quota_exhausted": None}, "on_quota_exhausted"),
        ({"min_interval": -0.001}, "min_interval"),
        ({"min_interval": math.nan}, "min_interval"),
        ({"max_response_bytes": 0}, "max_response_bytes"),
        ({"max_response_bytes": 1.5e9}, "max_response_bytes"),
        ({"session": object()}, "session"),
        ({"retry_policy": {"max_retries": 3}}, "retry_policy"),
        ({"clock": "utc"}, "clock"),
        ({"quota": 1000}, "quota"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], parameter: str) -> None:
    args = {"api_token": "token", "api_secret": "secret", **kwargs}
    with pytest.raises(InvalidParameterError) as info:
        WhatConverts(args.pop("api_token"), args.pop("api_secret"), **args)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"base_wait": -1}, "base_wait"),
        ({"max_wait": "1"}, "max_wait"),
        ({"max_total": math.nan}, "max_total"),
        ({"max_retry_after": None}, "max_retry_after"),
    ],
)
def test_bad_retry_policies(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        RetryPolicy(**kwargs)
    assert info.value.parameter == parameter


async def test_constructor_accepts_a_real_session() -> None:
    async with aiohttp.ClientSession() as session:
        WhatConverts("t", "s", session=session)  # a real session is fine


# --- export_leads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"format": "xml"}, "format"),
        ({"resume": True, "force": True}, "resume"),
        ({"shard": (3, 3)}, "shard"),
        ({"shard": [0, 2]}, "shard"),
        ({"shard": (-1, 2)}, "shard"),
        ({"start_date": None}, "start_date"),
        ({"start_date": "the beginning"}, "start_date"),
        ({"end_date": "2019-13-01"}, "end_date"),
        ({"start_date": date(2021, 1, 1), "end_date": date(2020, 1, 1)}, "start_date"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 2501}, "per_page"),
        ({"order": "sideways"}, "order"),
        ({"lead_type": "fax"}, "lead_type"),
        ({"favourite": "x"}, "favourite"),
        ({"profile_id": 5}, "profile_id"),
        ({"prefetch": 0}, "prefetch"),
    ],
)
async def test_bad_export_arguments_fail_before_any_request(
    wc: WhatConverts, fake: FakeWhatConverts, tmp_path: Path, kwargs: dict[str, Any], parameter: str
) -> None:
    args: dict[str, Any] = {"start_date": date(2020, 1, 1), "end_date": date(2020, 12, 31)}
    args.update(kwargs)
    with pytest.raises(InvalidParameterError) as info:
        await export_leads(wc, tmp_path / "leads.jsonl", **args)
    assert info.value.parameter == parameter
    assert fake.request_count == 0


async def test_export_to_a_directory_is_refused(
    wc: WhatConverts, fake: FakeWhatConverts, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        await export_leads(wc, tmp_path, start_date=date(2020, 1, 1))
    assert info.value.parameter == "path"
    assert fake.request_count == 0


async def test_force_with_a_bad_argument_keeps_the_existing_output(
    wc: WhatConverts, fake: FakeWhatConverts, tmp_path: Path
) -> None:
    out = tmp_path / "leads.jsonl"
    out.write_text('{"lead_id": 1}\n')
    with pytest.raises((InvalidParameterError, ExportError)):
        await export_leads(wc, out, start_date=date(2020, 1, 1), per_page=0, force=True)
    assert out.read_text() == '{"lead_id": 1}\n'
    assert fake.request_count == 0


async def test_bad_input_leaves_a_shared_client_budget_untouched(fake: FakeWhatConverts) -> None:
    async with client_for(fake, daily_limit=5) as wc:
        for call, _ in LEAD_CASES[:20]:
            with pytest.raises(InvalidParameterError):
                await _call(call, wc)
        assert wc.quota.used == 0 and wc.throttle.in_flight == 0
        await wc.leads.list(leads_per_page=1)
        assert wc.quota.used == fake.request_count == 1
