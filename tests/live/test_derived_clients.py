"""Clients made by ``with_options()``: what their repr shows and what they say once their
parent is closed, against the simulator on loopback."""

from __future__ import annotations

import pytest

from whatconverts_async.endpoints import EndpointClient
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for


async def test_a_derived_client_shows_the_options_it_changed() -> None:
    async with FakeWhatConverts(leads=5) as fake, client_for(fake) as wc:
        fast = wc.with_options(timeout=2.5, max_retries=0)
        shown = repr(fast)
        assert repr(wc) != shown
        assert "timeout=2.5" in shown and "max_retries=0" in shown
        assert "timeout" not in repr(wc)
        # Only what differs: a derived client keeping the retries does not list them.
        slow = wc.with_options(timeout=60)
        assert "timeout=60" in repr(slow) and "max_retries" not in repr(slow)
        for text in (shown, repr(slow)):
            assert fake.secret not in text and fake.token not in text
        await fast.leads.list(leads_per_page=1)  # it works, and it is the same client kind


async def test_a_derived_endpoint_client_shows_its_options_never_the_url() -> None:
    async with FakeWhatConverts(leads=5) as fake:
        url = fake.endpoint_url()
        async with EndpointClient(url) as ep:
            quick = ep.with_options(timeout=3, max_retries=1)
            shown = repr(quick)
            assert shown != repr(ep)
            assert "timeout=3" in shown and "max_retries=1" in shown
            assert url not in shown
            secret_part = url.rstrip("/").rsplit("/", 1)[-1]
            assert secret_part not in shown


async def test_a_derived_client_says_its_parent_is_closed() -> None:
    async with FakeWhatConverts(leads=5) as fake:
        async with client_for(fake) as wc:
            derived = wc.with_options(timeout=5)
        with pytest.raises(RuntimeError) as caught:
            await derived.leads.list(leads_per_page=1)
        message = str(caught.value)
        assert "derived" in message and "now closed" in message
        assert fake.request_count == 0
