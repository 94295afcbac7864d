"""API fidelity: what the documentation leaves open either works or fails loudly, typed.

Each open question is answered the other plausible way, by the simulator's realism switches
or by a small loopback server that answers as a faulty or differently-behaving API would:
filters the server ignores, lists without dates, recordings that are not audio, creates
that lose fields. Field cases 06 and 17 are tests here, each with a second example.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from whatconverts_async import (
    FilterNotAppliedError,
    InvalidParameterError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    UpdateNotAppliedError,
    WhatConverts,
)
from whatconverts_async.testing import FakeWhatConverts, Realism

from ._support import FAST_RETRIES, client_for

UTC = timezone.utc
FIELD_CASES = Path(__file__).parent.parent / "samples" / "field-cases"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- a loopback server that answers as a test scripts ---------------------------------------


class Scripted:
    """A loopback server: ``routes`` maps ``(method, path)`` to a handler; every request is
    kept in :attr:`seen` as ``(method, path, query, form, headers)``."""

    def __init__(self, routes: dict[tuple[str, str], Handler]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str, dict[str, str], dict[str, str], dict[str, str]]] = []
        self.server: TestServer | None = None

    async def __aenter__(self) -> Scripted:
        async def dispatch(request: web.Request) -> web.StreamResponse:
            form: dict[str, str] = {}
            if request.method == "POST":
                form = {k: str(v) for k, v in (await request.post()).items()}
            self.seen.append(
                (
                    request.method,
                    request.path,
                    dict(request.query),
                    form,
                    dict(request.headers),
                )
            )
            handler = self.routes.get((request.method, request.path))
            if handler is None:
                return web.json_response({"error_message": "no such route"}, status=404)
            return await handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", dispatch)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.close()

    def client(self, **kwargs: Any) -> WhatConverts:
        assert self.server is not None
        kwargs.setdefault("retry_policy", FAST_RETRIES)
        return WhatConverts(
            "tok", "s3cret-fidelity", base_url=str(self.server.make_url("/api/v1/")), **kwargs
        )


def page_of(plural: str, items: list[dict[str, Any]], request: web.Request) -> web.Response:
    """One honest page of ``items`` for the paging parameters of ``request``."""
    per_page = int(request.query.get(f"{plural}_per_page", "25"))
    page = int(request.query.get("page_number", "1"))
    chunk = items[(page - 1) * per_page : page * per_page]
    return web.json_response(
        {
            "page_number": page,
            f"{plural}_per_page": per_page,
            "total_pages": -(-len(items) // per_page) if items else 0,
            f"total_{plural}": len(items),
            plural: chunk,
        }
    )


def wire_lead(lead_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "lead_id": lead_id,
        "account_id": 70011,
        "profile_id": 80022,
        "lead_type": "Phone Call",
        "lead_status": "Unique",
        "date_created": "2025-05-28T19:19:51Z",
        "quotable": "Not Set",
        "quote_value": None,
        "sales_value": None,
        "spam": False,
        "duplicate": False,
    }
    base.update(fields)
    return base


def ignoring(leads: list[dict[str, Any]]) -> Handler:
    """A lead list that ignores every filter."""

    async def answer(request: web.Request) -> web.Response:
        return page_of("leads", leads, request)

    return answer


# --- 1. filters the server ignores or reads differently --------------------------------------


async def test_a_server_ignoring_lead_type_is_caught_on_the_first_page() -> None:
    async with (
        FakeWhatConverts(leads=300, seed=4, realism=Realism(ignore_lead_type=True)) as fake,
        client_for(fake) as wc,
    ):
        with pytest.raises(FilterNotAppliedError, match="lead_type=phone_call") as info:
            await wc.leads.list(lead_type="phone_call", leads_per_page=100)
        assert info.value.filter == "lead_type"
        with pytest.raises(FilterNotAppliedError, match="lead_type"):
            async for _ in wc.leads.iterate(start_date=date(2015, 1, 1), lead_type="chat"):
                pass


async def test_an_honest_server_passes_every_filter_check() -> None:
    async with FakeWhatConverts(leads=400, seed=4) as fake, client_for(fake) as wc:
        calls = [
            lead
            async for lead in wc.leads.iterate(
                start_date=date(2015, 1, 1), lead_type="phone_call", lead_status="repeat"
            )
        ]
        assert calls and all(lead.lead_type == "Phone Call" for lead in calls)
        spam = [lead async for lead in wc.leads.iterate(start_date=date(2015, 1, 1), spam=True)]
        assert all(lead.spam for lead in spam)
        quoted = await wc.leads.list(quote_value="has_value", leads_per_page=50)
        assert all(lead.quote_value is not None for lead in quoted.items)


@pytest.mark.parametrize(
    ("filters", "lead", "named"),
    [
        ({"lead_status": "repeat"}, wire_lead(1, lead_status="Unique"), "lead_status"),
        ({"quotable": "yes"}, wire_lead(2, quotable="No"), "quotable"),
        ({"spam": True}, wire_lead(3, spam=False), "spam"),
        ({"duplicate": True}, wire_lead(4, duplicate=False), "duplicate"),
        ({"quote_value": "has_value"}, wire_lead(5, quote_value=None), "quote_value"),
        ({"sales_value": "no_value"}, wire_lead(6, sales_value=12.5), "sales_value"),
        ({"lead_type": "web_form"}, wire_lead(7, lead_type="Phone Call"), "lead_type"),
    ],
)
async def test_every_checked_filter_names_itself_when_ignored(
    filters: dict[str, Any], lead: dict[str, Any], named: str
) -> None:
    async with (
        Scripted({("GET", "/api/v1/leads"): ignoring([lead])}) as server,
        server.client() as wc,
    ):
        with pytest.raises(FilterNotAppliedError, match=named) as info:
            await wc.leads.list(**filters)
        assert info.value.filter == named and info.value.lead_id == lead["lead_id"]


async def test_account_and_profile_scopes_are_checked_for_a_master_key() -> None:
    leads = [wire_lead(1, account_id=70011, profile_id=80022)]
    async with (
        Scripted({("GET", "/api/v1/leads"): ignoring(leads)}) as server,
        server.client(key_type="master") as wc,
    ):
        with pytest.raises(FilterNotAppliedError, match="profile_id=80099"):
            await wc.leads.list(profile_id=80099)
        with pytest.raises(FilterNotAppliedError, match="account_id"):
            async for _ in wc.leads.iterate(start_date=date(2025, 1, 1), account_ids=[5]):
                pass
        # The scope asked for is what came back: no error.
        page = await wc.leads.list(profile_id=80022, account_id=70011)
        assert [lead.lead_id for lead in page.items] == [1]


async def test_an_unset_amount_written_as_zero_passes_no_value() -> None:
    leads = [wire_lead(1, quote_value=0), wire_lead(2, quote_value=None)]
    async with (
        Scripted({("GET", "/api/v1/leads"): ignoring(leads)}) as server,
        server.client() as wc,
    ):
        page = await wc.leads.list(quote_value="no_value")
        assert len(page.items) == 2


@pytest.mark.parametrize("name", ["spam", "duplicate"])
async def test_spam_and_duplicate_false_are_refused_before_the_wire(name: str) -> None:
    async with FakeWhatConverts(leads=20, seed=4) as fake, client_for(fake) as wc:
        with pytest.raises(InvalidParameterError, match=f"{name} can only be True") as info:
            await wc.leads.list(**{name: False})
        assert info.value.parameter == name
        with pytest.raises(InvalidParameterError):
            wc.leads.iterate(start_date=date(2020, 1, 1), **{name: False})
        assert fake.request_count == 0


async def test_case_17_only_the_e164_phone_number_goes_on_the_wire() -> None:
    case = json.loads((FIELD_CASES / "case-17.json").read_text())
    on_server = case["lead_on_server"]
    lead = {**wire_lead(on_server["lead_id"]), **on_server}
    async with (
        Scripted({("GET", "/api/v1/leads"): ignoring([lead])}) as server,
        server.client() as wc,
    ):
        for tried in case["filters_tried"]:
            if tried == on_server["phone_number"]:
                page = await wc.leads.list(phone_number=tried)
                assert [x.lead_id for x in page.items] == [on_server["lead_id"]]
                continue
            with pytest.raises(InvalidParameterError, match=r"E\.164") as info:
                await wc.leads.list(phone_number=tried)
            assert info.value.parameter == "phone_number"
            assert "+17045550100" in str(info.value)
        assert [q["phone_number"] for _, _, q, _, _ in server.seen] == ["+17045550100"]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("020 7946 0000", "+<country code>2079460000"),
        ("+44 20 7946 0000", "+442079460000"),
        ("0044-20-7946-0000", "+<country code>442079460000"),
        ("", "must not be empty"),
    ],
)
def test_a_second_phone_example_of_another_country(
    given: str, shown: str, wc_offline: WhatConverts
) -> None:
    with pytest.raises(InvalidParameterError, match="phone_number") as info:
        wc_offline.leads.iterate(start_date=date(2020, 1, 1), phone_number=given)
    assert shown in str(info.value)


@pytest.fixture
def wc_offline() -> WhatConverts:
    """A client pointed at nothing: for checks that must fail before any request."""
    return WhatConverts("tok", "s3cret-fidelity", base_url="http://127.0.0.1:9/api/v1/")


async def test_an_e164_filter_finds_the_created_lead_on_the_simulator() -> None:
    async with FakeWhatConverts(leads=50, seed=4) as fake, client_for(fake) as wc:
        lead_id = await wc.leads.create(lead_type="phone_call", phone_number="+17045550100")
        page = await wc.leads.list(phone_number="+17045550100")
        assert lead_id in [lead.lead_id for lead in page.items]


# --- 2. lists without dates ------------------------------------------------------------------


@pytest.mark.parametrize("window", ["all", "today"])
async def test_lists_send_explicit_dates_whatever_the_default_window(window: str) -> None:
    realism = Realism(list_default_window=window)  # type: ignore[arg-type]
    async with (
        FakeWhatConverts(
            leads=50, seed=6, key_type="master", accounts=3, profiles_per_account=3, realism=realism
        ) as fake,
        client_for(fake) as wc,
    ):
        accounts = [a async for a in wc.accounts.iterate()]
        assert {a.account_id for a in accounts} == set(fake.data.account_ids())
        account_id = accounts[0].account_id
        profiles = [p async for p in wc.profiles.iterate(account_id)]
        assert {p.profile_id for p in profiles} == set(fake.data.profile_ids(account_id))
        kinds: dict[str, list[int]] = {}
        for kind in ("master_account", "account"):
            kinds[kind] = [u.user_id async for u in wc.users.iterate(user_type=kind)]
        everyone = {uid for uid, u in fake.data.users.items()}
        assert set(kinds["master_account"]) | set(kinds["account"]) == everyone
        listed = [r for r in fake.requests if r.path.endswith(("accounts", "profiles", "users"))]
        assert listed and all("start_date" in r.params and "end_date" in r.params for r in listed)


async def test_a_refused_range_is_read_again_in_windows_of_400_days() -> None:
    async with (
        FakeWhatConverts(
            leads=10, seed=6, key_type="master", accounts=4, profiles_per_account=1
        ) as fake,
        client_for(fake) as wc,
    ):
        accounts = [a async for a in wc.accounts.iterate(start_date=date(2010, 1, 1))]
        assert {a.account_id for a in accounts} == set(fake.data.account_ids())
        statuses = [r.status for r in fake.requests]
        # The whole range was refused once (the simulator allows 400 days), then windows.
        assert statuses[0] == 400 and all(s == 200 for s in statuses[1:])
        spans = [
            datetime.fromisoformat(r.params["end_date"].replace("Z", "+00:00"))
            - datetime.fromisoformat(r.params["start_date"].replace("Z", "+00:00"))
            for r in fake.requests[1:]
        ]
        assert all(span < timedelta(days=400) for span in spans)


async def test_an_account_outside_the_dates_sent_fails_loudly() -> None:
    account = {"account_id": 1, "account_name": "Old", "date_created": "2001-01-01T00:00:00Z"}

    async def answer(request: web.Request) -> web.Response:
        return page_of("accounts", [account], request)

    async with (
        Scripted({("GET", "/api/v1/accounts"): answer}) as server,
        server.client(key_type="master") as wc,
    ):
        with pytest.raises(PaginationError, match="outside the dates asked for"):
            async for _ in wc.accounts.iterate(start_date=date(2024, 1, 1)):
                pass
        # A second kind: users whose server ignores the dates too.
        user = {
            "user_id": 9,
            "user_type": "account_user",
            "date_created": "2030-01-01T00:00:00Z",
        }

        async def users(request: web.Request) -> web.Response:
            return page_of("users", [user], request)

        server.routes[("GET", "/api/v1/users")] = users
        with pytest.raises(PaginationError, match="user 9"):
            async for _ in wc.users.iterate(user_type="account"):
                pass


# --- 3. recordings ---------------------------------------------------------------------------


def first_call(fake: FakeWhatConverts) -> int:
    return int(
        next(lead for lead in fake.data.iter_leads() if lead["lead_type"] == "Phone Call")[
            "lead_id"
        ]
    )


async def test_a_login_page_is_not_a_recording_and_nothing_is_saved(tmp_path: Path) -> None:
    async with (
        FakeWhatConverts(leads=50, seed=4, realism=Realism(recording="html")) as fake,
        client_for(fake) as wc,
    ):
        lead_id = first_call(fake)
        with pytest.raises(MalformedResponseError, match="HTML page") as info:
            await wc.recordings.get(lead_id)
        assert "nothing was saved" in str(info.value)
        with pytest.raises(MalformedResponseError, match="expected a recording"):
            await wc.recordings.download(lead_id, tmp_path / "call.mp3")
        assert list(tmp_path.iterdir()) == []
        accepts = {r.headers.get("Accept") for r in fake.requests}
        assert accepts == {"audio/mpeg, audio/*;q=0.9"}


async def test_a_redirect_to_storage_is_named_and_not_followed(tmp_path: Path) -> None:
    async with (
        FakeWhatConverts(leads=50, seed=4, realism=Realism(recording="redirect")) as fake,
        client_for(fake) as wc,
    ):
        lead_id = first_call(fake)
        with pytest.raises(MalformedResponseError, match="another host") as info:
            await wc.recordings.download(lead_id, tmp_path / "call.mp3")
        text = f"{info.value} {info.value!r} {vars(info.value)}"
        assert "not followed" in text and "Authorization" in text
        assert "Signature" not in text and "check base_url" not in text
        assert list(tmp_path.iterdir()) == []
        assert wc.quota.used == fake.request_count == 1
        assert fake.outside_requests() == 0


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"error_message": "Recording not found."}'),
        ("text/html", b'{"error_message": "Lead not found"}'),
    ],
)
async def test_a_200_not_found_is_not_found(content_type: str, body: bytes, tmp_path: Path) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    async with Scripted({("GET", "/api/v1/recording"): answer}) as server, server.client() as wc:
        with pytest.raises(NotFoundError, match="not found"):
            await wc.recordings.get(5)
        with pytest.raises(NotFoundError):
            await wc.recordings.download(5, tmp_path / "x.mp3")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content_type", "body", "ok"),
    [
        ("application/octet-stream", b"ID3\x04\x00" + b"\x00" * 100, True),  # magic bytes
        ("application/octet-stream", b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 50, True),
        ("audio/wav", b"\x00" * 64, True),  # the content type says audio
        ("application/octet-stream", b"\x00" * 64, False),
        ("text/plain", b"Please log in", False),
    ],
)
async def test_audio_is_known_by_its_type_or_its_first_bytes(
    content_type: str, body: bytes, ok: bool
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    async with Scripted({("GET", "/api/v1/recording"): answer}) as server, server.client() as wc:
        if ok:
            assert await wc.recordings.get(5) == body
        else:
            with pytest.raises(MalformedResponseError, match="not audio"):
                await wc.recordings.get(5)


async def test_a_leads_recording_links() -> None:
    async with FakeWhatConverts(leads=50, seed=4) as fake, client_for(fake) as wc:
        lead_id = first_call(fake)
        links = await wc.recordings.links(lead_id)
        assert links.lead_id == lead_id
        assert links.recording and links.recording.endswith("/download")
        assert links.play_recording and links.play_recording.endswith("/play")
        lead = await wc.leads.get(lead_id)
        assert await wc.recordings.links(lead) == links
        form = next(x for x in fake.data.iter_leads() if x["lead_type"] == "Web Form")
        empty = await wc.recordings.links(int(form["lead_id"]))
        assert (empty.recording, empty.voicemail) == (None, None)


# --- 4. creates that lose fields -------------------------------------------------------------


def case_06() -> dict[str, Any]:
    kwargs: dict[str, Any] = json.loads((FIELD_CASES / "case-06.json").read_text())
    return kwargs


async def test_case_06_every_field_goes_on_the_wire_and_the_id_comes_back() -> None:
    kwargs = case_06()
    async with FakeWhatConverts(leads=10, seed=4, key_type="master") as fake:
        kwargs["profile_id"] = fake.data.profile_ids()[0]
        async with client_for(fake) as wc:
            lead_id = await wc.leads.create(**kwargs)
            form = fake.requests[-1].form
            assert form is not None
            for name, value in kwargs.items():
                if name == "additional_fields":
                    for key, item in value.items():
                        assert form[f"additional_fields[{key}]"] == item
                elif name == "send_notification":
                    assert form[name] == "false"
                else:
                    assert form[name] == str(value), name
            lead = await wc.leads.get(lead_id)
            assert lead.gclid == kwargs["gclid"] and lead.msclkid == kwargs["msclkid"]
            assert lead.date_created == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
            assert lead.additional_fields == kwargs["additional_fields"]


async def test_mapped_fields_and_a_read_back_after_create() -> None:
    async with FakeWhatConverts(leads=10, seed=4) as fake, client_for(fake) as wc:
        lead_id = await wc.leads.create(
            lead_type="web_form",
            contact_name="Jane Roe",
            email_address="jane@example.com",
            date_created=datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC),
            mapped_fields={"Company": "Acme", "Seats": 12},
            additional_fields={"Budget": Decimal("5000.00")},
            verify=True,
        )
        form = fake.requests[-2].form
        assert form is not None
        assert form["mapped_fields[Company]"] == "Acme" and form["mapped_fields[Seats]"] == "12"
        assert form["date_created"] == "2024-02-03T04:05:06Z"
        assert fake.requests[-1].path == f"/api/v1/leads/{lead_id}"


async def test_a_create_that_loses_mapped_fields_fails_the_read_back() -> None:
    stored: dict[str, Any] = {}

    async def create(request: web.Request) -> web.Response:
        stored.update(await request.post())
        return web.json_response({"lead_id": 77})

    async def get(request: web.Request) -> web.Response:
        lead = wire_lead(77, lead_type="Web Form", mapped_fields=[], gclid=stored.get("gclid"))
        return web.json_response({"leads": [lead]})

    routes = {("POST", "/api/v1/leads"): create, ("GET", "/api/v1/leads/77"): get}
    async with Scripted(routes) as server, server.client() as wc:
        with pytest.raises(UpdateNotAppliedError, match=r"created .*mapped_fields\[Plan\]"):
            await wc.leads.create(
                lead_type="web_form", gclid="abc", mapped_fields={"Plan": "Pro"}, verify=True
            )
        # Without verify the same create returns the id.
        assert await wc.leads.create(lead_type="web_form", mapped_fields={"Plan": "Pro"}) == 77


@pytest.mark.parametrize(
    "body",
    [
        b'{"ok": true}',  # no lead_id
        b'{"lead_id": "seventy"}',  # not an integer
    ],
)
async def test_an_unreadable_create_answer_says_the_lead_may_exist(body: bytes) -> None:
    async def create(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with Scripted({("POST", "/api/v1/leads"): create}) as server, server.client() as wc:
        with pytest.raises(MalformedResponseError, match="may have been created") as info:
            await wc.leads.create(lead_type="web_form")
        assert info.value.method == "POST" and "POST" in str(info.value)
        assert info.value.url.endswith("/api/v1/leads")
        assert len(server.seen) == 1  # never repeated


async def test_an_unreadable_account_create_reports_post_too() -> None:
    async def create(request: web.Request) -> web.Response:
        return web.json_response({"account_name": "x", "account_id": "nope"})

    async with (
        Scripted({("POST", "/api/v1/accounts"): create}) as server,
        server.client(key_type="master") as wc,
    ):
        with pytest.raises(MalformedResponseError, match=r"POST .*may have been created"):
            await wc.accounts.create(account_name="Acme")
