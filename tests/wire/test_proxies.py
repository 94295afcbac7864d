"""``trust_env=True``: the sessions the clients create go through ``HTTP_PROXY``; by
default they ignore the environment. A loopback proxy records the absolute-form request
line of each request it receives and forwards it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from tests._loopback import forward_proxy
from whatconverts_async import InvalidParameterError, WhatConverts
from whatconverts_async.endpoints import EndpointClient, OfflineLead
from whatconverts_async.testing import FakeWhatConverts


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP forward proxy on loopback: records ``METHOD absolute-URL`` per request."""
    async with forward_proxy() as served:
        yield served


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
