"""Bad input is always ``InvalidParameterError`` naming the parameter, before any request.

Every call here runs against the simulator, and the simulator counts zero requests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from whatconverts_async import InvalidParameterError, WhatConverts
from whatconverts_async.params import check_money, check_path, to_utc_datetime
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for

UTC = timezone.utc
FAR_WEST = timezone(timedelta(hours=-12))
FAR_EAST = timezone(timedelta(hours=14))


@pytest.fixture
async def sim() -> AsyncIterator[tuple[FakeWhatConverts, WhatConverts]]:
    async with FakeWhatConverts(leads=20, seed=8) as fake, client_for(fake) as wc:
        yield fake, wc


class _BytesPath(os.PathLike):  # type: ignore[type-arg]
    def __fspath__(self) -> bytes:
        return b"/tmp/call.mp3"


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


CASES: list[tuple[str, Callable[[WhatConverts, Path], Any], str]] = [
    # dates at the ends of the calendar (OverflowError before)
    (
        "far end date",
        lambda wc, _: _drain(
            wc.leads.iterate(start_date=date(2024, 1, 1), end_date=date(9999, 12, 31))
        ),
        "end_date",
    ),
    (
        "far end date, one page",
        lambda wc, _: wc.leads.list(start_date=date(9999, 12, 1), end_date=date(9999, 12, 31)),
        "start_date",
    ),
    (
        "datetime.max west of UTC",
        lambda wc, _: wc.leads.list(end_date=datetime.max.replace(tzinfo=FAR_WEST)),
        "end_date",
    ),
    (
        "datetime.min east of UTC",
        lambda wc, _: _drain(wc.leads.iterate(start_date=datetime.min.replace(tzinfo=FAR_EAST))),
        "start_date",
    ),
    (
        "year 1 as text",
        lambda wc, _: wc.leads.list(start_date="0001-01-01T00:00:00+14:00"),
        "start_date",
    ),
    ("before 1970", lambda wc, _: wc.accounts.list(start_date=date(1969, 12, 31)), "start_date"),
    (
        "back-dated create in year 1",
        lambda wc, _: wc.leads.create(
            lead_type="web_form", date_created=datetime.min.replace(tzinfo=FAR_EAST)
        ),
        "date_created",
    ),
    (
        "an end before the lists' default start",
        lambda wc, _: _drain(wc.accounts.iterate(end_date=date(1999, 1, 1))),
        "start_date",
    ),
    # paths
    (
        "NUL in a download path",
        lambda wc, tmp: wc.recordings.download(1, f"{tmp}/a\x00b.mp3"),
        "path",
    ),
    ("a download path that is a number", lambda wc, _: wc.recordings.download(1, 42), "path"),
    ("a download path of bytes", lambda wc, _: wc.recordings.download(1, b"/tmp/x.mp3"), "path"),
    ("a PathLike giving bytes", lambda wc, _: wc.recordings.download(1, _BytesPath()), "path"),
    ("an empty download path", lambda wc, _: wc.recordings.download(1, ""), "path"),
    # empty text filters
    ("empty email filter", lambda wc, _: wc.leads.list(email_address=""), "email_address"),
    (
        "blank source filter",
        lambda wc, _: _drain(wc.leads.iterate(start_date=date(2024, 1, 1), lead_source="  ")),
        "lead_source",
    ),
    (
        "NUL in a text filter",
        lambda wc, _: wc.leads.list(lead_campaign="spring\x00"),
        "lead_campaign",
    ),
    # no-op updates
    (
        "update with an empty mapping",
        lambda wc, _: wc.leads.update(1, additional_fields={}),
        "additional_fields",
    ),
    ("update with nothing", lambda wc, _: wc.leads.update(1), "update"),
    # numbers that cannot be meant
    (
        "huge Decimal in additional_fields",
        lambda wc, _: wc.leads.update(1, additional_fields={"Budget": Decimal("1e100000")}),
        "additional_fields",
    ),
    (
        "NaN in additional_fields",
        lambda wc, _: wc.leads.update(1, additional_fields={"Budget": Decimal("NaN")}),
        "additional_fields",
    ),
    (
        "infinity in mapped_fields",
        lambda wc, _: wc.leads.create(
            lead_type="web_form", mapped_fields={"X": Decimal("Infinity")}
        ),
        "mapped_fields",
    ),
    (
        "huge int in additional_fields",
        lambda wc, _: wc.leads.create(lead_type="web_form", additional_fields={"Seats": 10**5000}),
        "additional_fields",
    ),
    (
        "huge sales value",
        lambda wc, _: wc.leads.update(1, sales_value=Decimal("1e100000")),
        "sales_value",
    ),
    (
        "tiny quote value",
        lambda wc, _: wc.leads.update(1, quote_value=Decimal("1e-100000")),
        "quote_value",
    ),
    (
        "sNaN sales value",
        lambda wc, _: wc.leads.update(1, sales_value=Decimal("sNaN")),
        "sales_value",
    ),
    (
        "NUL in a create field",
        lambda wc, _: wc.leads.create(lead_type="web_form", notes="a\x00b"),
        "notes",
    ),
]


@pytest.mark.parametrize(
    ("call", "parameter"), [(c, p) for _, c, p in CASES], ids=[n for n, _, _ in CASES]
)
async def test_bad_input_is_refused_before_the_wire(
    sim: tuple[FakeWhatConverts, WhatConverts],
    tmp_path: Path,
    call: Callable[[WhatConverts, Path], Any],
    parameter: str,
) -> None:
    fake, wc = sim
    with pytest.raises(InvalidParameterError) as info:
        await call(wc, tmp_path)
    assert info.value.parameter == parameter
    assert fake.request_count == 0
    assert list(tmp_path.iterdir()) == []


def test_the_calendar_bounds_are_inclusive_and_named() -> None:
    assert to_utc_datetime(date(1970, 1, 1), "start_date").year == 1970
    assert to_utc_datetime(date(9000, 12, 31), "end_date", end_of_day=True).year == 9000
    with pytest.raises(InvalidParameterError, match=r"between 1970-01-01 and 9000-12-31"):
        to_utc_datetime(date(9001, 1, 1), "end_date")


def test_money_within_forty_digits_is_kept_exactly() -> None:
    assert check_money(Decimal("123456789012345678901234567890.12"), "x") == Decimal(
        "123456789012345678901234567890.12"
    )
    assert check_money("0.0000000001", "x") == Decimal("0.0000000001")


def test_check_path_accepts_str_and_pathlike(tmp_path: Path) -> None:
    assert check_path(tmp_path / "a.mp3", "path") == tmp_path / "a.mp3"
    assert check_path("a.mp3", "path") == "a.mp3"
