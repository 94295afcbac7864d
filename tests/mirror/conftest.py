"""Fixtures for the mirror: a database on SQLite and on PostgreSQL, a simulator, a clock.

PostgreSQL tests need ``WHATCONVERTS_TEST_POSTGRES_URL`` (an admin URL such as
``postgresql://postgres@127.0.0.1:55432/postgres``; ``.ci/run`` starts one); each test gets
a fresh database, dropped afterwards. Without the variable they are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio

pytest.importorskip("sqlalchemy")
pytest.importorskip("aiosqlite")

from whatconverts_async import WhatConverts
from whatconverts_async.testing import FakeWhatConverts

UTC = timezone.utc
POSTGRES_ENV = "WHATCONVERTS_TEST_POSTGRES_URL"
NOW = datetime.now(UTC).replace(microsecond=0)


class MovableClock:
    """A clock the test moves: ``now()`` for the mirror."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def _admin_dsn() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _pg_database() -> tuple[str, str]:
    import asyncpg

    dsn = _admin_dsn()
    assert dsn is not None
    name = f"mirror_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = dsn.rpartition("/")
    return name, f"{base}/{name}"


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    dsn = _admin_dsn()
    assert dsn is not None
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[str]:
    """A database URL: a SQLite file (given as a plain path) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path) + "/mirror.db"  # a plain path is enough
        return
    if _admin_dsn() is None:
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    pytest.importorskip("asyncpg")
    name, url = await _pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeWhatConverts]:
    """600 leads over the 120 days before NOW."""
    async with FakeWhatConverts(
        leads=600, seed=3, start=NOW - timedelta(days=120), end=NOW
    ) as simulator:
        yield simulator


@pytest_asyncio.fixture
async def wc(fake: FakeWhatConverts) -> AsyncIterator[WhatConverts]:
    async with WhatConverts(fake.token, fake.secret, base_url=fake.url, max_retries=0) as client:
        yield client
