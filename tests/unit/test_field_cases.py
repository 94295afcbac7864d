"""Field cases 03, 07 and 21 (tests/samples/field-cases), each with a second example of its kind.

* case-03, documented fields not modelled: the official transaction webhook's fields are typed.
* case-07, the same bytes under both decoders: a body with a byte-order mark is lead 1000.
* case-21, one odd value must not cost a page: an unreadable optional value becomes None with
  the original kept; essential fields still fail loudly.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from whatconverts_async import _json
from whatconverts_async.convert import structure, structure_lead, structure_page, unstructure_page
from whatconverts_async.models import (
    Account,
    Lead,
    LeadStatus,
    LeadType,
    Profile,
    Quotable,
    TrackingNumber,
    User,
)
from whatconverts_async.webhooks import WebhookError, WebhookTrigger, parse_webhook

from .test_json import WITH_ORJSON, WITHOUT_ORJSON

SAMPLES = Path(__file__).parent.parent / "samples" / "field-cases"
UTC = timezone.utc


def assert_identical(left: Any, right: Any) -> None:
    """Equal, and with the same types all the way down (key order aside)."""
    assert type(left) is type(right), (left, right)
    if isinstance(left, dict):
        assert sorted(left) == sorted(right)
        for key in left:
            assert_identical(left[key], right[key])
    elif isinstance(left, list):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_identical(a, b)
    else:
        assert left == right


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# --- case-03: the documented transaction webhook ------------------------------------------


def test_case_03_transaction_webhook_fields_are_typed() -> None:
    body = sample("case-03.json")
    event = parse_webhook(body)
    lead = event.lead
    assert event.trigger is WebhookTrigger.NEW
    assert lead.lead_type is LeadType.TRANSACTION
    assert lead.transaction_id == "12345"
    assert lead.transaction_tax == Decimal("2.56")
    assert lead.transaction_shipping == Decimal("1.53")
    assert type(lead.transaction_tax) is Decimal and type(lead.transaction_shipping) is Decimal
    assert lead.sales_value == Decimal("156.87")
    assert lead.field_mappings == {
        "Company Name": "Example Company",
        "Contact Person": "Test Person",
        "Email": "person@example.com",
        "Phone Number": "(704) 555-0100",
    }
    assert lead.mapped_fields == {} and "mapped_fields" in lead.absent_keys
    assert lead.extra == {}, "every documented field is typed, none left in extra"
    assert lead.unreadable_fields == frozenset()
    assert_identical(event.to_dict(), json.loads(body))


def test_transaction_fields_second_example_with_both_maps_and_old_names() -> None:
    wire: dict[str, Any] = {
        "lead_id": 9,
        "lead_type": "Transaction",
        "transaction_id": 778899,  # a number where the docs show text: kept exactly
        "transaction_tax": "0.50",
        "transaction_shipping": 0,
        "field_mappings": [],
        "mapped_fields": {"Email": "a@example.com"},
        "order_id": "A-1",  # names data from before the documented ones may carry
        "tax": 1.5,
        "shipping": None,
    }
    lead = structure_lead(wire)
    assert lead.transaction_id == "778899"
    assert lead.transaction_tax == Decimal("0.50") and lead.transaction_shipping == Decimal(0)
    assert lead.field_mappings == {} and lead.mapped_fields == {"Email": "a@example.com"}
    assert (lead.order_id, lead.tax, lead.shipping) == ("A-1", Decimal("1.5"), None)
    assert lead.extra == {}
    assert_identical(lead.to_dict(), wire)
    handmade = Lead(lead_id=1, transaction_tax=Decimal("2.56"), transaction_id="T-1").to_dict()
    assert_identical(handmade["transaction_tax"], 2.56)
    assert handmade["transaction_id"] == "T-1" and handmade["field_mappings"] == {}


# --- case-07: a byte-order mark, with and without orjson ------------------------------------


@pytest.mark.parametrize("module", [WITH_ORJSON, WITHOUT_ORJSON], ids=["orjson", "json"])
def test_case_07_bom_body_is_lead_1000(module: Any) -> None:
    page = structure_page(module.loads(sample("case-07.bin")), Lead)
    assert [lead.lead_id for lead in page] == [1000]


@pytest.mark.parametrize("module", [WITH_ORJSON, WITHOUT_ORJSON], ids=["orjson", "json"])
def test_bom_second_example_webhook_text_and_bytes(module: Any) -> None:
    body = '\ufeff{"trigger": "new", "lead_id": 5, "notes": "Zoë"}'
    assert module.loads(body) == module.loads(body.encode("utf-8"))
    event = parse_webhook(body.encode("utf-8"))
    assert (event.lead_id, event.lead.notes) == (5, "Zoë")
    assert parse_webhook(body).to_dict() == event.to_dict()


# --- case-21: one odd value must not cost a page --------------------------------------------


def test_case_21_zero_date_does_not_cost_the_page() -> None:
    envelope = _json.loads(sample("case-21.json"))
    page = structure_page(envelope, Lead)
    assert [lead.lead_id for lead in page] == [201, 202, 203]
    odd = page.items[1]
    assert odd.last_updated is None
    assert odd.wire_originals == {"last_updated": "0000-00-00 00:00:00"}
    assert odd.unreadable_fields == {"last_updated"}
    assert odd.date_created == datetime(2025, 1, 2, 11, 0, tzinfo=UTC)
    assert page.items[0].unreadable_fields == frozenset()
    assert_identical(odd.to_dict(), envelope["leads"][1])
    assert_identical(unstructure_page(page, Lead), envelope)


def test_case_21_same_lead_as_a_webhook_is_accepted() -> None:
    lead = json.loads(sample("case-21.json"))["leads"][1]
    body = {"trigger": "update", **lead}
    event = parse_webhook(json.dumps(body))
    assert event.lead.last_updated is None
    assert event.to_dict() == body
    assert event.key.startswith("202:update::sha256-")


# Second examples of the kind, one per field kind: (field, unreadable wire value, read as).
ODD_VALUES: list[tuple[str, Any, Any]] = [
    ("lead_score", "fifty", None),  # int
    ("call_duration_seconds", [95], None),  # int
    ("quote_value", "n/a", None),  # money
    ("sales_value", {"amount": 5}, None),  # money
    ("spam", "maybe", None),  # bool
    ("duplicate", 2, None),  # bool
    ("last_updated", "0000-00-00 00:00:00", None),  # timestamp
    ("last_updated", 1735812000, None),  # timestamp as epoch seconds
    ("last_updated", "2025-02-30T10:00:00Z", None),  # timestamp, no such day
    ("lead_type", 5, None),  # enum
    ("quotable", ["Yes"], None),  # enum
    ("lead_status", {"x": 1}, None),  # enum
    ("lead_analysis", "none", {}),  # map
    ("additional_fields", ["Name: Jo"], {}),  # map
    ("field_mappings", 0, {}),  # map
    ("contact_name", {"first": "Jo"}, None),  # text
]


@pytest.mark.parametrize(("key", "odd", "typed"), ODD_VALUES)
def test_one_odd_value_of_each_kind_keeps_the_lead_and_the_page(
    key: str, odd: Any, typed: Any
) -> None:
    leads = [
        {"lead_id": 1, "date_created": "2025-01-02T10:00:00Z", "lead_type": "Chat"},
        {"lead_id": 2, "date_created": "2025-01-02T11:00:00Z", key: odd},
        {"lead_id": 3, "date_created": "2025-01-02T12:00:00Z"},
    ]
    envelope = {
        "page_number": 1,
        "leads_per_page": 25,
        "total_pages": 1,
        "total_leads": 3,
        "leads": leads,
    }
    page = structure_page(json.loads(json.dumps(envelope)), Lead)
    assert [lead.lead_id for lead in page] == [1, 2, 3]
    lead = page.items[1]
    assert getattr(lead, key) == typed
    assert lead.wire_originals == {key: odd}
    assert lead.unreadable_fields == {key}
    assert_identical(lead.to_dict(), leads[1])
    assert_identical(unstructure_page(page, Lead), envelope)
    event = parse_webhook(json.dumps({"trigger": "new", **leads[1]}))
    assert event.lead == lead and event.to_dict() == {"trigger": "new", **leads[1]}


def test_values_that_are_readable_are_not_unreadable() -> None:
    lead = structure_lead(
        {
            "lead_id": 1,
            "lead_score": "50",
            "quote_value": "12.50",
            "spam": "true",
            "last_updated": "2025-01-02 10:00:00",
            "lead_type": "Video Call",
            "lead_analysis": [],
            "additional_fields": None,
            "notes": "",
            "tracking_number": 17045550100,
            "quotable": "Not Set",
            "lead_status": "Repeat",
        }
    )
    assert lead.unreadable_fields == frozenset()
    assert (lead.lead_score, lead.quote_value, lead.spam) == (50, Decimal("12.50"), True)
    assert lead.lead_type == "Video Call" and lead.quotable is Quotable.NOT_SET
    assert lead.lead_status is LeadStatus.REPEAT


def test_an_evolved_field_is_no_longer_unreadable() -> None:
    import attrs

    lead = structure_lead({"lead_id": 1, "last_updated": "0000-00-00 00:00:00"})
    moment = datetime(2025, 1, 2, tzinfo=UTC)
    fixed = attrs.evolve(lead, last_updated=moment)
    assert fixed.unreadable_fields == frozenset()
    assert fixed.to_dict() == {"lead_id": 1, "last_updated": "2025-01-02T00:00:00Z"}


def test_a_value_set_on_a_key_absent_from_the_wire_is_written() -> None:
    import attrs

    wire = {"lead_id": 1, "date_created": "2025-01-02T00:00:00Z"}
    lead = structure_lead(wire)
    assert "notes" in lead.absent_keys and lead.to_dict() == wire
    assert attrs.evolve(lead, notes="call back").to_dict() == {**wire, "notes": "call back"}
    analysis = {"Intent": "Sales"}
    evolved = attrs.evolve(lead, lead_analysis=analysis, lead_score=0)
    assert evolved.to_dict() == {**wire, "lead_analysis": analysis, "lead_score": 0}
    # Still empty: still left out, so an unchanged field never turns into a null.
    assert attrs.evolve(lead, notes=None, lead_analysis={}).to_dict() == wire
    account = structure({"account_id": 7}, Account)
    assert attrs.evolve(account, account_name="Acme").to_dict() == {
        "account_id": 7,
        "account_name": "Acme",
    }
    profile = structure({"account_id": 7, "profiles": [{"profile_id": 3}]}, Account)
    assert attrs.evolve(profile, account_name="A").to_dict()["profiles"] == [{"profile_id": 3}]


@pytest.mark.parametrize(
    ("wire", "fragment"),
    [
        ({"lead_id": "abc"}, "Lead.lead_id"),
        ({"lead_id": None}, "Lead.lead_id"),
        ({"lead_id": 1, "date_created": "0000-00-00 00:00:00"}, "Lead.date_created"),
        ({"lead_id": 1, "date_created": 1735812000}, "Lead.date_created"),
        ({"lead_id": 1, "date_created": {"at": "now"}}, "Lead.date_created"),
    ],
)
def test_essential_fields_still_fail_the_page_loudly(wire: dict[str, Any], fragment: str) -> None:
    envelope = {
        "page_number": 1,
        "leads_per_page": 25,
        "total_pages": 1,
        "total_leads": 2,
        "leads": [{"lead_id": 7}, wire],
    }
    with pytest.raises(ValueError, match=r"malformed response: leads\[1\]") as info:
        structure_page(envelope, Lead)
    assert fragment in str(info.value)
    with pytest.raises(WebhookError, match=fragment.replace(".", r"\.")):
        parse_webhook(json.dumps(wire))


@pytest.mark.parametrize(
    ("record", "wire", "key"),
    [
        (Account, {"account_id": 1, "profiles": "none"}, "profiles"),
        (Profile, {"profile_id": 1, "account_id": "x"}, "account_id"),
        (User, {"user_id": 1, "pending_activation": "perhaps"}, "pending_activation"),
        (TrackingNumber, {"phone_number_id": 1, "last_used": "0000-00-00"}, "last_used"),
    ],
)
def test_other_records_keep_an_odd_optional_value(
    record: type, wire: dict[str, Any], key: str
) -> None:
    item: Any = structure(wire, record)
    assert item.unreadable_fields == {key}
    assert_identical(item.to_dict(), wire)
    if record is TrackingNumber:
        return  # it has no creation time
    with pytest.raises(ValueError, match=rf"{record.__name__}\.date_created"):
        structure({**wire, "date_created": "0000-00-00 00:00:00"}, record)
