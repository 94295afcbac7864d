"""``trust_env=True``: the sessions the clients create go through ``HTTP_PROXY``; by
default they ignore the environment. A loopback proxy records the absolute-form request
line of each request it receives and forwards it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from whatconverts_async import InvalidParameterError, WhatConverts
from whatconverts_async.endpoints import EndpointClient, OfflineLead
from whatconverts_async.testing import FakeWhatConverts

_HOP = {"host", "proxy-connection", "proxy-authorization", "content-length", "transfer-encoding"}


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP forward proxy on loopback: records ``METHOD absolute-URL`` per request."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        # A proxy is sent the absolute form (``GET http://host:port/path HTTP/1.1``).
        target = request.raw_path if request.raw_path.startswith("http") else None
        seen.append(f"{request.method} {target or request.raw_path}")
        if target is None:
            return web.Response(status=400, text="not a proxy request")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.request(
                request.method,
                target,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer,
        ):
            body = await answer.read()
            return web.Response(
                status=answer.status, body=body, headers={"Content-Type": answer.content_type}
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
def proxied_env(monkeypatch: pytest.MonkeyPatch, proxy: tuple[str, list[str]]) -> list[str]:
    url, seen = proxy
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)
    # The default NO_PROXY of many machines names 127.0.0.1, which would bypass the proxy.
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    return seen


async def test_trust_env_sends_api_requests_through_the_proxy(proxied_env: list[str]) -> None:
    async with FakeWhatConverts(leads=20, seed=4) as fake:
        lead_id = next(iter(fake.data.lead_ids()))
        async with WhatConverts(fake.token, fake.secret, base_url=fake.url, trust_env=True) as wc:
            lead = await wc.leads.get(lead_id)
            # A derived client uses the same (proxied) session.
            await wc.with_options(timeout=5).leads.get(lead_id)
        assert lead.lead_id == lead_id
        assert proxied_env == [f"GET {fake.url}leads/{lead_id}"] * 2
        assert len(fake.requests) == 2


async def test_by_default_the_environment_proxy_is_ignored(proxied_env: list[str]) -> None:
    async with FakeWhatConverts(leads=20, seed=4) as fake:
        lead_id = next(iter(fake.data.lead_ids()))
        async with WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc:
            assert (await wc.leads.get(lead_id)).lead_id == lead_id
        assert proxied_env == []
        assert len(fake.requests) == 1


async def test_endpoint_client_honours_trust_env(proxied_env: list[str]) -> None:
    async with FakeWhatConverts(leads=0, seed=4) as fake:
        row = OfflineLead(profile_id=fake.profile_id, date=dt.date(2025, 3, 1))
        url = fake.endpoint_url()
        async with EndpointClient(url) as plain:
            await plain.send([row])
        assert proxied_env == []
        async with EndpointClient(url, trust_env=True) as ep:
            await ep.send([row])
        assert len(proxied_env) == 1 and proxied_env[0].startswith(f"POST {url}")
        assert len(fake.requests) == 2


def test_trust_env_must_be_a_bool() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        WhatConverts("token-123456", "secret-123456", trust_env="yes")  # type: ignore[arg-type]
    assert caught.value.parameter == "trust_env"
