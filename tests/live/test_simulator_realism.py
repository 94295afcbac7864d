"""The simulator's realism switches, one test per switch position, over real HTTP."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from whatconverts_async.testing import FakeWhatConverts, Realism, SimulatorConfig, recording_bytes
from whatconverts_async.testing.__main__ import main, parse_realism

UTC = timezone.utc
SPENT = {"error_message": "Daily request limit reached."}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def auth(fake: FakeWhatConverts, master: bool = False) -> dict[str, str]:
    key = fake.master_key if master else fake.key
    raw = base64.b64encode(f"{key.token}:{key.secret}".encode()).decode()
    return {"Authorization": "Basic " + raw}


async def call(
    session: aiohttp.ClientSession,
    fake: FakeWhatConverts,
    method: str,
    path: str,
    *,
    master: bool = False,
    **kwargs: Any,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    kwargs.setdefault("headers", auth(fake, master))
    async with session.request(method, fake.url + path, **kwargs) as resp:
        raw = await resp.read()
        body: Any = await resp.json() if resp.content_type == "application/json" else raw
        return resp.status, body, resp


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def sim(realism: Realism | None = None, **kw: Any) -> FakeWhatConverts:
    kw.setdefault("leads", 2_000)
    kw.setdefault("seed", 11)
    return FakeWhatConverts(realism=realism, **kw)


# --- the Realism object ----------------------------------------------------------------


def test_defaults_are_what_we_believe_the_api_does() -> None:
    r = Realism()
    assert (r.strict, r.spent_key_status, r.hide_spam_by_default) == (False, 429, False)
    assert (r.list_default_window, r.recording, r.update_webhooks) == ("all", "stream", "full")
    assert (r.endpoint_answer, r.undocumented_endpoints) == ("summary", False)
    assert (r.ignore_lead_type, r.spam_any_value_is_only_spam) == (False, False)
    assert FakeWhatConverts(leads=1).realism == r


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"spent_key_status": 401}, ValueError),
        ({"recording": "mp3"}, ValueError),
        ({"list_default_window": "week"}, ValueError),
        ({"update_webhooks": "none"}, ValueError),
        ({"endpoint_answer": "xml"}, ValueError),
        ({"strict": 1}, TypeError),
    ],
)
def test_bad_switch_values_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Realism(**kwargs)


def test_realism_must_be_a_realism_object() -> None:
    with pytest.raises(TypeError, match="realism"):
        FakeWhatConverts(leads=1, realism={"strict": True})  # type: ignore[arg-type]


async def test_realism_survives_from_config(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(leads=10, realism=Realism(strict=True))
    async with FakeWhatConverts.from_config(config) as fake:
        assert fake.realism.strict
        assert (await call(session, fake, "GET", "leads", params={"nope": "1"}))[0] == 400
    assert attrs.evolve(config, leads=5).realism == Realism(strict=True)


def test_command_line_realism_switches() -> None:
    assert parse_realism([]) == Realism()
    assert parse_realism(
        ["strict=true", "spent-key-status=403", "recording=html", "hide_spam_by_default=False"]
    ) == Realism(strict=True, spent_key_status=403, recording="html")
    for bad, words in [
        (["bogus=1"], "NAME one of strict"),
        (["strict"], "NAME=VALUE"),
        (["strict=maybe"], "true or false"),
        (["spent_key_status=soon"], "a number"),
        (["spent_key_status=500"], "spent_key_status"),
        (["recording=mp3"], "'recording' must be in"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_realism(bad)


def test_command_line_refuses_a_bad_switch_before_serving(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", "--realism", "recording=mp3"])
    assert exit_info.value.code == 2
    assert "--realism: 'recording' must be in" in capsys.readouterr().err


# --- unknown parameters ------------------------------------------------------------------


async def test_unknown_parameters_are_ignored_by_default(session: aiohttp.ClientSession) -> None:
    async with sim() as fake:
        status, body, _ = await call(
            session, fake, "GET", "leads", params={"leads_per_pag": "5", "lead_typ": "chat"}
        )
        assert status == 200 and body["leads_per_page"] == 25  # the misspelt size is ignored
        assert {x["lead_type"] for x in body["leads"]} != {"Chat"}
        status, body, _ = await call(
            session, fake, "POST", "leads", data={"lead_type": "chat", "contact_nam": "X"}
        )
        assert status == 200 and "lead_id" in body


async def test_strict_rejects_unknown_parameters_naming_them(
    session: aiohttp.ClientSession,
) -> None:
    async with sim(Realism(strict=True), key_type="master") as fake:
        status, body, _ = await call(session, fake, "GET", "leads", params={"leads_per_pag": "5"})
        assert (status, body) == (400, {"error_message": "Unknown parameter: leads_per_pag."})
        status, body, _ = await call(
            session,
            fake,
            "POST",
            "leads",
            data={"lead_type": "chat", "profile_id": str(fake.profile_id), "contact_nam": "X"},
        )
        assert (status, body) == (400, {"error_message": "Unknown parameter: contact_nam."})
        # Everything documented still passes, bracketed additional fields included.
        status, body, _ = await call(
            session,
            fake,
            "POST",
            "leads",
            data={
                "lead_type": "chat",
                "profile_id": str(fake.profile_id),
                "contact_name": "X",
                "additional_fields[Plan]": "Pro",
            },
        )
        assert status == 200, body
        params = {"leads_per_page": "5", "spam": "true", "order": "asc", "lead_type": "chat"}
        assert (await call(session, fake, "GET", "leads", params=params))[0] == 200
        assert (await call(session, fake, "GET", "accounts", params={"order": "asc"}))[0] == 200
        status, body, _ = await call(session, fake, "GET", "accounts", params={"sort": "asc"})
        assert (status, body) == (400, {"error_message": "Unknown parameter: sort."})


@pytest.mark.parametrize("strict", [False, True])
async def test_creates_take_the_fields_integrations_send(
    session: aiohttp.ClientSession, strict: bool
) -> None:
    async with sim(Realism(strict=strict)) as fake:
        form = {
            "lead_type": "web_form",
            "gclid": "EAIaIQobChMI-EXAMPLE",
            "msclkid": "0" * 32,
            "date_created": "2025-03-01T09:30:00Z",
            "mapped_fields[Email]": "person@example.com",
            "additional_fields[When]": "ASAP",
        }
        status, body, _ = await call(session, fake, "POST", "leads", data=form)
        assert status == 200, body
        lead = fake.data.wire_lead(body["lead_id"])
        assert (lead["gclid"], lead["msclkid"]) == ("EAIaIQobChMI-EXAMPLE", "0" * 32)
        assert lead["date_created"] == "2025-03-01T09:30:00Z"
        assert lead["mapped_fields"] == {"Email": "person@example.com"}
        assert lead["additional_fields"] == {"When": "ASAP"}
        json_form = {"lead_type": "chat", "mapped_fields": {"Name": "Jo"}}
        status, body, _ = await call(session, fake, "POST", "leads", json=json_form)
        assert status == 200 and fake.data.wire_lead(body["lead_id"])["mapped_fields"] == {
            "Name": "Jo"
        }
        bad = {"lead_type": "chat", "date_created": "01/03/2025"}
        status, body, _ = await call(session, fake, "POST", "leads", data=bad)
        assert status == 400 and "date_created" in body["error_message"]


# --- a spent key ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 403, 200])
async def test_spent_key_answer(session: aiohttp.ClientSession, status: int) -> None:
    async with sim(Realism(spent_key_status=status), daily_limit=2) as fake:  # type: ignore[arg-type]
        assert [(await call(session, fake, "GET", "leads"))[0] for _ in range(2)] == [200, 200]
        got, body, resp = await call(session, fake, "GET", "leads")
        assert (got, body) == (status, SPENT)
        assert "Retry-After" not in resp.headers


# --- spam hidden or not --------------------------------------------------------------


async def test_spam_is_listed_without_a_spam_filter_by_default(
    session: aiohttp.ClientSession,
) -> None:
    async with sim() as fake:
        _, body, _ = await call(session, fake, "GET", "leads", params={"leads_per_page": "2500"})
        assert any(x["spam"] for x in body["leads"]) and not all(x["spam"] for x in body["leads"])


async def test_spam_hidden_by_default_when_switched(session: aiohttp.ClientSession) -> None:
    async with sim(Realism(hide_spam_by_default=True)) as fake:
        _, body, _ = await call(session, fake, "GET", "leads", params={"leads_per_page": "2500"})
        assert body["leads"] and not any(x["spam"] for x in body["leads"])
        everything = len(fake.data)
        spam = sum(1 for lid in fake.data.lead_ids() if fake.data.lead(lid)["spam"])
        assert body["total_leads"] == everything - spam > 0
        _, only, _ = await call(session, fake, "GET", "leads", params={"spam": "true"})
        assert only["total_leads"] == spam and all(x["spam"] for x in only["leads"])


# --- filters a faulty server reads wrongly ---------------------------------------------


async def test_lead_type_is_applied_by_default(session: aiohttp.ClientSession) -> None:
    async with sim() as fake:
        params = {"lead_type": "phone_call", "leads_per_page": "2500"}
        _, body, _ = await call(session, fake, "GET", "leads", params=params)
        assert {x["lead_type"] for x in body["leads"]} == {"Phone Call"}


async def test_a_server_that_ignores_lead_type(session: aiohttp.ClientSession) -> None:
    async with sim(Realism(ignore_lead_type=True)) as fake:
        params = {"lead_type": "phone_call", "leads_per_page": "2500"}
        _, body, _ = await call(session, fake, "GET", "leads", params=params)
        assert len({x["lead_type"] for x in body["leads"]}) > 1
        assert body["total_leads"] == len(fake.data)
        bad = await call(session, fake, "GET", "leads", params={"lead_type": "fax"})
        assert bad[0] == 400  # still validated, only not applied


async def test_spam_false_lists_every_lead_by_default(session: aiohttp.ClientSession) -> None:
    async with sim() as fake:
        _, body, _ = await call(session, fake, "GET", "leads", params={"spam": "false"})
        assert body["total_leads"] == len(fake.data)


async def test_a_server_that_reads_any_spam_value_as_only_spam(
    session: aiohttp.ClientSession,
) -> None:
    async with sim(Realism(spam_any_value_is_only_spam=True)) as fake:
        params = {"spam": "false", "leads_per_page": "2500"}
        _, body, _ = await call(session, fake, "GET", "leads", params=params)
        assert body["leads"] and all(x["spam"] for x in body["leads"])
        _, plain, _ = await call(session, fake, "GET", "leads")
        assert plain["total_leads"] == len(fake.data)  # no spam= sent: every lead


# --- lists without dates -----------------------------------------------------------


def _list_sim(window: str, clock: Clock) -> FakeWhatConverts:
    return sim(
        Realism(list_default_window=window),  # type: ignore[arg-type]
        key_type="master",
        accounts=3,
        clock=clock,
    )


async def test_lists_without_dates_cover_everything_by_default(
    session: aiohttp.ClientSession,
) -> None:
    clock = Clock(datetime(2026, 5, 1, 12, tzinfo=UTC))
    async with _list_sim("all", clock) as fake:
        _, body, _ = await call(session, fake, "GET", "accounts")
        assert body["total_accounts"] == 3
        users = await call(session, fake, "GET", "users")
        assert users[1]["total_users"] == 3


async def test_lists_without_dates_cover_today_only_when_switched(
    session: aiohttp.ClientSession,
) -> None:
    clock = Clock(datetime(2026, 5, 1, 12, tzinfo=UTC))
    async with _list_sim("today", clock) as fake:
        assert (await call(session, fake, "GET", "accounts"))[1]["total_accounts"] == 0
        assert (await call(session, fake, "GET", "users"))[1]["total_users"] == 0
        aid = next(iter(fake.data.account_ids()))
        profiles = await call(session, fake, "GET", f"accounts/{aid}/profiles")
        assert profiles[1]["total_profiles"] == 0
        created = await call(session, fake, "POST", "accounts", data={"account_name": "New"})
        assert created[0] == 200
        _, body, _ = await call(session, fake, "GET", "accounts")
        assert [a["account_name"] for a in body["accounts"]] == ["New"]
        # Explicit bounds still reach every account.
        params = {"start_date": "2016-01-01", "end_date": "2016-12-31"}
        assert (await call(session, fake, "GET", "accounts", params=params))[0] == 200
        params = {"start_date": "2025-06-01", "end_date": "2026-05-01"}
        _, bounded, _ = await call(session, fake, "GET", "accounts", params=params)
        assert bounded["total_accounts"] == 1
        # The next day, today's account has dropped out of the default window.
        clock.now = datetime(2026, 5, 2, 0, 0, 1, tzinfo=UTC)
        assert (await call(session, fake, "GET", "accounts"))[1]["total_accounts"] == 0


# --- recordings ---------------------------------------------------------------------


def _phone_lead(fake: FakeWhatConverts) -> int:
    return next(i for i in fake.data.lead_ids() if fake.data.lead_type_code(i) == "phone_call")


async def test_recording_streams_audio_by_default(session: aiohttp.ClientSession) -> None:
    async with sim(recording_size=40_000) as fake:
        lead_id = _phone_lead(fake)
        status, body, resp = await call(
            session, fake, "GET", "recording", params={"lead_id": lead_id}
        )
        assert (status, resp.content_type) == (200, "audio/mpeg")
        assert body == recording_bytes(fake.config.seed, lead_id, 40_000)


async def test_recording_redirects_to_signed_storage_on_another_host(
    session: aiohttp.ClientSession,
) -> None:
    async with sim(Realism(recording="redirect"), recording_size=5_000) as fake:
        lead_id = _phone_lead(fake)
        status, _, resp = await call(
            session,
            fake,
            "GET",
            "recording",
            params={"lead_id": lead_id},
            allow_redirects=False,
        )
        assert status == 302
        location = resp.headers["Location"]
        assert location == fake.storage_url(lead_id)
        parts = urlsplit(location)
        assert parts.hostname == "localhost" != urlsplit(fake.url).hostname
        assert "Signature=" in parts.query
        # The storage needs no API key (a client must not send it there) ...
        async with session.get(location) as audio:
            assert audio.status == 200 and audio.content_type == "audio/mpeg"
            assert await audio.read() == recording_bytes(fake.config.seed, lead_id, 5_000)
        # ... only the signature, and it counts against no daily limit.
        async with session.get(location.replace("Signature=", "Signature=0")) as bad:
            assert bad.status == 403
        assert fake.requests_today(fake.token) == 1
        assert fake.requests[-1].key_token is None


async def test_recording_answers_an_html_login_page_when_switched(
    session: aiohttp.ClientSession,
) -> None:
    async with sim(Realism(recording="html")) as fake:
        lead_id = _phone_lead(fake)
        status, body, resp = await call(
            session, fake, "GET", "recording", params={"lead_id": lead_id}
        )
        assert (status, resp.content_type) == (200, "text/html")
        assert body.startswith(b"<!DOCTYPE html>") and b"Log In" in body


# --- update webhooks -----------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/hook"))
    finally:
        await server.close()


async def _edit_and_deliver(
    session: aiohttp.ClientSession, fake: FakeWhatConverts, url: str
) -> dict[str, Any]:
    fake.webhooks.subscribe(url, triggers=("update",))
    lead_id = fake.data.lead_ids()[0]
    status, _, _ = await call(
        session,
        fake,
        "POST",
        f"leads/{lead_id}",
        data={"sales_value": "12.5", "additional_fields[Plan]": "Pro"},
    )
    assert status == 200
    await fake.webhooks.drain()
    (delivery,) = fake.webhooks.deliveries
    assert delivery.ok and delivery.lead_id == lead_id
    payload: dict[str, Any] = delivery.payload
    assert payload["trigger"] == "update" and payload["lead_id"] == lead_id
    assert payload["sales_value"] == 12.5 and payload["additional_fields"]["Plan"] == "Pro"
    return payload


async def test_update_webhooks_carry_the_whole_lead_by_default(
    session: aiohttp.ClientSession, receiver: str
) -> None:
    async with sim() as fake:
        payload = await _edit_and_deliver(session, fake, receiver)
        lead = fake.data.wire_lead(payload["lead_id"])
        assert payload == {"trigger": "update", **lead}


async def test_partial_update_webhooks_carry_only_the_changes(
    session: aiohttp.ClientSession, receiver: str
) -> None:
    async with sim(Realism(update_webhooks="partial")) as fake:
        payload = await _edit_and_deliver(session, fake, receiver)
        assert set(payload) == {
            "trigger",
            "lead_id",
            "sales_value",
            "additional_fields",
            "last_updated",
        }


# --- what an Endpoint answers --------------------------------------------------------

CSV = b"Profile ID,Date,Order ID,Tax,Shipping\n{pid},2026-03-10,A-7,1.25,0.50\n"


@pytest.mark.parametrize(
    ("answer", "content_type", "body"),
    [
        ("summary", "application/json", None),
        ("empty", "application/octet-stream", b""),
        ("text", "text/plain", b"OK"),
    ],
)
async def test_endpoint_answer(
    session: aiohttp.ClientSession, answer: str, content_type: str, body: bytes | None
) -> None:
    async with sim(Realism(endpoint_answer=answer)) as fake:  # type: ignore[arg-type]
        url = fake.endpoint_url()
        data = CSV.replace(b"{pid}", str(fake.profile_id).encode())
        async with session.post(url, data=data, headers={"Content-Type": "text/csv"}) as resp:
            raw = await resp.read()
            assert resp.status == 200
            assert resp.content_type == content_type
        (lead_id,) = fake.endpoints[url.rsplit("/", 1)[1]].lead_ids
        if body is None:
            assert await resp.json() == {
                "rows": 1,
                "created": [lead_id],
                "updated": [],
                "ignored": 0,
            }
        else:
            assert raw == body
        # A refused batch is refused the same way whatever the switch says.
        async with session.post(
            url, data=b"Date\n2026-03-10\n", headers={"Content-Type": "text/csv"}
        ) as bad:
            assert bad.status == 400 and "error_message" in await bad.json()


# --- endpoints no source documents -----------------------------------------------------


@pytest.mark.parametrize("on", [False, True])
async def test_undocumented_deletes(session: aiohttp.ClientSession, on: bool) -> None:
    async with sim(Realism(undocumented_endpoints=on), key_type="master") as fake:
        uid = next(iter(fake.data.users))
        form_id = fake.data.forms[0]["form_id"]
        user = await call(session, fake, "DELETE", f"users/{uid}")
        form = await call(session, fake, "DELETE", f"tracking/forms/{form_id}")
        if on:
            assert (user[0], user[1]) == (200, {"user_id": uid})
            assert (form[0], form[1]) == (200, {"form_id": form_id})
            assert uid not in fake.data.users
        else:
            assert (user[0], user[1]) == (405, {"error_message": "Method not allowed."})
            assert (form[0], form[1]) == (404, {"error_message": "Not found."})
            assert uid in fake.data.users and fake.data.forms[0]["form_id"] == form_id


# --- documented transaction fields ---------------------------------------------------


def test_transactions_carry_the_documented_fields() -> None:
    fake = FakeWhatConverts(leads=3_000, seed=2)
    ids = [i for i in fake.data.lead_ids() if fake.data.lead_type_code(i) == "transaction"]
    assert ids
    for lead_id in ids:
        lead = fake.data.wire_lead(lead_id)
        assert not {"order_id", "tax", "shipping"} & set(lead)
        assert isinstance(lead["transaction_id"], str) and lead["transaction_id"]
        assert isinstance(lead["transaction_tax"], (int, float)) and lead["transaction_tax"] >= 0
        assert isinstance(lead["transaction_shipping"], (int, float))
        assert lead["field_mappings"]["Contact Person"] == lead["contact_name"]


async def test_endpoint_transaction_columns_become_documented_fields(
    session: aiohttp.ClientSession,
) -> None:
    async with sim() as fake:
        url = fake.endpoint_url(default_lead_type="transaction")
        data = CSV.replace(b"{pid}", str(fake.profile_id).encode())
        async with session.post(url, data=data, headers={"Content-Type": "text/csv"}) as resp:
            created = (await resp.json())["created"]
        lead = fake.data.wire_lead(created[0])
        assert lead["lead_type"] == "Transaction"
        assert (lead["transaction_id"], lead["transaction_tax"], lead["transaction_shipping"]) == (
            "A-7",
            1.25,
            0.5,
        )


# --- the daily-limit hook: an outside user on the same key ------------------------------


async def test_spend_daily_limit_now_and_midnight_reset(session: aiohttp.ClientSession) -> None:
    clock = Clock(datetime(2026, 2, 1, 23, 0, tzinfo=UTC))
    async with sim(daily_limit=50, clock=clock) as fake:
        assert (await call(session, fake, "GET", "leads"))[0] == 200
        fake.spend_daily_limit(leave=2)
        assert fake.requests_today(fake.token) == 48
        assert fake.outside_requests() == 47
        statuses = [(await call(session, fake, "GET", "leads"))[0] for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert fake.request_count == 4  # outside requests are never recorded
        master = await call(session, fake, "GET", "leads", master=True)
        assert master[0] == 200  # per key
        clock.now = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
        assert (await call(session, fake, "GET", "leads"))[0] == 200
        assert fake.requests_today(fake.token) == 1


async def test_spend_daily_limit_after_some_requests(session: aiohttp.ClientSession) -> None:
    async with sim(Realism(spent_key_status=403), daily_limit=100) as fake:
        fake.spend_daily_limit(after=3)
        statuses = [(await call(session, fake, "GET", "leads"))[0] for _ in range(5)]
        assert statuses == [200, 200, 200, 403, 403]
        assert fake.outside_requests() == 97
        assert fake.requests_today(fake.token) == 102


async def test_add_outside_requests(session: aiohttp.ClientSession) -> None:
    async with sim(daily_limit=5) as fake:
        fake.add_outside_requests(4)
        assert (await call(session, fake, "GET", "leads"))[0] == 200
        assert (await call(session, fake, "GET", "leads"))[0] == 429
        assert fake.outside_requests(fake.token) == 4
        assert fake.outside_requests(fake.master_key.token) == 0


def test_outside_request_hooks_check_their_arguments() -> None:
    fake = FakeWhatConverts(leads=1)
    with pytest.raises(ValueError, match="after"):
        fake.spend_daily_limit(after=-1)
    with pytest.raises(ValueError, match="leave"):
        fake.spend_daily_limit(leave=True)
    with pytest.raises(ValueError, match="count"):
        fake.add_outside_requests(-1)
    with pytest.raises(KeyError):
        fake.add_outside_requests(1, token="nope")
    assert fake.requests_today(fake.token) == 0
