"""A mirror never writes into tables it did not create, and ``status`` never writes.

``mirror status`` pointed at a database without a mirror used to create the mirror's
tables; pointed at a database with an application's own ``leads`` table, it left five
``mirror_*`` tables behind and failed on a missing column.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from whatconverts_async import WhatConverts
from whatconverts_async.cli import main
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror.core import database_url
from whatconverts_async.mirror.schema import NoMirrorError, SchemaConflictError


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(database_url(url))
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _own_leads_table(url: str) -> None:
    engine = create_async_engine(database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE leads (id INTEGER PRIMARY KEY, name TEXT)"))
            await conn.execute(sa.text("INSERT INTO leads (id, name) VALUES (1, 'mine')"))
    finally:
        await engine.dispose()


async def test_a_foreign_leads_table_stops_the_mirror_before_it_creates_anything(
    db_url: str, wc: WhatConverts
) -> None:
    await _own_leads_table(db_url)
    for create in (True, False):
        mirror = LeadMirror(wc, db_url)
        with pytest.raises(SchemaConflictError, match="'leads' that is not a lead mirror's"):
            await mirror.open(create=create)
        assert await _tables(db_url) == {"leads"}


async def test_reading_a_database_without_a_mirror_creates_nothing(
    db_url: str, wc: WhatConverts
) -> None:
    engine = create_async_engine(database_url(db_url))
    try:
        async with engine.begin() as conn:  # an existing, empty database
            await conn.execute(sa.text("CREATE TABLE other (x INTEGER)"))
    finally:
        await engine.dispose()
    mirror = LeadMirror(wc, db_url)
    with pytest.raises(NoMirrorError, match="no lead mirror"):
        await mirror.open(create=False)
    assert await _tables(db_url) == {"other"}
    # A mirror opened for writing creates it; then reading finds it.
    async with LeadMirror(wc, db_url):
        pass
    reader = await LeadMirror(wc, db_url).open(create=False)
    try:
        assert (await reader.status()).scans == ()
    finally:
        await reader.close()


@pytest.mark.parametrize("own_table", [False, True])
async def test_status_cli_writes_nothing(
    db_url: str,
    own_table: bool,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WHATCONVERTS_API_TOKEN", raising=False)
    monkeypatch.delenv("WHATCONVERTS_API_SECRET", raising=False)
    if own_table:
        await _own_leads_table(db_url)
    else:
        engine = create_async_engine(database_url(db_url))
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("CREATE TABLE other (x INTEGER)"))
        finally:
            await engine.dispose()
    before = await _tables(db_url)
    # main() runs its own event loop: run it in a thread of ours.
    import asyncio

    code = await asyncio.to_thread(main, ["mirror", "status", "--db", db_url])
    err = capsys.readouterr().err
    assert code == 2, err
    assert ("not a lead mirror's" if own_table else "holds no lead mirror") in err
    assert "Traceback" not in err and "[SQL" not in err
    assert await _tables(db_url) == before
