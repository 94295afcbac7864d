"""Wire tests pin exact requests. aioresponses 0.7.9 cannot build responses on aiohttp
3.14 (it misses the new ``stream_writer`` argument), so these tests use the simulator
as a loopback server that records every request it receives: method, path, query,
headers and body, as they crossed the socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from whatconverts_async import RetryPolicy, WhatConverts
from whatconverts_async.testing import FakeWhatConverts


@pytest.fixture
async def recorder() -> AsyncIterator[FakeWhatConverts]:
    async with FakeWhatConverts(leads=500, seed=11, key_type="master") as fake:
        yield fake


@pytest.fixture
async def client(recorder: FakeWhatConverts) -> AsyncIterator[WhatConverts]:
    async with WhatConverts(
        recorder.token,
        recorder.secret,
        key_type="master",
        base_url=recorder.url,
        retry_policy=RetryPolicy(base_wait=0.001, max_wait=0.01),
    ) as wc:
        yield wc
