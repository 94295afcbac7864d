"""How values are stored on each backend, secrets, and the service loop."""

from __future__ import annotations

import asyncio
import logging
import traceback
from datetime import timedelta

import pytest

from whatconverts_async import InvalidParameterError, WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror.core import database_url
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW


async def test_money_is_exact_and_times_are_utc(db_url: str, wc: WhatConverts) -> None:
    async with LeadMirror(wc, db_url) as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        async with mirror.engine.connect() as conn:
            if mirror.engine.dialect.name == "sqlite":
                kinds = (
                    await conn.exec_driver_sql(
                        "SELECT DISTINCT typeof(quote_value), typeof(sales_value) FROM leads"
                        " WHERE quote_value IS NOT NULL AND sales_value IS NOT NULL"
                    )
                ).all()
                assert kinds == [("text", "text")]  # decimal text, never a float
                stamp = (
                    await conn.exec_driver_sql("SELECT date_created FROM leads LIMIT 1")
                ).scalar_one()
                assert isinstance(stamp, str) and len(stamp) == 26  # fixed-width UTC text
            else:
                types = dict(
                    (
                        await conn.exec_driver_sql(
                            "SELECT column_name, data_type FROM information_schema.columns"
                            " WHERE table_name = 'leads'"
                        )
                    ).all()
                )
                assert types["quote_value"] == "numeric"
                assert types["date_created"] == "timestamp with time zone"
                assert types["additional_fields"] == "jsonb"
                assert types["record"] == "text"


def _everything(exc: BaseException) -> str:
    parts = ["".join(traceback.format_exception(exc))]
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        parts += [str(item), repr(item), repr(item.args), *map(repr, vars(item).values())]
        todo += [item.__cause__, item.__context__]
    return "\n".join(parts)


async def test_database_password_never_shown(
    wc: WhatConverts, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("asyncpg")
    secret = "S3cretDbPassw0rd"
    url = f"postgresql://mirror:{secret}@127.0.0.1:9/crm"
    mirror = LeadMirror(wc, url)
    assert secret not in repr(mirror) and secret not in mirror.database
    assert "***" in mirror.database
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as caught:
        await mirror.open()
    assert secret not in _everything(caught.value)
    assert secret not in caplog.text
    with pytest.raises(InvalidParameterError) as bad:
        database_url(f"postgresql://u:{secret}@[::1")
    assert secret not in _everything(bad.value)
    with pytest.raises(InvalidParameterError, match="SQLite or PostgreSQL"):
        database_url("mysql://u@h/db")


async def test_bad_arguments_fail_before_any_request(
    fake: FakeWhatConverts, wc: WhatConverts, tmp_path: object
) -> None:
    db = f"{tmp_path}/m.db"
    for kwargs, name in (
        ({"prefetch": 0}, "prefetch"),
        ({"page_size": 0}, "page_size"),
        ({"account_id": 1, "profile_id": 2}, "profile_id"),
        ({"key_name": ""}, "key_name"),
        ({"lease_seconds": 0}, "lease_seconds"),
    ):
        with pytest.raises(InvalidParameterError, match=name):
            LeadMirror(wc, db, **kwargs)  # type: ignore[arg-type]
    async with LeadMirror(wc, db) as mirror:
        with pytest.raises(InvalidParameterError, match="start_date"):
            await mirror.backfill(start_date="2020-13-01")
        with pytest.raises(InvalidParameterError, match="end_date"):
            await mirror.backfill(start_date="2020-01-02", end_date="2020-01-01")
    assert fake.request_count == 0


async def test_run_refreshes_when_due_and_survives_api_errors(
    fake: FakeWhatConverts, wc: WhatConverts, tmp_path: object
) -> None:
    async with LeadMirror(wc, f"{tmp_path}/m.db") as mirror:
        await mirror.backfill(start_date=NOW - timedelta(days=200))
        fake.faults.fail_next(1, 500)
        reports = []
        stop = asyncio.Event()

        def seen(report: object) -> None:
            reports.append(report)
            stop.set()

        await asyncio.wait_for(mirror.run(poll_seconds=0.05, on_report=seen, stop=stop), 30)
        assert reports and reports[0].tiers == ("hot", "warm", "cold")


@pytest.mark.parametrize("poll", [0, -1, float("nan"), float("inf"), "60", True])
async def test_run_refuses_a_bad_poll_interval_before_any_request(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts, poll: object
) -> None:
    async with LeadMirror(wc, db_url) as mirror:
        with pytest.raises(InvalidParameterError, match="poll_seconds"):
            await mirror.run(poll_seconds=poll)  # type: ignore[arg-type]
    assert fake.request_count == 0
