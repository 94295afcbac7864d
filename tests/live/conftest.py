"""Fixtures: a simulator on loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from whatconverts_async import WhatConverts
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeWhatConverts]:
    async with FakeWhatConverts(leads=2_000, seed=3) as server:
        yield server


@pytest.fixture
async def master_fake() -> AsyncIterator[FakeWhatConverts]:
    async with FakeWhatConverts(
        leads=3_000, seed=5, key_type="master", accounts=2, profiles_per_account=2
    ) as server:
        yield server


@pytest.fixture
async def wc(fake: FakeWhatConverts) -> AsyncIterator[WhatConverts]:
    async with client_for(fake) as client:
        yield client


@pytest.fixture
async def mwc(master_fake: FakeWhatConverts) -> AsyncIterator[WhatConverts]:
    async with client_for(master_fake) as client:
        yield client
