"""The API simulator over real HTTP on loopback, driven by a plain aiohttp session."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

from whatconverts_async.testing import (
    LEAD_TYPES,
    Dataset,
    FakeWhatConverts,
    Realism,
    RecordedRequest,
    generate,
    recording_bytes,
)

UTC = timezone.utc
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def basic(token: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{token}:{secret}".encode()).decode()
    return {"Authorization": "Basic " + raw}


class Clock:
    """A settable clock for the daily-limit and create tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Api:
    """A thin JSON helper over one session, authenticated as one key."""

    def __init__(self, session: aiohttp.ClientSession, fake: FakeWhatConverts) -> None:
        self.session = session
        self.fake = fake
        self.headers = basic(fake.token, fake.secret)

    def as_key(self, token: str, secret: str) -> Api:
        other = Api(self.session, self.fake)
        other.headers = basic(token, secret)
        return other

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        hdrs = self.headers if headers is None else headers
        async with self.session.request(
            method, self.fake.url + path, params=params, data=data, headers=hdrs
        ) as resp:
            raw = await resp.read()
            body: Any = raw
            if resp.content_type == "application/json":
                body = await resp.json()
            return resp.status, body, resp

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        status, body, _ = await self.call("GET", path, params=params or None)
        return status, body

    async def ok(self, path: str, **params: Any) -> Any:
        status, body = await self.get(path, **params)
        assert status == 200, body
        return body

    async def post(self, path: str, data: Any) -> tuple[int, Any]:
        status, body, _ = await self.call("POST", path, data=data)
        return status, body

    async def all_lead_ids(self, **params: Any) -> list[int]:
        params.setdefault("leads_per_page", 2500)
        ids: list[int] = []
        page = 1
        while True:
            body = await self.ok("leads", page_number=page, **params)
            ids += [lead["lead_id"] for lead in body["leads"]]
            if page >= body["total_pages"]:
                assert len(ids) == body["total_leads"]
                return ids
            page += 1


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def fake() -> AsyncIterator[FakeWhatConverts]:
    async with FakeWhatConverts(leads=1_000, seed=3) as f:
        yield f


@pytest.fixture
async def agency(request: pytest.FixtureRequest) -> AsyncIterator[FakeWhatConverts]:
    # Parametrize indirectly with a Realism to switch the simulator's open questions.
    realism = getattr(request, "param", None)
    async with FakeWhatConverts(
        leads=3_000, seed=5, key_type="master", accounts=2, profiles_per_account=2, realism=realism
    ) as f:
        yield f


@pytest.fixture
def api(session: aiohttp.ClientSession, fake: FakeWhatConverts) -> Api:
    return Api(session, fake)


@pytest.fixture
def master(session: aiohttp.ClientSession, agency: FakeWhatConverts) -> Api:
    return Api(session, agency)


def wire_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def expected_ids(data: Dataset, pred: Callable[[dict[str, Any]], bool], **kw: Any) -> list[int]:
    return [lead["lead_id"] for lead in data.iter_leads(order="desc", **kw) if pred(lead)]


# --- auth ---------------------------------------------------------------------------


async def test_missing_and_bad_credentials_are_401(api: Api, fake: FakeWhatConverts) -> None:
    bad = {"error_message": "Invalid API credentials."}
    for headers in (
        {},
        basic(fake.token, "wrong"),
        basic("nobody", fake.secret),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": f"Bearer {fake.token}"},
    ):
        status, body, _ = await api.call("GET", "leads", headers=headers)
        assert (status, body) == (401, bad)
    assert fake.requests_today(fake.token) == 0
    assert (await api.get("leads"))[0] == 200
    assert fake.key.authorization == api.headers["Authorization"]


@pytest.mark.parametrize("path", ["accounts", "accounts/1/profiles", "users", "users/1", "roles"])
async def test_profile_key_is_refused_on_agency_resources(api: Api, path: str) -> None:
    status, body = await api.get(path)
    assert status == 403
    assert body == {"error_message": "Agency Key is required to access this resource."}


async def test_master_key_reaches_agency_resources(
    api: Api, fake: FakeWhatConverts, master: Api
) -> None:
    mk = api.as_key(*fake.master_key)
    for path in ("accounts", "users", "roles", "tracking/numbers", "leads"):
        assert (await mk.get(path))[0] == 200, path
    token, secret = fake.profile_key
    assert token == fake.token and secret == fake.secret


# --- envelope, pagination, order ---------------------------------------------------


async def test_envelope_and_pagination_math(api: Api, fake: FakeWhatConverts) -> None:
    first = await api.ok("leads")
    assert list(first) == ["page_number", "leads_per_page", "total_pages", "total_leads", "leads"]
    assert (first["page_number"], first["leads_per_page"]) == (1, 25)
    assert first["total_leads"] == 1_000
    assert first["total_pages"] == 40
    assert len(first["leads"]) == 25
    pages = [await api.ok("leads", leads_per_page=300, page_number=n) for n in (1, 2, 3, 4, 5)]
    assert [p["total_pages"] for p in pages] == [4] * 5
    assert [len(p["leads"]) for p in pages] == [300, 300, 300, 100, 0]
    assert pages[4]["page_number"] == 5
    served = [lead["lead_id"] for p in pages for lead in p["leads"]]
    assert served == list(reversed(fake.data.lead_ids()))
    empty = await api.ok("leads", start_date="2030-01-01", end_date="2030-02-01")
    assert (empty["total_leads"], empty["total_pages"], empty["leads"]) == (0, 0, [])


async def test_order_is_by_date_then_id(api: Api) -> None:
    asc = (await api.ok("leads", leads_per_page=2500, order="asc"))["leads"]
    desc = (await api.ok("leads", leads_per_page=2500))["leads"]
    keys = [(lead["date_created"], lead["lead_id"]) for lead in asc]
    assert keys == sorted(keys)
    assert [x["lead_id"] for x in desc] == [x["lead_id"] for x in reversed(asc)]
    ids = [x["lead_id"] for x in asc]
    assert ids == sorted(ids)  # generated ids grow with date_created


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"leads_per_page": 0}, "leads_per_page"),
        ({"leads_per_page": 2501}, "leads_per_page"),
        ({"leads_per_page": "many"}, "leads_per_page"),
        ({"page_number": 0}, "page_number"),
        ({"order": "newest"}, "order"),
        ({"lead_type": "Phone Call"}, "lead_type"),
        ({"lead_status": "new"}, "lead_status"),
        ({"quotable": "maybe"}, "quotable"),
        ({"quote_value": "100"}, "quote_value"),
        ({"sales_value": "yes"}, "sales_value"),
        ({"spam": "1"}, "spam"),
        ({"account_id": 1}, "account_id"),
        ({"profile_id": 1}, "profile_id"),
        ({"start_date": "2024/01/01"}, "start_date"),
        ({"end_date": "2024-01-01T00:00:00"}, "end_date"),
        ({"end_date": "2024-13-01"}, "end_date"),
        ({"start_date": "2024-01-01 00:00:00"}, "start_date"),
    ],
)
async def test_bad_lead_list_parameters_are_400(
    api: Api, params: dict[str, Any], needle: str
) -> None:
    status, body = await api.get("leads", **params)
    assert status == 400
    assert needle in body["error_message"]


async def test_largest_page_is_served_fast(session: aiohttp.ClientSession) -> None:
    async with FakeWhatConverts(leads=20_000) as big:
        api = Api(session, big)
        t0 = time.perf_counter()
        body = await api.ok("leads", leads_per_page=2500, page_number=3)
        elapsed = time.perf_counter() - t0
    assert len(body["leads"]) == 2500
    assert elapsed < 1.0  # typically ~50 ms; generous for slow CI machines


# --- filters ---------------------------------------------------------------------------


def _sample_value(data: Dataset, field: str) -> Any:
    for lead in data.iter_leads():
        if lead.get(field):
            return lead[field]
    raise AssertionError(field)


@pytest.mark.parametrize("lead_type", list(LEAD_TYPES))
async def test_lead_type_filter(master: Api, agency: FakeWhatConverts, lead_type: str) -> None:
    want = expected_ids(agency.data, lambda x: x["lead_type"] == LEAD_TYPES[lead_type])
    assert want
    assert await master.all_lead_ids(lead_type=lead_type) == want


FLAG_FILTERS: list[tuple[dict[str, str], Callable[[dict[str, Any]], bool]]] = [
    ({"lead_status": "unique"}, lambda x: x["lead_status"] == "Unique"),
    ({"lead_status": "repeat"}, lambda x: x["lead_status"] == "Repeat"),
    ({"quotable": "yes"}, lambda x: x["quotable"] == "Yes"),
    ({"quotable": "no"}, lambda x: x["quotable"] == "No"),
    ({"quotable": "pending"}, lambda x: x["quotable"] == "Pending"),
    ({"quotable": "not_set"}, lambda x: x["quotable"] == "Not Set"),
    ({"quote_value": "has_value"}, lambda x: x["quote_value"] is not None),
    ({"quote_value": "no_value"}, lambda x: x["quote_value"] is None),
    ({"sales_value": "has_value"}, lambda x: x["sales_value"] is not None),
    ({"sales_value": "no_value"}, lambda x: x["sales_value"] is None),
    ({"spam": "true"}, lambda x: x["spam"] is True),
    ({"duplicate": "true"}, lambda x: x["duplicate"] is True),
    ({"spam": "false"}, lambda x: True),
    ({"customer_journey": "true"}, lambda x: True),
    (
        {"lead_type": "web_form", "quotable": "yes", "lead_status": "unique"},
        lambda x: (
            x["lead_type"] == "Web Form" and x["quotable"] == "Yes" and x["lead_status"] == "Unique"
        ),
    ),
]


@pytest.mark.parametrize(("params", "pred"), FLAG_FILTERS)
async def test_flag_filters(
    master: Api,
    agency: FakeWhatConverts,
    params: dict[str, str],
    pred: Callable[[dict[str, Any]], bool],
) -> None:
    want = expected_ids(agency.data, pred)
    assert want
    assert await master.all_lead_ids(**params) == want


@pytest.mark.parametrize(
    "field",
    [
        "phone_number",
        "email_address",
        "lead_source",
        "lead_medium",
        "lead_campaign",
        "lead_content",
        "lead_keyword",
        "user_id",
    ],
)
async def test_exact_text_filters(master: Api, agency: FakeWhatConverts, field: str) -> None:
    value = _sample_value(agency.data, field)
    want = expected_ids(agency.data, lambda x: x.get(field) == value)
    got = await master.all_lead_ids(**{field: value})
    assert got == want and got


async def test_spam_and_duplicates_are_included_by_default(
    master: Api, agency: FakeWhatConverts
) -> None:
    leads = (await master.ok("leads", leads_per_page=2500))["leads"]
    assert any(x["spam"] for x in leads) and any(x["duplicate"] for x in leads)


async def test_account_and_profile_filters(master: Api, agency: FakeWhatConverts) -> None:
    accounts = agency.data.account_ids()
    assert len(accounts) == 2
    for account_id in accounts:
        pids = set(agency.data.profile_ids(account_id))
        want = expected_ids(agency.data, lambda x, ps=pids: x["profile_id"] in ps)
        assert await master.all_lead_ids(account_id=account_id) == want
        for pid in pids:
            want = expected_ids(agency.data, lambda x, p=pid: x["profile_id"] == p)
            assert await master.all_lead_ids(profile_id=pid) == want
            assert await master.all_lead_ids(profile_id=pid, account_id=account_id) == want
    other = agency.data.profile_ids(accounts[1])[0]
    assert await master.all_lead_ids(profile_id=other, account_id=accounts[0]) == []
    assert (await master.get("leads", profile_id=1))[0] == 400
    assert (await master.get("leads", account_id=1))[0] == 400


async def test_profile_key_sees_only_its_profile(master: Api, agency: FakeWhatConverts) -> None:
    pk = master.as_key(*agency.profile_key)
    pid = agency.profile_id
    ids = await pk.all_lead_ids()
    assert ids == expected_ids(agency.data, lambda x: x["profile_id"] == pid)
    assert 0 < len(ids) < 3_000
    foreign = next(x for x in agency.data.iter_leads() if x["profile_id"] != pid)
    status, body = await pk.get(f"leads/{foreign['lead_id']}")
    assert (status, body) == (400, {"error_message": "Invalid lead ID."})
    status, body = await pk.get("leads", profile_id=pid)
    assert status == 400 and "Agency Key" in body["error_message"]
    second = agency.add_profile_key(foreign["profile_id"])
    other = master.as_key(*second)
    assert foreign["lead_id"] in await other.all_lead_ids()


# --- dates ---------------------------------------------------------------------------


async def test_date_filters_are_inclusive_at_second_precision(
    api: Api, fake: FakeWhatConverts
) -> None:
    lead = fake.data.lead(fake.data.lead_ids()[500])
    t = wire_ts(lead["date_created"])

    def iso(d: datetime) -> str:
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")

    one = await api.ok("leads", start_date=iso(t), end_date=iso(t))
    assert lead["lead_id"] in [x["lead_id"] for x in one["leads"]]
    assert all(x["date_created"] == lead["date_created"] for x in one["leads"])
    later = [x for x in one["leads"] if x["lead_id"] != lead["lead_id"]]
    after = await api.all_lead_ids(start_date=iso(t + timedelta(seconds=1)))
    assert lead["lead_id"] not in after
    assert {x["lead_id"] for x in later} <= set(await api.all_lead_ids(end_date=iso(t)))
    before = await api.all_lead_ids(end_date=iso(t - timedelta(seconds=1)))
    assert lead["lead_id"] not in before
    offset = await api.ok(
        "leads", start_date=t.strftime("%Y-%m-%dT%H:%M:%S+00:00"), end_date=iso(t)
    )
    assert offset["total_leads"] == one["total_leads"]


async def test_bare_dates_cover_whole_days(api: Api, fake: FakeWhatConverts) -> None:
    day = datetime(2030, 6, 1, tzinfo=UTC)
    edges = [
        fake.data.insert_lead(day)["lead_id"],
        fake.data.insert_lead(day + timedelta(hours=23, minutes=59, seconds=59))["lead_id"],
    ]
    fake.data.insert_lead(day - timedelta(seconds=1))
    fake.data.insert_lead(day + timedelta(days=1))
    body = await api.ok("leads", start_date="2030-06-01", end_date="2030-06-01", order="asc")
    assert [x["lead_id"] for x in body["leads"]] == edges
    since = await api.all_lead_ids(start_date="2030-06-01")
    assert len(since) == 3
    assert fake.data.count_leads(day, day + timedelta(days=1, seconds=-1)) == 2


async def test_date_range_limit_of_400_days(api: Api) -> None:
    too_long = {"error_message": "Date range cannot exceed 400 days."}
    assert (await api.get("leads", start_date="2024-01-01", end_date="2025-02-04")) == (
        400,
        too_long,
    )
    assert (await api.get("leads", start_date="2024-01-01", end_date="2025-02-03"))[0] == 200
    exact = ("2024-01-01T00:00:00Z", "2025-02-04T00:00:00Z")
    assert (await api.get("leads", start_date=exact[0], end_date=exact[1]))[0] == 200
    over = ("2024-01-01T00:00:00Z", "2025-02-04T00:00:01Z")
    assert (await api.get("leads", start_date=over[0], end_date=over[1])) == (400, too_long)
    status, body = await api.get("leads", start_date="2024-02-01", end_date="2024-01-01")
    assert status == 400 and "start_date" in body["error_message"]


# --- single leads, create, edit --------------------------------------------------------


async def test_single_lead_envelope(api: Api, fake: FakeWhatConverts) -> None:
    lead_id = fake.data.lead_ids()[10]
    body = await api.ok(f"leads/{lead_id}")
    assert body["leads"] == [fake.data.lead(lead_id)]
    assert (body["total_leads"], body["leads_per_page"], body["total_pages"]) == (1, 1, 1)
    for bad in ("1", "abc", str(fake.data.max_lead_id + 1)):
        assert (await api.get(f"leads/{bad}")) == (400, {"error_message": "Invalid lead ID."})


async def test_invalid_id_status_is_configurable(session: aiohttp.ClientSession) -> None:
    async with FakeWhatConverts(leads=10, key_type="master", invalid_id_status=404) as f:
        api = Api(session, f)
        assert (await api.get("leads/1")) == (404, {"error_message": "Invalid lead ID."})
        assert (await api.get("accounts/1")) == (404, {"error_message": "Invalid account ID."})


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded", "json"])
async def test_create_lead_round_trip(session: aiohttp.ClientSession, encoding: str) -> None:
    clock = Clock(datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC))
    async with FakeWhatConverts(leads=200, clock=clock) as f:
        api = Api(session, f)
        highest = f.data.max_lead_id
        fields = {
            "lead_type": "web_form",
            "send_notification": "false",
            "contact_name": "Zoë O'Brien",
            "email_address": "zoe@example.com",
            "phone_number": "+17045550123",
            "quotable": "yes",
            "quote_value": "250.5",
            "sales_value": "1000",
            "form_name": "Contact, Us",
            "lead_source": "google",
            "additional_fields[Favourite Colour]": 'blue, "navy"',
            "additional_fields[Name:]": "Z",
        }
        data: Any
        if encoding == "multipart":
            data = aiohttp.FormData(default_to_multipart=True)
            for k, v in fields.items():
                data.add_field(k, v)
        elif encoding == "urlencoded":
            data = fields
        else:
            data = None
        if encoding == "json":
            status, body, _ = await api.call(
                "POST",
                "leads",
                data=__import__("json").dumps(fields),
                headers={**api.headers, "Content-Type": "application/json"},
            )
        else:
            status, body = await api.post("leads", data)
        assert status == 200, body
        lead_id = body["lead_id"]
        assert lead_id > highest and f.data.max_lead_id == lead_id
        rec = f.requests[-1]
        assert rec.form is not None and rec.form["contact_name"] == "Zoë O'Brien"
        got = (await api.ok(f"leads/{lead_id}"))["leads"][0]
        assert got["lead_type"] == "Web Form"
        assert got["date_created"] == got["last_updated"] == "2026-03-04T05:06:07Z"
        assert got["contact_name"] == "Zoë O'Brien"
        assert got["quotable"] == "Yes"
        assert got["quote_value"] == 250.5 and got["sales_value"] == 1000
        assert got["form_name"] == "Contact, Us"
        assert got["additional_fields"] == {"Favourite Colour": 'blue, "navy"', "Name:": "Z"}
        assert got["profile_id"] == f.profile_id
        newest = (await api.ok("leads", leads_per_page=1))["leads"][0]
        assert newest["lead_id"] == lead_id


async def test_create_lead_validation(master: Api, agency: FakeWhatConverts) -> None:
    status, body = await master.post("leads", {"lead_type": "chat"})
    assert status == 400 and "profile_id" in body["error_message"]
    status, body = await master.post("leads", {"lead_type": "chat", "profile_id": "1"})
    assert (status, body) == (400, {"error_message": "Invalid profile ID."})
    status, body = await master.post("leads", {"profile_id": str(agency.profile_id)})
    assert status == 400 and "lead_type" in body["error_message"]
    for field, value in (
        ("lead_type", "Phone Call"),
        ("quote_value", "lots"),
        ("quotable", "Yes"),
        ("send_notification", "perhaps"),
        ("call_duration_seconds", "-3"),
    ):
        form = {"lead_type": "phone_call", "profile_id": str(agency.profile_id), field: value}
        status, body = await master.post("leads", form)
        assert status == 400 and field in body["error_message"], (field, body)
    pid = agency.data.profile_ids()[-1]
    ok = {"lead_type": "phone_call", "profile_id": str(pid), "call_duration_seconds": "42"}
    status, body = await master.post("leads", ok)
    assert status == 200
    lead = agency.data.lead(body["lead_id"])
    assert lead["profile_id"] == pid and lead["call_duration"] == "42 seconds"
    assert lead["recording"].startswith("https://app.whatconverts.com/recording/")


async def test_edit_lead(session: aiohttp.ClientSession) -> None:
    clock = Clock(datetime(2026, 2, 1, 12, 0, 0, tzinfo=UTC))
    async with FakeWhatConverts(leads=300, seed=9, clock=clock) as f:
        api = Api(session, f)
        lead = next(x for x in f.data.iter_leads() if x["quotable"] == "Not Set")
        lead_id = lead["lead_id"]
        before_yes = await api.all_lead_ids(quotable="yes")
        form = aiohttp.FormData(
            {
                "quotable": "yes",
                "quote_value": "99",
                "sales_value": "12.5",
                "lead_url": "https://example.com/thanks",
                "additional_fields[Stage]": "won, finally",
            },
            default_to_multipart=True,
        )
        status, body = await api.post(f"leads/{lead_id}", form)
        assert (status, body) == (200, {"lead_id": lead_id})
        got = (await api.ok(f"leads/{lead_id}"))["leads"][0]
        assert got["quotable"] == "Yes"
        assert (got["quote_value"], got["sales_value"]) == (99, 12.5)
        assert got["lead_url"] == "https://example.com/thanks"
        assert got["last_updated"] == "2026-02-01T12:00:00Z"
        assert got["date_created"] == lead["date_created"]
        assert got["additional_fields"]["Stage"] == "won, finally"
        if isinstance(lead["additional_fields"], dict):
            assert got["additional_fields"].items() >= lead["additional_fields"].items()
        assert sorted(await api.all_lead_ids(quotable="yes")) == sorted([*before_yes, lead_id])
        status, body = await api.post(f"leads/{lead_id}", {"quotable": "definitely"})
        assert status == 400 and "quotable" in body["error_message"]
        status, body = await api.post(f"leads/{lead_id}", {"sales_value": "-1"})
        assert status == 400 and "sales_value" in body["error_message"]
        status, body = await api.post("leads/123", {"quotable": "no"})
        assert (status, body) == (400, {"error_message": "Invalid lead ID."})


async def test_patched_and_inserted_leads_are_served(api: Api, fake: FakeWhatConverts) -> None:
    lead_id = fake.data.lead_ids()[3]
    fake.data.patch_lead(lead_id, {"brand_new_field": {"x": 1}, "lead_score": 77})
    got = (await api.ok(f"leads/{lead_id}"))["leads"][0]
    assert got["brand_new_field"] == {"x": 1} and got["lead_score"] == 77
    when = datetime(2019, 5, 5, 5, 5, 5, tzinfo=UTC)
    inserted = fake.data.insert_lead(when, lead_type="chat", message="hello")
    assert inserted["lead_id"] > lead_id and inserted["date_created"] == "2019-05-05T05:05:05Z"
    ids = await api.all_lead_ids(start_date="2019-05-05", end_date="2019-05-05")
    assert inserted["lead_id"] in ids
    assert fake.data.count_leads() == 1_001


# --- recordings ------------------------------------------------------------------------


async def test_recording_download(session: aiohttp.ClientSession) -> None:
    async with FakeWhatConverts(leads=200, recording_size=100_000) as f:
        api = Api(session, f)
        call = next(x for x in f.data.iter_leads() if x["lead_type"] == "Phone Call")
        form = next(x for x in f.data.iter_leads() if x["lead_type"] == "Web Form")
        status, body, resp = await api.call("GET", "recording", params={"lead_id": call["lead_id"]})
        assert status == 200 and resp.content_type == "audio/mpeg"
        assert body[:3] == b"ID3" and len(body) == 100_000
        assert body == recording_bytes(0, call["lead_id"], 100_000)
        assert body != recording_bytes(0, form["lead_id"], 100_000)
        assert (await api.get("recording", lead_id=form["lead_id"])) == (
            404,
            {"error_message": "Recording not found."},
        )
        assert (await api.get("recording", lead_id=5)) == (
            400,
            {"error_message": "Invalid lead ID."},
        )
        assert (await api.get("recording"))[0] == 400


# --- accounts, profiles, users, roles, tracking -------------------------------------------


async def test_accounts_and_profiles_crud(master: Api, agency: FakeWhatConverts) -> None:
    listing = await master.ok("accounts")
    assert list(listing) == [
        "page_number",
        "accounts_per_page",
        "total_pages",
        "total_accounts",
        "accounts",
    ]
    assert listing["total_accounts"] == 2 and listing["total_pages"] == 1
    acct = listing["accounts"][0]
    assert set(acct) == {"account_id", "account_name", "date_created", "profiles"}
    assert TS_RE.match(acct["date_created"])
    assert set(acct["profiles"][0]) == {"profile_id", "profile_name", "date_created"}
    created = [wire_ts(a["date_created"]) for a in listing["accounts"]]
    assert created == sorted(created, reverse=True)
    asc = await master.ok("accounts", order="asc")
    assert asc["accounts"] == list(reversed(listing["accounts"]))
    assert (await master.get("accounts", accounts_per_page=251))[0] == 400
    one = await master.ok("accounts", accounts_per_page=1, page_number=2)
    assert one["total_pages"] == 2 and len(one["accounts"]) == 1

    status, body = await master.post("accounts", {"account_name": "New Co, Inc."})
    assert status == 200 and body["account_name"] == "New Co, Inc."
    account_id = body["account_id"]
    got = (await master.ok(f"accounts/{account_id}"))["accounts"]
    assert got[0]["account_name"] == "New Co, Inc." and len(got[0]["profiles"]) == 1
    assert (await master.post("accounts", {"create_profile": "false"}))[0] == 400
    status, body = await master.post(f"accounts/{account_id}", {"account_name": "Renamed"})
    assert (status, body) == (200, {"account_id": account_id, "account_name": "Renamed"})

    status, body = await master.post(f"accounts/{account_id}/profiles", {"profile_name": "Two"})
    assert status == 200 and body["profile_name"] == "Two" and TS_RE.match(body["date_created"])
    profile_id = body["profile_id"]
    profiles = await master.ok(f"accounts/{account_id}/profiles")
    assert profiles["total_profiles"] == 2
    status, body = await master.post(
        f"accounts/{account_id}/profiles/{profile_id}", {"profile_name": "Deux"}
    )
    assert status == 200 and body["profile_name"] == "Deux"
    single = await master.ok(f"accounts/{account_id}/profiles/{profile_id}")
    assert single["profiles"][0]["profile_name"] == "Deux"
    status, body, _ = await master.call("DELETE", f"accounts/{account_id}/profiles/{profile_id}")
    assert (status, body) == (200, {"profile_id": profile_id})
    assert (await master.get(f"accounts/{account_id}/profiles/{profile_id}")) == (
        400,
        {"error_message": "Invalid profile ID."},
    )
    status, body, _ = await master.call("DELETE", f"accounts/{account_id}")
    assert (status, body) == (200, {"account_id": account_id})
    assert (await master.get(f"accounts/{account_id}")) == (
        400,
        {"error_message": "Invalid account ID."},
    )
    foreign = agency.data.profile_ids(agency.data.account_ids()[1])[0]
    first_account = agency.data.account_ids()[0]
    assert (await master.get(f"accounts/{first_account}/profiles/{foreign}"))[0] == 400


@pytest.mark.parametrize("agency", [Realism(undocumented_endpoints=True)], indirect=True)
async def test_users_and_roles(master: Api, agency: FakeWhatConverts) -> None:
    users = await master.ok("users")
    assert users["total_users"] == 3
    assert {u["user_type"] for u in users["users"]} == {"master_account_user"}
    assert all(
        {"role_id", "role_name", "email", "pending_activation"} <= set(u) for u in users["users"]
    )
    account_users = await master.ok("users", user_type="account")
    assert {u["user_type"] for u in account_users["users"]} == {"account_user"}
    assert (await master.get("users", users_per_page=500))[0] == 400
    roles = await master.ok("roles")
    names = [r["role_name"] for r in roles["roles"]]
    assert names == sorted(names) and roles["total_roles"] == 3
    assert {r["role_type"] for r in roles["roles"]} == {"master_account_role"}
    account_roles = await master.ok("roles", role_type="account", order="desc")
    names = [r["role_name"] for r in account_roles["roles"]]
    assert names == sorted(names, reverse=True)
    role = roles["roles"][0]
    assert (await master.ok(f"roles/{role['role_id']}"))["roles"] == [role]
    assert (await master.get("roles/1")) == (400, {"error_message": "Invalid role ID."})

    status, user = await master.post(
        "users", {"email": "new@example.com", "role_id": role["role_id"]}
    )
    assert status == 200 and user["email"] == "new@example.com"
    assert user["role_name"] == role["role_name"] and user["user_type"] == "master_account_user"
    uid = user["user_id"]
    assert (await master.ok(f"users/{uid}"))["users"] == [user]
    status, edited = await master.post(f"users/{uid}", {"email": "renamed@example.com"})
    assert status == 200 and edited["email"] == "renamed@example.com"
    status, edited = await master.post("users", {"user_id": str(uid), "user_type": "account"})
    assert status == 200 and edited["user_type"] == "account_user" and "role_id" not in edited
    assert (await master.post("users", {"email": "x@example.com", "role_id": "1"}))[0] == 400
    assert (await master.post("users", {"user_type": "account"}))[0] == 400
    status, body, _ = await master.call("DELETE", f"users/{uid}")
    assert (status, body) == (200, {"user_id": uid})
    assert (await master.get(f"users/{uid}")) == (400, {"error_message": "Invalid user ID."})


@pytest.mark.parametrize("agency", [Realism(undocumented_endpoints=True)], indirect=True)
async def test_tracking_numbers_and_forms(master: Api, agency: FakeWhatConverts) -> None:
    numbers = await master.ok("tracking/numbers")
    assert list(numbers) == [
        "page_number",
        "numbers_per_page",
        "total_pages",
        "total_numbers",
        "numbers",
    ]
    assert numbers["total_numbers"] == 12  # 4 profiles x 3 numbers
    number = numbers["numbers"][0]
    assert number["tracking_number"].startswith("+1")
    assert isinstance(number["call_recording"], bool)
    page = await master.ok("tracking/numbers", numbers_per_page=5, page_number=3)
    assert (page["total_pages"], len(page["numbers"])) == (3, 2)
    pid = agency.profile_id
    mine = await master.ok("tracking/numbers", profile_id=pid)
    assert {n["profile_id"] for n in mine["numbers"]} == {pid}
    pk = master.as_key(*agency.profile_key)
    assert (await pk.ok("tracking/numbers"))["numbers"] == mine["numbers"]
    assert (await pk.get("tracking/numbers", profile_id=pid))[0] == 400
    assert (await master.get("tracking/numbers", numbers_per_page=251))[0] == 400
    forms = await master.ok("tracking/forms", forms_per_page=3)
    assert forms["total_forms"] == 8 and forms["total_pages"] == 3
    assert {"form_id", "form_name", "attribute_type", "profile_id"} <= set(forms["forms"][0])
    form_id = forms["forms"][0]["form_id"]
    status, body, _ = await master.call("DELETE", f"tracking/forms/{form_id}")
    assert (status, body) == (200, {"form_id": form_id})
    assert (await master.ok("tracking/forms"))["total_forms"] == 7


async def test_unknown_paths_and_methods(api: Api) -> None:
    assert (await api.get("nothing-here")) == (404, {"error_message": "Not found."})
    status, body, _ = await api.call("DELETE", "leads")
    assert status == 405 and "error_message" in body
    status, body, _ = await api.call("GET", "../../etc")
    assert status == 404


# --- daily limit ---------------------------------------------------------------------


async def test_daily_limit_and_midnight_reset(session: aiohttp.ClientSession) -> None:
    clock = Clock(datetime(2025, 1, 1, 23, 59, 0, tzinfo=UTC))
    async with FakeWhatConverts(leads=50, daily_limit=3, clock=clock) as f:
        api = Api(session, f)
        f.faults.fail_next(1, 503)
        statuses = [(await api.get("leads"))[0] for _ in range(3)]
        assert statuses == [503, 200, 200]
        assert f.requests_today(f.token) == 3
        status, body, resp = await api.call("GET", "leads")
        assert (status, body) == (429, {"error_message": "Daily request limit reached."})
        assert "Retry-After" not in resp.headers
        assert f.requests_today(f.token) == 4
        mk = api.as_key(*f.master_key)
        assert (await mk.get("leads"))[0] == 200  # limits are per key
        clock.now = datetime(2025, 1, 2, 0, 0, 0, tzinfo=UTC)
        assert f.requests_today(f.token) == 0
        assert (await api.get("leads"))[0] == 200
        assert f.requests_today(f.token) == 1


def test_default_daily_limits() -> None:
    f = FakeWhatConverts(leads=1)
    assert f.daily_limit_for(f.profile_key.token) == 1_000
    assert f.daily_limit_for(f.master_key.token) == 10_000
    g = FakeWhatConverts(leads=1, daily_limit=7)
    assert g.daily_limit_for(g.profile_key.token) == g.daily_limit_for(g.master_key.token) == 7


# --- faults ---------------------------------------------------------------------------


async def test_fail_next_with_retry_after_body_and_prefix(api: Api, fake: FakeWhatConverts) -> None:
    fake.faults.fail_next(2, 503, retry_after=7)
    for _ in range(2):
        status, body, resp = await api.call("GET", "leads")
        assert (status, body) == (503, {"error_message": "Service unavailable."})
        assert resp.headers["Retry-After"] == "7"
    assert (await api.get("leads"))[0] == 200
    fake.faults.fail_next(1, 502, body="<html><body>Bad Gateway</body></html>")
    status, body, resp = await api.call("GET", "leads")
    assert status == 502 and body == b"<html><body>Bad Gateway</body></html>"
    assert resp.content_type == "text/html"
    fake.faults.fail_next(1, 500, path_prefix="recording")
    assert (await api.get("leads"))[0] == 200
    assert (await api.get("recording", lead_id=1))[0] == 500
    fake.faults.rate_limit_next(1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    status, body, resp = await api.call("GET", "leads")
    assert status == 429 and resp.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    fake.faults.rate_limit_next(1)
    status, body, resp = await api.call("GET", "leads")
    assert status == 429 and "Retry-After" not in resp.headers
    fake.faults.error_in_200_next(1, "Invalid lead ID.")
    assert (await api.get("leads")) == (200, {"error_message": "Invalid lead ID."})
    assert (await api.get("leads"))[0] == 200
    assert [r.status for r in fake.requests][-4:] == [429, 429, 200, 200]


async def test_rates_are_deterministic(session: aiohttp.ClientSession) -> None:
    async def run() -> list[int]:
        async with FakeWhatConverts(leads=10, seed=11) as f:
            api = Api(session, f)
            f.faults.fail_rate(0.3)
            f.faults.rate_limit_rate(0.2, retry_after=1)
            return [(await api.get("leads"))[0] for _ in range(40)]

    first, second = await run(), await run()
    assert first == second
    assert set(first) > {200, 429}
    assert set(first) <= {200, 429, 500, 502, 503, 504}
    async with FakeWhatConverts(leads=10) as f:
        api = Api(session, f)
        f.faults.fail_rate(1.0, statuses=[418])
        assert {(await api.get("leads"))[0] for _ in range(5)} == {418}
        f.faults.clear()
        f.faults.rate_limit_rate(1.0, retry_after=2.0)
        status, _, resp = await api.call("GET", "leads")
        assert status == 429 and resp.headers["Retry-After"] == "2"
        f.faults.clear()
        assert not f.faults.active
        assert (await api.get("leads"))[0] == 200


async def test_dropped_connections(api: Api, fake: FakeWhatConverts) -> None:
    # aiohttp's client silently repeats an idempotent request once when the server
    # disconnects before answering, so a dropped GET is seen by the server twice.
    fake.faults.drop_next(1)
    assert (await api.get("leads"))[0] == 200
    assert [r.status for r in fake.requests] == [None, 200]
    fake.faults.drop_next(2)
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.get("leads")
    fake.faults.drop_next(1, path_prefix="leads")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.post("leads", {"lead_type": "chat"})
    fake.faults.drop_rate(1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.get("leads")
    fake.faults.clear()
    assert (await api.get("leads"))[0] == 200
    statuses = [r.status for r in fake.requests]
    assert statuses == [None, 200, None, None, None, None, None, 200]
    assert fake.requests_today(fake.token) == 8  # dropped requests count too
    assert fake.data.count_leads() == 1_000  # the dropped create never happened


async def test_latency_and_stall(api: Api, fake: FakeWhatConverts) -> None:
    fake.faults.latency = 0.05
    t0 = time.perf_counter()
    await api.get("leads")
    assert time.perf_counter() - t0 >= 0.05
    fake.faults.latency = (0.0, 0.02)
    assert fake.faults.latency == (0.0, 0.02)
    await api.get("leads")
    fake.faults.clear()
    fake.faults.stall_next(1, 30)
    timeout = aiohttp.ClientTimeout(total=0.2)
    t0 = time.perf_counter()
    with pytest.raises(asyncio.TimeoutError):
        async with api.session.get(fake.url + "leads", headers=api.headers, timeout=timeout):
            pass
    assert time.perf_counter() - t0 < 5
    assert (await api.get("leads"))[0] == 200
    with pytest.raises(ValueError):
        fake.faults.latency = -1


async def test_stalled_request_does_not_delay_close(session: aiohttp.ClientSession) -> None:
    f = await FakeWhatConverts(leads=10).start()
    f.faults.stall_next(1, 60)
    task = asyncio.ensure_future(Api(session, f).get("leads"))
    for _ in range(500):
        if f.request_count:
            break
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await f.close()
    assert time.perf_counter() - t0 < 3
    with contextlib.suppress(aiohttp.ClientError):
        await task
    await f.close()  # closing twice is harmless


async def test_insert_leads_during_scan(api: Api, fake: FakeWhatConverts) -> None:
    ids = fake.data.lead_ids()
    start = wire_ts(fake.data.lead(ids[0])["date_created"])
    end = wire_ts(fake.data.lead(ids[-1])["date_created"])
    params = {
        "start_date": "2017-01-01",
        "end_date": "2017-12-31",
        "leads_per_page": 50,
    }
    window_before = fake.data.count_leads(
        datetime(2017, 1, 1, tzinfo=UTC), datetime(2017, 12, 31, 23, 59, 59, tzinfo=UTC)
    )
    fake.faults.insert_leads_during_scan(
        after_requests=1,
        count=5,
        start=datetime(2017, 3, 1, tzinfo=UTC),
        end=datetime(2017, 3, 31, tzinfo=UTC),
    )
    first = await api.ok("leads", page_number=1, **params)
    second = await api.ok("leads", page_number=2, **params)
    assert first["total_leads"] == window_before
    assert second["total_leads"] == window_before + 5
    assert fake.data.count_leads() == 1_005
    new = fake.data.lead_ids()
    added = sorted(set(new) - set(ids))
    assert len(added) == 5 and min(added) > max(ids)
    for lead_id in added:
        created = wire_ts(fake.data.lead(lead_id)["date_created"])
        assert datetime(2017, 3, 1, tzinfo=UTC) <= created <= datetime(2017, 3, 31, tzinfo=UTC)
    assert start < end
    third = await api.ok("leads", page_number=3, **params)
    assert third["total_leads"] == window_before + 5  # only once


# --- data -------------------------------------------------------------------------------


def test_same_seed_same_data_different_seed_different_data() -> None:
    a = generate(leads=2_000, seed=1)
    b = Dataset.generate(leads=2_000, seed=1)
    c = generate(leads=2_000, seed=2)
    assert a.lead_ids() == b.lead_ids()
    assert list(a.iter_leads()) == list(b.iter_leads())
    assert a.accounts == b.accounts and a.users == b.users and a.numbers == b.numbers
    assert a.lead_ids() != c.lead_ids()
    sample = a.lead_ids()[::97]
    assert [a.lead(i) for i in sample] != [c.lead(j) for j in c.lead_ids()[::97]]


def test_generated_leads_look_real() -> None:
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)
    data = generate(leads=5_000, seed=4, start=start, end=end)
    leads = list(data.iter_leads())
    assert len(leads) == 5_000
    assert {x["lead_type"] for x in leads} == set(LEAD_TYPES.values())
    created = [wire_ts(x["date_created"]) for x in leads]
    assert min(created) >= start and max(created) < end
    assert all(TS_RE.match(x["date_created"]) and TS_RE.match(x["last_updated"]) for x in leads)
    assert all(x["last_updated"] >= x["date_created"] for x in leads)
    per_week: dict[int, int] = {}
    for c in created:
        per_week[(c - start).days // 7] = per_week.get((c - start).days // 7, 0) + 1
    assert max(per_week.values()) > 2 * min(per_week.values())  # busier and quieter weeks
    assert 0 < sum(x["spam"] for x in leads) < 250
    assert 0 < sum(x["duplicate"] for x in leads) < 350
    assert any(x["notes"] is None for x in leads) and any(x["notes"] == "" for x in leads)
    assert any(x["lead_analysis"] == [] for x in leads)
    assert any(isinstance(x["lead_analysis"], dict) for x in leads)
    assert any(x["additional_fields"] == [] for x in leads)
    assert any(isinstance(x["additional_fields"], dict) for x in leads)
    values = [x["quote_value"] for x in leads]
    assert None in values and any(isinstance(v, (int, float)) and v for v in values)
    calls = [x for x in leads if x["lead_type"] == "Phone Call"]
    assert all(x["call_duration"] == f"{x['call_duration_seconds']} seconds" for x in calls)
    assert all(x["recording"].endswith("/download") for x in calls)
    transcripts = [x["call_transcription"] for x in calls if x["call_transcription"]]
    assert any("\n" in t and "," in t for t in transcripts)
    forms = [x for x in leads if x["lead_type"] == "Web Form"]
    assert all(x["form_name"] for x in forms)
    assert any(
        '"' in v and "," in v
        for x in forms
        if isinstance(x["additional_fields"], dict)
        for v in x["additional_fields"].values()
    )
    assert all("message" in x for x in leads if x["lead_type"] in ("Chat", "Text Message", "Email"))
    assert all(x["user_id"].startswith(f"{x['profile_id']}-") for x in leads)
    common = {
        "account_id", "account", "profile_id", "profile", "lead_id", "user_id", "lead_type",
        "lead_status", "lead_score", "lead_state", "date_created", "last_updated", "quotable",
        "quote_value", "sales_value", "spotted_keywords", "lead_analysis", "lead_source",
        "lead_medium", "lead_campaign", "lead_content", "lead_keyword", "lead_url",
        "landing_url", "operating_system", "browser", "device_type", "device_make",
        "ip_address", "spam", "duplicate", "notes", "contact_name", "contact_company_name",
        "contact_email_address", "contact_phone_number", "email_address", "phone_number",
        "city", "state", "zip", "country", "additional_fields",
    }  # fmt: skip
    assert all(common <= set(x) for x in leads)


def test_generation_scales() -> None:
    t0 = time.perf_counter()
    data = generate(leads=200_000, seed=0)
    elapsed = time.perf_counter() - t0
    assert len(data) == 200_000
    assert elapsed < 2.0
    mid = data.lead_ids()[100_000]
    assert data.lead(mid)["lead_id"] == mid
    assert math.isclose(
        data.count_leads(datetime(2017, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        200_000,
    )


# --- recording of requests, concurrency, lifecycle ----------------------------------------


async def test_recorded_requests(api: Api, fake: FakeWhatConverts) -> None:
    await api.get("leads", leads_per_page=5, order="asc", page_number=2)
    form = aiohttp.FormData(
        {"lead_type": "chat", "message": "hi, there"}, default_to_multipart=True
    )
    await api.post("leads", form)
    await api.post(f"leads/{fake.data.lead_ids()[0]}", {"quote_value": "10"})
    await api.call("GET", "leads", headers={})
    get, multipart, urlenc, anon = fake.requests
    assert isinstance(get, RecordedRequest)
    assert (get.method, get.path, get.status) == ("GET", "/api/v1/leads", 200)
    assert get.query == [("leads_per_page", "5"), ("order", "asc"), ("page_number", "2")]
    assert get.params["order"] == "asc"
    assert get.headers["authorization"] == api.headers["Authorization"]
    assert get.key_token == fake.token and get.form is None and get.body == b""
    assert multipart.content_type == "multipart/form-data"
    assert multipart.form == {"lead_type": "chat", "message": "hi, there"}
    assert b"hi, there" in multipart.body
    assert urlenc.content_type == "application/x-www-form-urlencoded"
    assert urlenc.form == {"quote_value": "10"} and urlenc.body == b"quote_value=10"
    assert (anon.key_token, anon.status) == (None, 401)
    assert fake.request_count == 4
    fake.reset_records()
    assert fake.requests == [] and fake.request_count == 0 and fake.max_in_flight == 0


async def test_max_in_flight(api: Api, fake: FakeWhatConverts) -> None:
    fake.faults.latency = 0.1
    await asyncio.gather(*(api.get("leads") for _ in range(6)))
    assert fake.max_in_flight == 6
    fake.reset_records()
    await api.get("leads")
    assert fake.max_in_flight == 1


async def test_start_and_close_without_context_manager(session: aiohttp.ClientSession) -> None:
    f = FakeWhatConverts(leads=5, key_type="master", port=0)
    with pytest.raises(RuntimeError):
        _ = f.url
    assert await f.start() is f
    assert re.match(r"^http://127\.0\.0\.1:\d+/api/v1/$", f.url)
    assert f.token == f.master_key.token and f.secret == f.master_key.secret
    assert (await Api(session, f).get("leads"))[0] == 200
    await f.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await Api(session, f).get("leads")


@pytest.mark.whatconverts_fake(leads=42, key_type="master")
async def test_pytest_plugin_fixture(
    whatconverts_fake: FakeWhatConverts, session: aiohttp.ClientSession
) -> None:
    body = await Api(session, whatconverts_fake).ok("leads")
    assert body["total_leads"] == 42
    assert whatconverts_fake.key_type == "master"


async def test_default_plugin_fixture(whatconverts_fake: FakeWhatConverts) -> None:
    assert len(whatconverts_fake.data) == 1_000 and whatconverts_fake.key_type == "profile"
    assert whatconverts_fake.data.seed == 0


async def test_from_config_round_trip(session: aiohttp.ClientSession) -> None:
    f = FakeWhatConverts(leads=20, seed=2, key_type="master", daily_limit=5)
    g = FakeWhatConverts.from_config(f.config)
    assert g.config == f.config
    assert (g.token, g.secret) == (f.token, f.secret)
    assert g.data.lead_ids() == f.data.lead_ids()


async def test_standalone_server(session: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whatconverts_async.testing",
        "--port",
        "0",
        "--leads",
        "150",
        "--key-type",
        "master",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout is not None
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(4)]
        url = lines[0].split()[-1]
        master = dict(part.split("=") for part in lines[3].split()[2:])
        headers = basic(master["token"], master["secret"])
        async with session.get(url + "accounts", headers=headers) as resp:
            assert resp.status == 200
        async with session.get(url + "leads", headers=headers) as resp:
            assert (await resp.json())["total_leads"] == 150
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_dates_may_be_iso_strings_and_a_bad_range_says_what_it_was() -> None:
    async with FakeWhatConverts(leads=100, start="2025-01-01", end="2025-06-01T00:00:00Z") as fake:  # type: ignore[arg-type]
        dates = [lead["date_created"] for lead in fake.data.iter_leads()]
    assert len(dates) == 100 and min(dates) >= "2025-01-01" and max(dates) < "2025-06-01"
    with pytest.raises(ValueError, match=r"end \(2026-01-01T00:00:00Z\) must be after start"):
        async with FakeWhatConverts(start=datetime(2026, 2, 1, tzinfo=timezone.utc)):
            pass
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        async with FakeWhatConverts(start="someday"):  # type: ignore[arg-type]
            pass
