"""A server or proxy that echoes credentials back must not put them in our errors; ids beyond
64 bits are refused before the wire and in webhooks."""

from __future__ import annotations

import base64

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from whatconverts_async import BadRequestError, InvalidParameterError, WhatConverts
from whatconverts_async.webhooks import WebhookError, parse_webhook

TOKEN = "echo-token-123"
SECRET = "echo-secret-XYZ-987"


async def _echo(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    body = {"error_message": f"bad credentials {header} / {SECRET}"}
    return web.json_response(body, status=400)


async def test_echoed_authorization_header_is_redacted_from_errors() -> None:
    app = web.Application()
    app.router.add_get("/api/v1/leads/{lead_id}", _echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with WhatConverts(TOKEN, SECRET, base_url=str(server.make_url("/api/v1/"))) as wc:
            with pytest.raises(BadRequestError) as caught:
                await wc.leads.get(5)
    finally:
        await server.close()
    encoded = base64.b64encode(f"{TOKEN}:{SECRET}".encode()).decode()
    text = str(caught.value) + repr(caught.value) + str(caught.value.error_message)
    assert "<redacted>" in text
    assert encoded not in text and SECRET not in text


async def test_ids_beyond_64_bits_are_refused_before_the_wire() -> None:
    async with WhatConverts(TOKEN, SECRET, base_url="http://127.0.0.1:9/api/v1/") as wc:
        with pytest.raises(InvalidParameterError, match="lead_id"):
            await wc.leads.get(2**63)
        assert wc.quota.used == 0


def test_webhook_with_an_id_beyond_64_bits_is_malformed() -> None:
    with pytest.raises(WebhookError, match="lead_id"):
        parse_webhook(b'{"trigger": "new", "lead_id": 9223372036854775808}')
    assert parse_webhook(b'{"trigger": "new", "lead_id": 9223372036854775807}').lead_id == 2**63 - 1
