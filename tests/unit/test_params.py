"""Argument checking and wire encoding (pure)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from whatconverts_async import InvalidParameterError, LeadType
from whatconverts_async.params import (
    check_additional_fields,
    check_choice,
    check_int_range,
    check_lead_filters,
    check_money,
    encode_form,
    encode_query,
    format_datetime,
    to_utc_datetime,
)
from whatconverts_async.vocab import LEAD_FILTERS, FilterSpec

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


def test_money_has_one_rule_for_every_caller() -> None:
    assert check_money(Decimal("-0"), "tax") == Decimal(0)
    assert check_money(" 12.50 ", "tax") == Decimal("12.50")
    # A float is not the amount it looks like; refused rather than rounded.
    with pytest.raises(InvalidParameterError, match="floats are inexact"):
        check_money(0.1, "sales_value")
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-0.01"), [], object()):
        with pytest.raises(InvalidParameterError, match="quote_value"):
            check_money(bad, "quote_value")


def test_additional_fields_have_one_rule() -> None:
    assert check_additional_fields({"Plan": "Pro", "Seats": 3, "Budget": Decimal("1E+3")}) == {
        "Plan": "Pro",
        "Seats": "3",
        "Budget": "1000",
    }
    for bad_name in ("", "  ", "a[b]", 5):
        with pytest.raises(InvalidParameterError) as info:
            check_additional_fields({bad_name: "x"})
        assert info.value.parameter == "additional_fields"
    for bad_value in (None, True, 1.5, ["x"]):
        with pytest.raises(InvalidParameterError) as info:
            check_additional_fields({"a": bad_value})
        assert info.value.parameter == "additional_fields"
        with pytest.raises(InvalidParameterError) as info:
            check_additional_fields({"a": bad_value}, name_each=True)
        assert info.value.parameter == "additional_fields['a']"
    with pytest.raises(InvalidParameterError, match="mapping"):
        check_additional_fields(["a"])


def test_lead_filters_follow_the_table() -> None:
    assert set(LEAD_FILTERS) >= {"user_id", "customer_journey", "lead_content"}
    checked = check_lead_filters(
        {
            "lead_type": "Text Message",
            "lead_status": "REPEAT",
            "quote_value": "has-value",
            "customer_journey": True,
            "user_id": "51497-af17",
            "account_id": 9,
            "spam": None,
        },
        master=True,
    )
    assert checked == {
        "lead_type": "text_message",
        "lead_status": "repeat",
        "quote_value": "has_value",
        "customer_journey": True,
        "user_id": "51497-af17",
        "account_id": 9,
    }
    for name, bad in (("lead_status", "new"), ("duplicate", 1), ("email_address", 5)):
        with pytest.raises(InvalidParameterError) as info:
            check_lead_filters({name: bad}, master=True)
        assert info.value.parameter == name
    with pytest.raises(InvalidParameterError, match="master"):
        check_lead_filters({"profile_id": 5}, master=False)
    with pytest.raises(InvalidParameterError, match="known filters: account_id"):
        check_lead_filters({"type": "chat"}, master=False)


def test_the_filter_table_checks_its_own_rows() -> None:
    with pytest.raises(ValueError, match="choice"):
        FilterSpec("lead_type", "choice", "no values")
    with pytest.raises(ValueError, match="kind"):
        FilterSpec("x", "number", "?")  # type: ignore[arg-type]
    assert {spec.kind for spec in LEAD_FILTERS.values()} == {"choice", "text", "bool", "id"}
