"""Webhooks over loopback: webhook_app status codes, and the simulator delivering to it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.webhooks import (
    WebhookEvent,
    WebhookTrigger,
    webhook_app,
    webhook_handler,
)

from ._support import client_for

SECRET = "s3cret-ÄÖ-value"
BODY = {"trigger": "new", "lead_id": 77, "lead_type": "Web Form", "last_updated": "2025-01-01"}

Handler = Callable[[WebhookEvent], Awaitable[None]]


class Recorder:
    """A webhook handler that keeps events, drops duplicates by key, and can be made to fail."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.keys: set[str] = set()
        self.duplicates = 0
        self.fail = False
        self.fail_times = 0
        self.arrived = asyncio.Event()

    async def __call__(self, event: WebhookEvent) -> None:
        if self.fail or self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("database is down")
        if event.key in self.keys:
            self.duplicates += 1
            return
        self.keys.add(event.key)
        self.events.append(event)
        self.arrived.set()


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(recorder: Recorder) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = webhook_app(recorder, shared_secret=SECRET, path="/hook", max_body=2048)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_post_with_secret_in_query_is_handled(
    client: TestClient[web.Request, web.Application], recorder: Recorder
) -> None:
    resp = await client.post("/hook", params={"secret": SECRET}, json=BODY)
    assert resp.status == 200
    assert await resp.json() == {"ok": True}
    assert [e.lead_id for e in recorder.events] == [77]
    assert recorder.events[0].trigger is WebhookTrigger.NEW


async def test_secret_in_header_is_accepted(
    client: TestClient[web.Request, web.Application], recorder: Recorder
) -> None:
    resp = await client.post("/hook", headers={"X-Webhook-Secret": SECRET}, json=BODY)
    assert resp.status == 200
    assert len(recorder.events) == 1


@pytest.mark.parametrize(
    "how",
    [
        {},
        {"params": {"secret": "wrong"}},
        {"headers": {"X-Webhook-Secret": SECRET[:-1]}},
        {"params": {"secret": ""}},
    ],
)
async def test_missing_or_wrong_secret_is_401(
    client: TestClient[web.Request, web.Application],
    recorder: Recorder,
    how: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    resp = await client.post("/hook", json=BODY, **how)
    assert resp.status == 401
    assert (await resp.json())["ok"] is False
    assert recorder.events == []
    assert SECRET not in caplog.text


async def test_other_methods_are_405(client: TestClient[web.Request, web.Application]) -> None:
    for method in ("GET", "PUT", "DELETE"):
        resp = await client.request(method, "/hook", params={"secret": SECRET})
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"


async def test_large_body_is_413(
    client: TestClient[web.Request, web.Application], recorder: Recorder
) -> None:
    big = json.dumps({**BODY, "notes": "x" * 5000}).encode()
    resp = await client.post("/hook", params={"secret": SECRET}, data=big)
    assert resp.status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(10):
            yield b" " * 500

    resp = await client.post("/hook", params={"secret": SECRET}, data=chunks())
    assert resp.status == 413
    assert recorder.events == []


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"trigger": "new"}', b'{"lead_id": 1, "date_created": "x"}']
)
async def test_malformed_body_is_400(
    client: TestClient[web.Request, web.Application], body: bytes
) -> None:
    resp = await client.post("/hook", params={"secret": SECRET}, data=body)
    assert resp.status == 400
    answer = await resp.json()
    assert answer["ok"] is False and answer["error"].startswith("malformed webhook")
    assert len(answer["error"]) <= 200


async def test_handler_failure_is_500_and_logged_without_secret(
    client: TestClient[web.Request, web.Application],
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.fail = True
    resp = await client.post("/hook", params={"secret": SECRET}, json=BODY)
    assert resp.status == 500
    assert await resp.json() == {"ok": False, "error": "handler failed"}
    failures = [r for r in caplog.records if r.name == "whatconverts_async.webhooks"]
    assert failures and "lead 77" in failures[-1].getMessage()
    assert failures[-1].exc_info is not None
    assert SECRET not in caplog.text
    # A redelivery after the handler recovers is handled.
    recorder.fail = False
    resp = await client.post("/hook", params={"secret": SECRET}, json=BODY)
    assert resp.status == 200


async def test_duplicate_deliveries_are_detectable(
    client: TestClient[web.Request, web.Application], recorder: Recorder
) -> None:
    for _ in range(3):
        resp = await client.post("/hook", params={"secret": SECRET}, json=BODY)
        assert resp.status == 200
    update = {**BODY, "trigger": "update", "last_updated": "2025-01-02T00:00:00Z"}
    resp = await client.post("/hook", params={"secret": SECRET}, json=update)
    assert resp.status == 200
    assert recorder.duplicates == 2
    assert [str(e.trigger) for e in recorder.events] == ["new", "update"]


async def test_handler_http_exception_passes_through() -> None:
    async def conflict(event: WebhookEvent) -> None:
        raise web.HTTPConflict(text="later")

    async with TestClient(TestServer(webhook_app(conflict))) as test_client:
        resp = await test_client.post("/", json=BODY)
        assert resp.status == 409


async def test_route_handler_mounts_in_existing_app(recorder: Recorder) -> None:
    app = web.Application()
    app.router.add_get("/health", _ok)
    app.router.add_route("*", "/hooks/wc", webhook_handler(recorder, shared_secret=SECRET))
    async with TestClient(TestServer(app)) as test_client:
        assert (await test_client.get("/health")).status == 200
        resp = await test_client.post("/hooks/wc", params={"secret": SECRET}, json=BODY)
        assert resp.status == 200
        assert (await test_client.get("/hooks/wc")).status == 405
    assert len(recorder.events) == 1


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def test_options_are_checked() -> None:
    async def noop(event: WebhookEvent) -> None:
        return None

    with pytest.raises(ValueError, match="max_body"):
        webhook_app(noop, max_body=0)
    with pytest.raises(ValueError, match="shared_secret"):
        webhook_app(noop, shared_secret="")
    with pytest.raises(ValueError, match="path"):
        webhook_app(noop, path="hook")


# --- end to end with the simulator -----------------------------------------------------


async def test_created_and_edited_leads_arrive_as_webhooks(recorder: Recorder) -> None:
    server = TestServer(webhook_app(recorder, shared_secret=SECRET))
    await server.start_server()
    try:
        async with FakeWhatConverts(leads=50, seed=11) as fake:
            fake.webhooks.subscribe(str(server.make_url("/").with_query(secret=SECRET)))
            async with client_for(fake) as wc:
                lead_id = await wc.leads.create(
                    lead_type="web_form",
                    contact_name="Jane Roe",
                    email_address="jane@example.com",
                    additional_fields={"Budget": "5k"},
                )
                await fake.webhooks.drain()
                await wc.leads.update(lead_id, quotable="yes", sales_value=750)
                await fake.webhooks.drain()
                api_lead = await wc.leads.get(lead_id)
        assert [(str(e.trigger), e.lead_id) for e in recorder.events] == [
            ("new", lead_id),
            ("update", lead_id),
        ]
        new, update = recorder.events
        assert new.lead.additional_fields == {"Budget": "5k"}
        assert new.lead.email_address == "jane@example.com"
        assert update.lead.sales_value == 750
        assert update.lead == api_lead  # the same Lead model as the API gives
        assert [d.status for d in fake.webhooks.deliveries] == [200, 200]
    finally:
        await server.close()


async def test_subscription_filters_and_manual_send(recorder: Recorder) -> None:
    server = TestServer(webhook_app(recorder))
    await server.start_server()
    try:
        async with FakeWhatConverts(leads=50, seed=12) as fake:
            url = str(server.make_url("/"))
            fake.webhooks.subscribe(url, triggers=["update"], lead_types=["phone_call"])
            async with client_for(fake) as wc:
                await wc.leads.create(lead_type="web_form")  # "new": not subscribed
                call = await wc.leads.create(lead_type="phone_call")
                await wc.leads.update(call, quotable="no")
                await fake.webhooks.drain()
            assert [(str(e.trigger), e.lead_id) for e in recorder.events] == [("update", call)]
            # Deliver an existing generated lead by hand, then the same again (a duplicate).
            some_lead = fake.data.lead_ids()[0]
            first = await fake.send_webhook(url, some_lead)
            again = await fake.send_webhook(url, some_lead)
            assert first.ok and again.ok
            assert first.payload["trigger"] == "new"
            assert recorder.duplicates == 1
            assert recorder.events[-1].lead.to_dict() == fake.data.lead(some_lead)
    finally:
        await server.close()


async def test_failed_delivery_is_retried_by_the_simulator(recorder: Recorder) -> None:
    recorder.fail_times = 2
    server = TestServer(webhook_app(recorder))
    await server.start_server()
    try:
        async with FakeWhatConverts(leads=10, seed=13) as fake:
            fake.webhooks.subscribe(str(server.make_url("/")), max_attempts=5, retry_delay=0.01)
            async with client_for(fake) as wc:
                lead_id = await wc.leads.create(lead_type="chat")
                await fake.webhooks.drain()
        statuses = [d.status for d in fake.webhooks.deliveries]
        assert statuses == [500, 500, 200]
        assert [d.attempt for d in fake.webhooks.deliveries] == [1, 2, 3]
        assert [e.lead_id for e in recorder.events] == [lead_id]
    finally:
        await server.close()


async def test_unreachable_subscriber_is_recorded_and_close_is_clean() -> None:
    async with FakeWhatConverts(leads=10, seed=14) as fake:
        fake.webhooks.subscribe("http://127.0.0.1:1/hook")
        async with client_for(fake) as wc:
            await wc.leads.create(lead_type="email")
        await fake.webhooks.drain()
        delivery = fake.webhooks.deliveries[0]
        assert delivery.status is None and delivery.error is not None and not delivery.ok


async def test_fastapi_style_usage_on_raw_body() -> None:
    """The README's framework-agnostic path: parse_webhook on the raw request body."""
    from whatconverts_async.webhooks import WebhookError, parse_webhook

    seen: list[int] = []

    async def endpoint(request: web.Request) -> web.Response:
        try:
            event = parse_webhook(await request.read())
        except WebhookError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        seen.append(event.lead_id)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/wc", endpoint)
    async with TestServer(app) as server, ClientSession() as session:
        async with session.post(server.make_url("/wc"), json=BODY) as resp:
            assert resp.status == 200
        async with session.post(server.make_url("/wc"), data=b"{") as resp:
            assert resp.status == 400
    assert seen == [77]


# --- field cases over HTTP ------------------------------------------------------------------

FIELD_CASES = Path(__file__).parent.parent / "samples" / "field-cases"


@pytest.mark.parametrize(
    ("body", "lead_id"),
    [
        # case-21: the lead whose last_updated is a zero date, as an update delivery.
        (
            json.dumps(
                {
                    "trigger": "update",
                    **json.loads((FIELD_CASES / "case-21.json").read_text())["leads"][1],
                }
            ).encode(),
            202,
        ),
        # case-03: the official transaction webhook.
        ((FIELD_CASES / "case-03.json").read_bytes(), 153928),
        # a byte-order mark before the body (the bytes of case-07's kind).
        (b'\xef\xbb\xbf{"trigger": "new", "lead_id": 5, "last_updated": "0000-00-00"}', 5),
    ],
    ids=["case-21", "case-03", "bom"],
)
async def test_field_case_deliveries_are_accepted(
    client: TestClient[web.Request, web.Application],
    recorder: Recorder,
    body: bytes,
    lead_id: int,
) -> None:
    resp = await client.post("/hook", params={"secret": SECRET}, data=body)
    assert resp.status == 200, await resp.text()
    (event,) = recorder.events
    assert event.lead_id == lead_id
    assert event.to_dict() == json.loads(body.decode("utf-8-sig"))


@pytest.mark.parametrize(
    "body",
    [
        b'{"lead_id": 1, "date_created": "0000-00-00 00:00:00"}',  # essential: still refused
        b'{"lead_id": 1, "x": ' + b"[" * 70 + b"]" * 70 + b"}",  # deeper than MAX_DEPTH
        b'{"lead_id": NaN}',
    ],
)
async def test_essential_or_undecodable_deliveries_are_400(
    client: TestClient[web.Request, web.Application], recorder: Recorder, body: bytes
) -> None:
    resp = await client.post("/hook", params={"secret": SECRET}, data=body)
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("malformed webhook")
    assert recorder.events == []
