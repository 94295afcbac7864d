"""Endpoints over loopback: OfflineLead rows in, leads out of the API; retries; secrecy."""

from __future__ import annotations

import csv
import io
import json
import logging
import traceback
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from whatconverts_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    BadRequestError,
    InvalidParameterError,
    NotFoundError,
    RetryPolicy,
    ServerError,
)
from whatconverts_async.endpoints import (
    EndpointClient,
    OfflineLead,
    encode_csv,
    encode_json,
    mask_endpoint_url,
)
from whatconverts_async.models import LeadType, Quotable
from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.webhooks import WebhookEvent, webhook_app

from ._support import client_for

FAST = RetryPolicy(base_wait=0.01, max_wait=0.05)
MARCH = date(2026, 3, 10)
TRICKY = "He said \"call me, maybe\"\nthen left; 50% off, 'quoted'"


def rows(profile_id: int) -> list[OfflineLead]:
    return [
        OfflineLead(
            profile_id=profile_id,
            date=MARCH,
            email_address="jane@example.com",
            sales_value=Decimal("1200"),
            quote_value=Decimal("1250.75"),
            lead_source="crm, offline",
            quotable=Quotable.YES,
            message=TRICKY,
            additional_fields={"Plan": "Pro", "Notes, misc": 'a "b"\nc'},
        ),
        OfflineLead(
            profile_id=profile_id,
            date=datetime(2026, 3, 11, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
            phone_number="+17045550100",
            lead_type="phone_call",
            call_duration_seconds=95,
            additional_fields={"Plan": "Basic"},
        ),
    ]


async def api_leads(fake: FakeWhatConverts) -> dict[str, Any]:
    async with client_for(fake) as wc:
        leads = [
            lead
            async for lead in wc.leads.iterate(
                start_date=date(2026, 3, 1), end_date=date(2026, 3, 31), order="asc"
            )
        ]
    return {"leads": leads}


@pytest.fixture
async def fake() -> Any:
    async with FakeWhatConverts(leads=200, seed=21) as server:
        yield server


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_offline_leads_show_up_in_the_api(fake: FakeWhatConverts, fmt: Any) -> None:
    url = fake.endpoint_url(fake.profile_id, format=fmt)
    async with EndpointClient(url, format=fmt, retry_policy=FAST) as ep:
        result = await ep.send(rows(fake.profile_id))
    assert result.status == 200 and result.rows == 2 and result.attempts == 1
    assert fake.request_count == 1
    sent = fake.requests[0]
    assert sent.method == "POST"
    assert sent.content_type == ("text/csv" if fmt == "csv" else "application/json")
    assert sent.key_token is None  # no API key: endpoints are not API requests

    leads = (await api_leads(fake))["leads"]
    assert len(leads) == 2
    first, second = leads
    assert first.date_created == datetime(2026, 3, 10, tzinfo=timezone.utc)
    assert first.email_address == "jane@example.com"
    assert first.sales_value == Decimal("1200") and first.quote_value == Decimal("1250.75")
    assert first.lead_source == "crm, offline"
    assert first.quotable == "Yes"
    assert first.message == TRICKY
    assert first.additional_fields == {"Plan": "Pro", "Notes, misc": 'a "b"\nc'}
    assert first.lead_type == LeadType.OTHER  # the endpoint's default lead type
    assert second.date_created == datetime(2026, 3, 11, 14, 30, tzinfo=timezone.utc)
    assert second.lead_type == LeadType.PHONE_CALL
    assert second.call_duration_seconds == 95
    assert second.phone_number == "+17045550100"
    assert second.additional_fields == {"Plan": "Basic"}


def test_csv_body_shape() -> None:
    body = encode_csv(rows(80022))
    assert body.endswith(b"\r\n")
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    header, one, two = parsed
    assert header == [
        "Profile ID",
        "Date",
        "Lead Type",
        "Email Address",
        "Phone Number",
        "Source",
        "Quote Value",
        "Sales Value",
        "Quotable",
        "Duration (Seconds)",
        "Message",
        "[additional_field]Plan",
        "[additional_field]Notes, misc",
    ]
    assert one == [
        "80022",
        "2026-03-10",
        "",
        "jane@example.com",
        "",
        "crm, offline",
        "1250.75",
        "1200",
        "Yes",
        "",
        TRICKY,
        "Pro",
        'a "b"\nc',
    ]
    assert two[:3] == ["80022", "2026-03-11T14:30:00Z", "Phone Call"]
    assert two[9] == "95" and two[11] == "Basic" and two[12] == ""


def test_json_body_shape() -> None:
    body = encode_json(rows(80022))
    parsed = json.loads(body, parse_float=Decimal)
    assert parsed[0] == {
        "Profile ID": 80022,
        "Date": "2026-03-10",
        "Email Address": "jane@example.com",
        "Source": "crm, offline",
        "Quote Value": Decimal("1250.75"),
        "Sales Value": 1200,
        "Quotable": "Yes",
        "Message": TRICKY,
        "[additional_field]Plan": "Pro",
        "[additional_field]Notes, misc": 'a "b"\nc',
    }
    assert parsed[1]["Date"] == "2026-03-11T14:30:00Z"
    assert parsed[1]["Duration (Seconds)"] == 95
    # Exact digits, never an exponent or a float rounding.
    exact = OfflineLead(profile_id=1, date=MARCH, tax=Decimal("1E+3"), shipping=Decimal("0.10"))
    assert b'"Tax":1000,"Shipping":0.10' in encode_json([exact])
    assert b"1000,0.10" in encode_csv(exact)


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: [], "leads"),
        (lambda: [OfflineLead(profile_id=None, date=MARCH)], "profile_id"),  # type: ignore[arg-type]
        (lambda: [OfflineLead(profile_id=0, date=MARCH)], "profile_id"),
        (lambda: [OfflineLead(profile_id=True, date=MARCH)], "profile_id"),
        (lambda: [OfflineLead(profile_id=1, date=datetime(2026, 3, 10, 9))], "date"),
        (lambda: [OfflineLead(profile_id=1, date="2026-03-10")], "date"),  # type: ignore[arg-type]
        (lambda: [OfflineLead(profile_id=1, date=MARCH, sales_value=Decimal(-1))], "sales_value"),
        (
            lambda: [OfflineLead(profile_id=1, date=MARCH, quote_value=Decimal("NaN"))],
            "quote_value",
        ),
        (lambda: [OfflineLead(profile_id=1, date=MARCH, tax=Decimal("Infinity"))], "tax"),
        (lambda: [OfflineLead(profile_id=1, date=MARCH, shipping=0.1)], "shipping"),  # type: ignore[arg-type]
        (lambda: [OfflineLead(profile_id=1, date=MARCH, sales_value="lots")], "sales_value"),  # type: ignore[arg-type]
        (
            lambda: [OfflineLead(profile_id=1, date=MARCH, call_duration_seconds=1.5)],  # type: ignore[arg-type]
            "call_duration_seconds",
        ),
        (lambda: [OfflineLead(profile_id=1, date=MARCH, lead_score="3")], "lead_score"),  # type: ignore[arg-type]
        (lambda: [OfflineLead(profile_id=1, date=MARCH, quotable="maybe")], "quotable"),  # type: ignore[arg-type]
        (lambda: [OfflineLead(profile_id=1, date=MARCH, lead_type="fax")], "lead_type"),  # type: ignore[arg-type]
        (lambda: [OfflineLead(profile_id=1, date=MARCH, email_address=5)], "email_address"),  # type: ignore[arg-type]
        (
            lambda: [OfflineLead(profile_id=1, date=MARCH, additional_fields={"": "x"})],
            "additional_fields",
        ),
        (
            lambda: [OfflineLead(profile_id=1, date=MARCH, additional_fields={"a": None})],  # type: ignore[dict-item]
            "additional_fields['a']",
        ),
        (lambda: [OfflineLead(profile_id=1, date=MARCH), {"Profile ID": 1}], "leads[1]"),
    ],
)
async def test_validation_sends_nothing(fake: FakeWhatConverts, make: Any, parameter: str) -> None:
    url = fake.endpoint_url()
    async with EndpointClient(url, retry_policy=FAST) as ep:
        with pytest.raises(InvalidParameterError) as info:
            await ep.send(make())
    assert info.value.parameter == parameter
    assert isinstance(info.value, ValueError)
    assert fake.requests == []


async def test_retry_on_503_and_429_then_success(fake: FakeWhatConverts) -> None:
    url = fake.endpoint_url()
    fake.faults.fail_next(2, 503, path_prefix="/endpoints/")
    fake.faults.rate_limit_next(1, retry_after=0.01, path_prefix="/endpoints/")
    async with EndpointClient(url, retry_policy=FAST) as ep:
        result = await ep.send(rows(fake.profile_id)[:1])
    assert result.attempts == 4
    assert [r.status for r in fake.requests] == [503, 503, 429, 200]
    assert len((await api_leads(fake))["leads"]) == 1  # added exactly once


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_other_server_errors_are_not_retried(fake: FakeWhatConverts, status: int) -> None:
    url = fake.endpoint_url()
    fake.faults.fail_next(1, status, path_prefix="/endpoints/")
    async with EndpointClient(url, retry_policy=FAST) as ep:
        with pytest.raises(ServerError) as info:
            await ep.send(rows(fake.profile_id))
    assert info.value.status == status
    assert fake.request_count == 1


async def test_dropped_after_sending_is_not_retried(fake: FakeWhatConverts) -> None:
    url = fake.endpoint_url()
    fake.faults.drop_next(1, path_prefix="/endpoints/")
    async with EndpointClient(url, retry_policy=FAST) as ep:
        with pytest.raises(APIConnectionError) as info:
            await ep.send(rows(fake.profile_id))
    assert info.value.request_sent is True
    assert fake.request_count == 1
    assert fake.requests[0].body  # the rows did reach the server


async def test_timeout_waiting_for_the_answer_is_not_retried(fake: FakeWhatConverts) -> None:
    url = fake.endpoint_url()
    fake.faults.stall_next(1, 5.0, path_prefix="/endpoints/")
    async with EndpointClient(url, retry_policy=FAST, timeout=0.2) as ep:
        with pytest.raises(APITimeoutError) as info:
            await ep.send(rows(fake.profile_id))
    assert info.value.request_sent is True
    assert fake.request_count == 1


async def test_connection_refused_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="whatconverts_async")
    async with EndpointClient(
        "http://127.0.0.1:1/endpoints/refused-token", max_retries=2, retry_policy=FAST
    ) as ep:
        with pytest.raises(APIConnectionError) as info:
            await ep.send(rows(80022))
    assert info.value.request_sent is False
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying POST")]
    assert len(retries) == 2


async def test_unknown_endpoint_and_bad_rows(fake: FakeWhatConverts) -> None:
    url = fake.endpoint_url()
    async with EndpointClient(url + "x", retry_policy=FAST) as ep:
        with pytest.raises(NotFoundError):
            await ep.send(rows(fake.profile_id))
    async with EndpointClient(url, retry_policy=FAST) as ep:
        with pytest.raises(BadRequestError) as info:
            await ep.send([OfflineLead(profile_id=fake.profile_id + 999, date=MARCH)])
        assert info.value.error_message is not None
        assert info.value.error_message.startswith("Row 1:")
    async with EndpointClient(url, format="json", retry_policy=FAST) as ep:
        with pytest.raises(APIError) as refused:  # a CSV endpoint refuses JSON
            await ep.send(rows(fake.profile_id))
        assert refused.value.status == 415
    assert fake.request_count == 3
    assert (await api_leads(fake))["leads"] == []


async def test_lead_id_updates_an_existing_lead(fake: FakeWhatConverts) -> None:
    url = fake.endpoint_url()
    existing = fake.data.lead_ids()[-1]
    async with EndpointClient(url, retry_policy=FAST) as ep:
        await ep.send(
            OfflineLead(profile_id=fake.profile_id, date=MARCH, lead_id=existing, sales_value=99)
        )
    async with client_for(fake) as wc:
        lead = await wc.leads.get(existing)
    assert lead.sales_value == Decimal(99)
    assert fake.endpoints[url.rsplit("/", 1)[1]].lead_ids == [existing]


async def test_endpoint_leads_fire_webhooks(fake: FakeWhatConverts) -> None:
    from aiohttp.test_utils import TestServer

    events: list[WebhookEvent] = []

    async def on_lead(event: WebhookEvent) -> None:
        events.append(event)

    server = TestServer(webhook_app(on_lead))
    await server.start_server()
    try:
        fake.webhooks.subscribe(str(server.make_url("/")))
        async with EndpointClient(fake.endpoint_url(), retry_policy=FAST) as ep:
            await ep.send(rows(fake.profile_id))
        await fake.webhooks.drain()
    finally:
        await server.close()
    assert sorted(e.lead.email_address or "" for e in events) == ["", "jane@example.com"]
    assert {str(e.trigger) for e in events} == {"new"}


async def test_endpoint_url_never_leaks(
    fake: FakeWhatConverts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = fake.endpoint_url()
    token = url.rsplit("/", 1)[1]
    errors: list[BaseException] = []
    fake.faults.fail_next(1, 503, path_prefix="/endpoints/")
    fake.faults.drop_next(1, path_prefix="/endpoints/")
    ep = EndpointClient(url, retry_policy=FAST)
    async with ep:
        assert token not in repr(ep) and token not in ep.shown_url
        with pytest.raises(APIConnectionError) as dropped:
            await ep.send(rows(fake.profile_id))
        errors.append(dropped.value)
        fake.faults.fail_next(1, 500, path_prefix="/endpoints/")
        with pytest.raises(ServerError) as failed:
            await ep.send(rows(fake.profile_id))
        errors.append(failed.value)
        await ep.send(rows(fake.profile_id))
    async with EndpointClient(url + "x", retry_policy=FAST) as other:
        with pytest.raises(NotFoundError) as missing:
            await other.send(rows(fake.profile_id))
        errors.append(missing.value)
    refused_url = f"http://127.0.0.1:1/endpoints/{token}"
    async with EndpointClient(refused_url, max_retries=1, retry_policy=FAST) as refused:
        with pytest.raises(APIConnectionError) as no_server:
            await refused.send(rows(fake.profile_id))
        errors.append(no_server.value)
    with pytest.raises(InvalidParameterError) as insecure:
        EndpointClient(f"http://endpoints.example.com/e/{token}")
    errors.append(insecure.value)

    assert "retrying POST" in caplog.text and "POST http://127.0.0.1" in caplog.text
    assert token not in caplog.text
    for exc in errors:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        assert token not in str(exc) and token not in repr(exc) and token not in text
        assert token not in str(getattr(exc, "url", ""))


def test_url_checks_and_masking() -> None:
    assert mask_endpoint_url("https://user:pw@host.example:8443/a/b?c=d") == (
        "https://host.example:8443/…"
    )
    with pytest.raises(InvalidParameterError, match="endpoint_url"):
        EndpointClient("ftp://host.example/x")
    with pytest.raises(InvalidParameterError, match="endpoint_url"):
        EndpointClient("")
    with pytest.raises(InvalidParameterError, match="format"):
        EndpointClient("https://host.example/x", format="xml")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="max_retries"):
        EndpointClient("https://host.example/x", max_retries=-1)
    assert EndpointClient("http://example.com/x", allow_insecure=True).shown_url == (
        "http://example.com/…"
    )


async def test_injected_session_is_not_closed(fake: FakeWhatConverts) -> None:
    async with aiohttp.ClientSession() as session:
        async with EndpointClient(fake.endpoint_url(), session=session) as ep:
            await ep.send(rows(fake.profile_id))
        assert not session.closed
    assert fake.request_count == 1


async def _serve(handler: Any) -> tuple[aiohttp.web.AppRunner, str]:
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/endpoints/{token}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/endpoints/s3cret-token"


async def test_a_long_answer_is_kept_to_its_start_and_rows_are_not_resent() -> None:
    """The rows were accepted: an answer over the cap must not turn that into an error
    (a caller would send them again)."""
    from aiohttp import web

    calls = 0

    async def accept(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(text="ok " + "x" * (3 * 1024 * 1024), content_type="text/plain")

    runner, url = await _serve(accept)
    try:
        async with EndpointClient(url, retry_policy=FAST) as ep:
            result = await ep.send(rows(80022))
    finally:
        await runner.cleanup()
    assert result.status == 200 and result.attempts == calls == 1
    assert isinstance(result.response, str) and result.response.startswith("ok xxx")
    assert len(result.response) == 1024 * 1024


async def test_a_redirect_is_not_followed_and_its_target_is_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiohttp import web

    from whatconverts_async import MalformedResponseError

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://elsewhere.example/endpoints/other-s3cret?key=s3cret")

    caplog.set_level(logging.DEBUG)
    runner, url = await _serve(moved)
    try:
        async with EndpointClient(url, retry_policy=FAST) as ep:
            with pytest.raises(MalformedResponseError, match="redirected") as info:
                await ep.send(rows(80022))
    finally:
        await runner.cleanup()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("whatconverts_async")]
    text = f"{info.value} {info.value!r} {vars(info.value)} {ours}"
    assert "https://elsewhere.example/…" in text and "check endpoint_url" in text
    assert any("-> 302" in line for line in ours)
    assert "s3cret" not in text
