"""The compiled bulk upsert stores exactly what SQLAlchemy's own executemany stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror import schema as mirror_schema
from whatconverts_async.mirror._bulk import BulkUpsert
from whatconverts_async.mirror.records import lead_row
from whatconverts_async.models import Lead
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW

UTC = timezone.utc

# Wire values that take every conversion's unusual path.
ODD = [
    {
        "lead_id": 900_000_001,
        "date_created": "2025-06-01 09:00:00-05:00",  # an offset: stored as UTC
        "last_updated": "2025-06-02T10:00:00.123456Z",  # microseconds kept
        "quote_value": "12.50",  # text money: exact
        "sales_value": 1e16,  # a float without fraction
        "additional_fields": {"ratio": 1e-07, "list": [1, 2.5, None], "ü": "naïve"},
        "lead_type": "Phone Call",
        "quotable": "Not A Known Value",
        "spam": True,
        "duplicate": False,
    },
    {
        "lead_id": 2**62,
        "date_created": "0999-01-01T00:00:00Z",  # a 3-digit year stays 4 wide
        "quote_value": 0.1,
        "sales_value": None,
        "additional_fields": [],
        "lead_analysis": {},
    },
]


def _bookkeeping(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    row.update(
        first_seen_at=now,
        synced_at=now.astimezone(timezone(timedelta(hours=2))),  # another zone: UTC stored
        source="backfill",
        scope="key",
        missing_since=None,
        deleted_at=now - timedelta(microseconds=1),
        hidden_confirmed_at=None,
    )
    return row


async def _stored(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    """Every column as the driver returns it, JSON columns parsed."""
    names = [c.name for c in mirror_schema.leads.c]
    json_columns = {i for i, c in enumerate(mirror_schema.leads.c) if isinstance(c.type, sa.JSON)}
    result = await conn.exec_driver_sql(f"SELECT {', '.join(names)} FROM leads ORDER BY lead_id")
    out = []
    for raw in result.all():
        values = list(raw)
        for i in json_columns:
            if isinstance(values[i], str):
                values[i] = json.loads(values[i])
        out.append(tuple(values))
    return out


async def test_bulk_rows_equal_sqlalchemys(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
    leads = [fake.data.lead(i) for i in fake.data.lead_ids()[:200]] + ODD
    async with LeadMirror(wc, db_url) as mirror:
        rows = [_bookkeeping(lead_row(Lead.from_dict(d)), now) for d in leads]
        table = mirror_schema.leads
        engine = mirror.engine
        async with engine.begin() as conn:
            await conn.execute(table.insert(), rows)
            expected = await _stored(conn)
            await conn.execute(table.delete())
            bulk = BulkUpsert(table, mirror._upsert_statement("backfill"), engine.dialect)
            await bulk.execute(conn, rows)
            got = await _stored(conn)
            # Read back through SQLAlchemy's types too: the same values.
            typed = (await conn.execute(sa.select(table).order_by(table.c.lead_id))).all()
    assert len(got) == len(leads) and got == expected
    by_id = {r.lead_id: r for r in typed}
    odd = by_id[900_000_001]
    assert odd.date_created == datetime(2025, 6, 1, 14, tzinfo=UTC)
    assert odd.last_updated == datetime(2025, 6, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert str(odd.quote_value) == "12.50" and odd.synced_at == now
    assert odd.additional_fields == ODD[0]["additional_fields"]
    assert by_id[2**62].date_created.year == 999


async def test_bulk_refuses_rows_it_cannot_store(db_url: str, wc: WhatConverts) -> None:
    async with LeadMirror(wc, db_url) as mirror:
        row = _bookkeeping(lead_row(Lead.from_dict(ODD[0])), datetime.now(UTC))
        bulk = BulkUpsert(
            mirror_schema.leads, mirror._upsert_statement("backfill"), mirror.engine.dialect
        )
        with pytest.raises(ValueError, match="naive datetime"):
            bulk.params({**row, "synced_at": datetime(2026, 1, 1)})
        with pytest.raises(KeyError):
            bulk.params({k: v for k, v in row.items() if k != "scope"})


async def test_backfill_writes_through_one_statement_per_page(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    statements: list[tuple[str, bool]] = []
    async with LeadMirror(wc, db_url, page_size=250) as mirror:
        sqlite = mirror.engine.dialect.name == "sqlite"

        @sa.event.listens_for(mirror.engine.sync_engine, "before_cursor_execute")
        def _seen(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
            if sql.lstrip().upper().startswith("INSERT INTO LEADS"):
                statements.append((sql, many))

        report = await mirror.backfill(start_date=NOW - timedelta(days=200))
    assert report.inserted == 600 and report.pages == 3
    assert len(statements) == 3
    if sqlite:
        # One statement carries the page's rows (250, 250, 100 leads of 600, ascending).
        columns = len(mirror_schema.leads.c)
        rows = [sql.count("?") / columns for sql, _ in statements]
        assert rows == [250, 250, 100] and not any(many for _, many in statements)
    else:
        assert all(many for _, many in statements)  # one executemany a page


async def test_bulk_rows_in_statements_of_many_rows_equal_sqlalchemys(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    """On SQLite a batch goes as statements of many rows each, of two sizes at most: the
    rows stored are those of SQLAlchemy's own executemany, in a page of 602 rows split
    into statements of 201, 201 and 200 rows."""
    now = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
    leads = [fake.data.lead(i) for i in fake.data.lead_ids()] + ODD
    statements: list[tuple[int, bool, int]] = []
    async with LeadMirror(wc, db_url) as mirror:
        rows = [_bookkeeping(lead_row(Lead.from_dict(d)), now) for d in leads]
        table = mirror_schema.leads
        engine = mirror.engine
        sqlite = engine.dialect.name == "sqlite"
        bulk = BulkUpsert(table, mirror._upsert_statement("backfill"), engine.dialect)
        assert bulk.rows_per_statement == (32766 // len(table.c) if sqlite else 0)
        if sqlite:
            bulk.rows_per_statement = 250

        @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _seen(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
            if sql.lstrip().upper().startswith("INSERT INTO LEADS"):
                sets = list(params) if many else [params]
                statements.append((sql.count("?") or sql.count("$"), many, len(sets)))

        async with engine.begin() as conn:
            await conn.execute(table.insert(), rows)
            expected = await _stored(conn)
            await conn.execute(table.delete())
            statements.clear()
            await bulk.execute(conn, rows)
            got = await _stored(conn)
            # Written again, unchanged: the upsert leaves every row as it is.
            await bulk.execute(conn, rows)
            again = await _stored(conn)
    assert len(got) == len(leads) == 602 and got == expected and again == expected
    columns = len(mirror_schema.leads.c)
    if sqlite:
        assert statements[:2] == [(201 * columns, True, 2), (200 * columns, False, 1)]
    else:
        assert statements[0][1:] == (True, 602)
