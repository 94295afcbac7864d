"""Argument checking and wire encoding (pure)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from whatconverts_async import InvalidParameterError, LeadType
from whatconverts_async.params import (
    check_choice,
    check_int_range,
    check_money,
    encode_form,
    encode_query,
    format_datetime,
    to_utc_datetime,
)

UTC = timezone.utc


def test_dates_of_every_accepted_kind() -> None:
    assert to_utc_datetime(date(2025, 1, 2), "start_date") == datetime(2025, 1, 2, tzinfo=UTC)
    assert to_utc_datetime(date(2025, 1, 2), "end_date", end_of_day=True) == datetime(
        2025, 1, 2, 23, 59, 59, tzinfo=UTC
    )
    # naive datetimes are taken as UTC
    assert to_utc_datetime(datetime(2025, 1, 2, 3, 4, 5, 678), "x") == datetime(
        2025, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    est = timezone(timedelta(hours=-5))
    assert to_utc_datetime(datetime(2025, 1, 2, 22, tzinfo=est), "x") == datetime(
        2025, 1, 3, 3, tzinfo=UTC
    )
    assert to_utc_datetime("2025-01-02T03:04:05Z", "x") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert to_utc_datetime("2025-01-02T03:04:05+01:00", "x") == datetime(
        2025, 1, 2, 2, 4, 5, tzinfo=UTC
    )
    assert to_utc_datetime("2025-01-02", "x") == datetime(2025, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["yesterday", "2025-13-01", "", 20250101, None, [2025]])
def test_bad_dates_name_the_parameter(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match=r"^start_date ") as info:
        to_utc_datetime(bad, "start_date")
    assert info.value.parameter == "start_date"
    assert isinstance(info.value, ValueError)


def test_int_ranges() -> None:
    assert check_int_range(2500, "leads_per_page", 1, 2500) == 2500
    for bad in (0, 2501, True, 2.0, "5"):
        with pytest.raises(InvalidParameterError, match="leads_per_page"):
            check_int_range(bad, "leads_per_page", 1, 2500)


def test_choices_accept_wire_values_display_strings_and_enums() -> None:
    allowed = ("phone_call", "web_form")
    assert check_choice("phone_call", "lead_type", allowed) == "phone_call"
    assert check_choice("Phone Call", "lead_type", allowed) == "phone_call"
    assert check_choice(LeadType.WEB_FORM, "lead_type", allowed) == "web_form"
    with pytest.raises(
        InvalidParameterError, match="lead_type must be one of phone_call, web_form"
    ):
        check_choice("fax", "lead_type", allowed)


def test_money() -> None:
    assert check_money(750, "sales_value") == Decimal("750")
    assert check_money("12.50", "sales_value") == Decimal("12.50")
    for bad in (-1, "abc", float("nan"), True, None):
        with pytest.raises(InvalidParameterError, match="sales_value"):
            check_money(bad, "sales_value")


def test_encoding() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_datetime(moment) == "2025-01-02T03:04:05Z"
    assert encode_query(
        {"start_date": moment, "spam": False, "lead_type": LeadType.PHONE_CALL, "x": None, "n": 3}
    ) == [
        ("start_date", "2025-01-02T03:04:05Z"),
        ("spam", "false"),
        ("lead_type", "phone_call"),
        ("n", "3"),
    ]
    assert encode_form(
        {
            "sales_value": Decimal("750.50"),
            "send_notification": True,
            "additional_fields": {"Plan": "Pro", "Seats": 3, "Skip": None},
        }
    ) == [
        ("sales_value", "750.50"),
        ("send_notification", "true"),
        ("additional_fields[Plan]", "Pro"),
        ("additional_fields[Seats]", "3"),
    ]
