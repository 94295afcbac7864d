"""Field cases through the client over loopback: a server that answers with the sample bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from whatconverts_async import RetryPolicy, WhatConverts

FIELD_CASES = Path(__file__).parent.parent / "samples" / "field-cases"


async def _serve(path: str, body: bytes) -> TestServer:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get(path, answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def page_server() -> AsyncIterator[TestServer]:
    server = await _serve("/api/v1/leads", (FIELD_CASES / "case-21.json").read_bytes())
    yield server
    await server.close()


def _client(server: TestServer) -> WhatConverts:
    return WhatConverts(
        "token",
        "secret",
        base_url=str(server.make_url("/api/v1/")),
        retry_policy=RetryPolicy(base_wait=0.01, max_wait=0.02),
    )


async def test_case_21_page_with_a_zero_date_yields_all_three_leads(
    page_server: TestServer,
) -> None:
    async with _client(page_server) as wc:
        page = await wc.leads.list(start_date=date(2025, 1, 2), end_date=date(2025, 1, 2))
        leads = [
            lead
            async for lead in wc.leads.iterate(
                start_date=date(2025, 1, 2), end_date=date(2025, 1, 2)
            )
        ]
    for got in (list(page), leads):
        assert [lead.lead_id for lead in got] == [201, 202, 203]
        assert got[1].last_updated is None
        assert got[1].to_dict()["last_updated"] == "0000-00-00 00:00:00"


async def test_case_07_bom_answer_is_lead_1000() -> None:
    server = await _serve("/api/v1/leads/1000", (FIELD_CASES / "case-07.bin").read_bytes())
    try:
        async with _client(server) as wc:
            lead = await wc.leads.get(1000)
    finally:
        await server.close()
    assert lead.lead_id == 1000
