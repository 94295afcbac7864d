"""Models and the wire conversion, checked against the reference's own sample payloads."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest

from whatconverts_async.convert import (
    ENVELOPE_KEYS,
    converter,
    format_timestamp,
    parse_timestamp,
    structure,
    structure_lead,
    structure_page,
    unstructure,
    unstructure_lead,
    unstructure_page,
)
from whatconverts_async.models import (
    Account,
    Lead,
    LeadStatus,
    LeadType,
    Page,
    Profile,
    Quotable,
    Role,
    TrackingForm,
    TrackingNumber,
    User,
)

UTC = timezone.utc

# Reference §5.2, "compact example".
LEADS_ENVELOPE: dict[str, Any] = {
    "page_number": 1,
    "leads_per_page": 25,
    "total_pages": 1,
    "total_leads": 1,
    "leads": [
        {
            "account_id": 70011,
            "account": "Acme Dental",
            "profile_id": 80022,
            "profile": "Main site",
            "lead_id": 900001,
            "user_id": "80022-0b6f1c2a-1111-2222-3333-444455556666",
            "lead_type": "Phone Call",
            "lead_status": "Unique",
            "lead_score": 40,
            "lead_state": "Completed",
            "date_created": "2025-06-01T14:00:00Z",
            "last_updated": "2025-06-01T14:06:10Z",
            "quotable": "Not Set",
            "quote_value": None,
            "sales_value": None,
            "spotted_keywords": "",
            "lead_analysis": [],
            "lead_source": "google",
            "lead_medium": "organic",
            "lead_campaign": None,
            "lead_content": None,
            "lead_keyword": None,
            "lead_url": "https://acme.example/contact",
            "landing_url": "https://acme.example/",
            "operating_system": "Windows 11",
            "browser": "Edge 125",
            "device_type": "Desktop",
            "device_make": "",
            "ip_address": "198.51.100.20",
            "spam": False,
            "duplicate": False,
            "contact_name": "",
            "contact_company_name": "",
            "contact_email_address": "",
            "contact_phone_number": "",
            "email_address": "",
            "phone_number": "",
            "call_status": "Completed",
            "phone_name": "Website",
            "call_duration": "95 seconds",
            "call_duration_seconds": 95,
            "tracking_number": "+17045550100",
            "destination_number": "+17045550199",
            "caller_number": "+19805550123",
            "caller_name": "J SMITH",
            "caller_city": "Charlotte",
            "caller_state": "NC",
            "caller_country": "US",
            "answer_status": "Answered",
            "line_type": "Landline",
            "recording": "https://app.whatconverts.com/recording/r-abc123/download",
            "play_recording": "https://app.whatconverts.com/recording/r-abc123/play",
            "call_transcription": "Agent\nHello…",
            "city": "Charlotte",
            "state": "NC",
            "country": "US",
            "additional_fields": [],
        }
    ],
}

# Reference §8, webhook payload.
WEBHOOK: dict[str, Any] = {
    "trigger": "new",
    "lead_id": 153928,
    "user_id": "51497-af17340d-62b8-3044-423f-3dc754e621c2",
    "lead_type": "Phone Call",
    "lead_status": "Unique",
    "lead_analysis": {
        "Keyword Detection": "quote,price",
        "Lead Summary": "Caller asked for a quote.",
        "Intent Detection": "Wants pricing",
        "Sentiment Detection": "Positive",
        "Topic Detection": "pricing",
    },
    "last_updated": "2025-02-01T14:10:00Z",
    "date_created": "2025-02-01T14:09:01Z",
    "quotable": "Not Set",
    "quote_value": None,
    "sales_value": None,
    "spotted_keywords": "quote",
    "lead_score": 50,
    "lead_state": "In Progress",
    "profile": "My Profile",
    "profile_id": 51497,
    "account": "My Account",
    "account_id": 27313,
    "lead_url": "https://example.com/contact",
    "landing_url": "https://example.com/",
    "operating_system": "iOS 17",
    "browser": "Safari 17",
    "device_type": "Smartphone",
    "device_make": "Apple iPhone",
    "call_status": "In Progress",
    "phone_name": "Google Ads",
    "tracking_number": "+17045550100",
    "destination_number": "+17045550199",
    "caller_number": "+18035550123",
    "caller_name": "WIRELESS CALLER",
    "city": "Charlotte",
    "state": "NC",
    "zip": "28226",
    "country": "US",
    "line_type": "Landline",
    "lead_source": "google",
    "lead_medium": "cpc",
    "lead_campaign": "brand",
    "lead_content": "ad 1",
    "lead_keyword": "dentist",
    "ip_address": "198.51.100.20",
    "notes": "",
    "contact_name": "Jane Roe",
    "contact_company_name": "",
    "contact_email_address": "jane@example.com",
    "contact_phone_number": "+18035550123",
    "email_address": "jane@example.com",
    "phone_number": "+18035550123",
}


def assert_identical(left: Any, right: Any) -> None:
    """Equal, and with the same types all the way down (``1 == 1.0 == True`` is not enough)."""
    assert type(left) is type(right), (left, right)
    if isinstance(left, dict):
        assert list(sorted(left)) == list(sorted(right))
        for key in left:
            assert_identical(left[key], right[key])
    elif isinstance(left, list):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_identical(a, b)
    else:
        assert left == right


# --- sample payloads --------------------------------------------------------------------


def test_compact_example_page() -> None:
    page = structure_page(LEADS_ENVELOPE, Lead, "leads", "leads_per_page", "total_leads")
    assert (page.page_number, page.per_page, page.total_pages, page.total_items) == (1, 25, 1, 1)
    assert not page.has_next
    assert len(page) == 1
    (lead,) = list(page)
    assert lead.lead_id == 900001
    assert lead.account_id == 70011
    assert lead.user_id == "80022-0b6f1c2a-1111-2222-3333-444455556666"
    assert lead.lead_type is LeadType.PHONE_CALL
    assert lead.lead_status is LeadStatus.UNIQUE
    assert lead.quotable is Quotable.NOT_SET
    assert lead.date_created == datetime(2025, 6, 1, 14, 0, tzinfo=UTC)
    assert lead.last_updated is not None and lead.last_updated.tzinfo is UTC
    assert lead.quote_value is None
    assert lead.lead_analysis == {} and lead.additional_fields == {}
    assert lead.call_duration_seconds == 95
    assert lead.spam is False and lead.duplicate is False
    assert lead.lead_campaign is None and lead.device_make == ""
    assert lead.extra == {}
    assert lead.wire_originals == {"lead_analysis": [], "additional_fields": []}
    assert "zip" in lead.absent_keys and "lead_id" not in lead.absent_keys
    assert_identical(unstructure_lead(lead), LEADS_ENVELOPE["leads"][0])
    assert_identical(unstructure_page(page, Lead), LEADS_ENVELOPE)


def test_webhook_payload() -> None:
    lead = Lead.from_dict(WEBHOOK)
    assert lead.extra == {"trigger": "new"}
    assert lead.lead_analysis["Lead Summary"] == "Caller asked for a quote."
    assert lead.lead_state == "In Progress"
    assert lead.notes == ""
    assert lead.date_created == datetime(2025, 2, 1, 14, 9, 1, tzinfo=UTC)
    assert_identical(lead.to_dict(), WEBHOOK)


def test_structure_does_not_share_or_mutate_input() -> None:
    wire = copy.deepcopy(WEBHOOK)
    lead = structure_lead(wire)
    assert wire == WEBHOOK
    wire["lead_analysis"]["Lead Summary"] = "changed"
    assert lead.lead_analysis["Lead Summary"] == "Caller asked for a quote."
    out = lead.to_dict()
    out["lead_analysis"]["Lead Summary"] = "changed again"
    assert lead.lead_analysis["Lead Summary"] == "Caller asked for a quote."


# --- empty values -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["lead_analysis", "additional_fields", "mapped_fields"])
@pytest.mark.parametrize("wire_value", [[], {}, None])
def test_empty_maps(key: str, wire_value: Any) -> None:
    wire = {"lead_id": 1, key: wire_value}
    lead = structure_lead(wire)
    assert getattr(lead, key) == {}
    assert_identical(unstructure_lead(lead), wire)


def test_null_and_empty_string_stay_distinct() -> None:
    wire = {"lead_id": 1, "notes": "", "contact_name": None}
    lead = structure_lead(wire)
    assert lead.notes == "" and lead.contact_name is None
    assert lead.to_dict() == wire
    assert "zip" in lead.absent_keys
    assert "zip" not in lead.to_dict()


def test_handmade_lead_writes_every_known_field() -> None:
    out = Lead(lead_id=5, contact_name="Jo").to_dict()
    names = {f.name for f in attrs.fields(Lead)} - {"extra", "absent_keys", "wire_originals"}
    assert set(out) == names
    assert out["contact_name"] == "Jo" and out["lead_analysis"] == {} and out["notes"] is None


# --- enums ------------------------------------------------------------------------------


def test_enum_values_are_display_strings() -> None:
    display: str = LeadType.PHONE_CALL
    assert display == "Phone Call"
    assert LeadType.TEXT_MESSAGE.filter_value == "text_message"
    assert Quotable.NOT_SET.filter_value == "not_set"
    assert str(LeadType.WEB_FORM) == "Web Form"
    assert f"{LeadStatus.REPEAT}" == "Repeat"
    assert [t.value for t in LeadType] == [
        "Phone Call",
        "Web Form",
        "Chat",
        "Text Message",
        "Email",
        "Appointment",
        "Event",
        "Transaction",
        "Other",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("phone_call", LeadType.PHONE_CALL),
        ("Phone Call", LeadType.PHONE_CALL),
        (LeadType.PHONE_CALL, LeadType.PHONE_CALL),
        ("  web form ", LeadType.WEB_FORM),
        ("other", LeadType.OTHER),
    ],
)
def test_lead_type_from_filter(value: Any, expected: LeadType) -> None:
    assert LeadType.from_filter(value) is expected


def test_from_filter_other_enums() -> None:
    assert Quotable.from_filter("Not Set") is Quotable.NOT_SET
    assert Quotable.from_filter("pending") is Quotable.PENDING
    assert LeadStatus.from_filter("unique") is LeadStatus.UNIQUE


def test_from_filter_rejects_unknown_values_listing_allowed() -> None:
    with pytest.raises(ValueError, match="lead_type must be one of phone_call, web_form"):
        LeadType.from_filter("fax")
    with pytest.raises(ValueError, match="quotable must be one of yes, no, pending, not_set"):
        Quotable.from_filter("maybe")
    with pytest.raises(ValueError, match="lead_status"):
        LeadStatus.from_filter(3)  # type: ignore[arg-type]


def test_unknown_display_values_are_kept_as_str() -> None:
    wire = {"lead_id": 1, "lead_type": "Voicemail Drop", "lead_status": "New", "quotable": "Maybe"}
    lead = structure_lead(wire)
    assert lead.lead_type == "Voicemail Drop" and not isinstance(lead.lead_type, LeadType)
    assert lead.lead_status == "New" and lead.quotable == "Maybe"
    assert_identical(lead.to_dict(), wire)


def test_enum_of_wrong_type_is_kept_in_extra() -> None:
    wire = {"lead_id": 1, "lead_type": 3}
    lead = structure_lead(wire)
    assert lead.lead_type is None
    assert_identical(lead.to_dict(), wire)


def test_converter_reads_enums_in_both_forms() -> None:
    assert converter.structure("not_set", Quotable) is Quotable.NOT_SET
    assert converter.structure("Phone Call", LeadType) is LeadType.PHONE_CALL
    assert converter.unstructure(LeadType.CHAT) == "Chat"


# --- unknown keys and odd types ---------------------------------------------------------


def test_unknown_keys_go_to_extra_and_back() -> None:
    wire = {"lead_id": 1, "brand_new": {"nested": [1, 2]}, "extra": "a key named extra"}
    lead = structure_lead(wire)
    assert lead.extra == {"brand_new": {"nested": [1, 2]}, "extra": "a key named extra"}
    assert lead.to_dict() == wire


@pytest.mark.parametrize(
    ("key", "wire_value", "typed"),
    [
        ("tracking_number", 17045550100, "17045550100"),
        ("salesforce_user_id", 12345, "12345"),
        ("notes", ["a"], None),
        ("account_id", "70011", 70011),
        ("lead_score", 4.0, 4),
        ("lead_score", "high", None),
        ("lead_score", True, None),
        ("spam", "true", True),
        ("spam", 0, False),
        ("spam", "n/a", None),
        ("quote_value", "12.50", Decimal("12.50")),
        ("quote_value", "n/a", None),
        ("quote_value", True, None),
    ],
)
def test_values_of_unexpected_type_round_trip(key: str, wire_value: Any, typed: Any) -> None:
    wire = {"lead_id": 1, key: wire_value}
    lead = structure_lead(wire)
    assert getattr(lead, key) == typed
    assert_identical(lead.to_dict(), wire)


def test_evolved_field_wins_over_kept_original() -> None:
    lead = structure_lead({"lead_id": 1, "additional_fields": [], "tracking_number": 1704})
    changed = attrs.evolve(lead, additional_fields={"Budget": "5k"}, tracking_number="+1704")
    out = changed.to_dict()
    assert out["additional_fields"] == {"Budget": "5k"}
    assert out["tracking_number"] == "+1704"


# --- money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire_value", "typed"),
    [
        (251, Decimal("251")),
        (251.0, Decimal("251.0")),
        (19.99, Decimal("19.99")),
        (1e16, Decimal("1E+16")),
        (0, Decimal(0)),
        (None, None),
    ],
)
def test_money_is_decimal_and_keeps_its_json_type(wire_value: Any, typed: Any) -> None:
    wire = {"lead_id": 1, "quote_value": wire_value, "tax": wire_value}
    lead = structure_lead(wire)
    assert lead.quote_value == typed and lead.tax == typed
    assert lead.extra == {}
    assert_identical(lead.to_dict(), wire)


def test_handmade_money_is_written_as_json_number() -> None:
    out = Lead(lead_id=1, sales_value=Decimal("750"), tax=Decimal("7.25")).to_dict()
    assert_identical(out["sales_value"], 750)
    assert_identical(out["tax"], 7.25)


# --- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-01T14:00:00Z", datetime(2025, 6, 1, 14, 0, tzinfo=UTC)),
        ("2025-06-01T14:00:00+00:00", datetime(2025, 6, 1, 14, 0, tzinfo=UTC)),
        ("2025-06-01T10:00:00-04:00", datetime(2025, 6, 1, 14, 0, tzinfo=UTC)),
        ("2025-06-01T16:00:00+0200", datetime(2025, 6, 1, 14, 0, tzinfo=UTC)),
        ("2025-06-01T14:00:00.250Z", datetime(2025, 6, 1, 14, 0, 0, 250000, tzinfo=UTC)),
        ("2025-06-01T14:00:00.123456789Z", datetime(2025, 6, 1, 14, 0, 0, 123456, tzinfo=UTC)),
        ("2025-06-01 14:00:00", datetime(2025, 6, 1, 14, 0, tzinfo=UTC)),
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),
    ],
)
def test_timestamp_formats(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is UTC
    wire = {"lead_id": 1, "date_created": text}
    lead = structure_lead(wire)
    assert lead.date_created == expected
    assert lead.date_created is not None and lead.date_created.utcoffset() is not None
    assert lead.to_dict() == wire


def test_timestamp_output_form() -> None:
    moment = datetime(2025, 6, 1, 14, 0, tzinfo=UTC)
    assert format_timestamp(moment) == "2025-06-01T14:00:00Z"
    assert format_timestamp(moment.replace(tzinfo=None)) == "2025-06-01T14:00:00Z"
    assert format_timestamp(moment.astimezone(timezone.max)) == "2025-06-01T14:00:00Z"
    assert Lead(lead_id=1, last_updated=moment).to_dict()["last_updated"] == "2025-06-01T14:00:00Z"


@pytest.mark.parametrize(
    "bad", ["soon", "2025-13-01T00:00:00Z", "2025-06-01T24:00:00Z", "01/06/2025", 1717250400]
)
def test_bad_timestamp_names_the_field(bad: Any) -> None:
    # date_created is essential (it places the lead in its window): unreadable fails loudly.
    with pytest.raises(ValueError, match=r"Lead\.date_created"):
        structure_lead({"lead_id": 1, "date_created": bad})
    for record, wire in ((Profile, {"profile_id": 1}), (Account, {"account_id": 1})):
        with pytest.raises(ValueError, match=rf"{record.__name__}\.date_created"):
            structure(wire | {"date_created": bad}, record)
    # last_updated is optional: the value becomes None, the original is kept and written back.
    wire = {"lead_id": 1, "last_updated": bad}
    lead = structure_lead(wire)
    assert lead.last_updated is None and lead.wire_originals == {"last_updated": bad}
    assert lead.unreadable_fields == {"last_updated"}
    assert_identical(lead.to_dict(), wire)


def test_empty_timestamp_is_none_and_round_trips() -> None:
    lead = structure_lead({"lead_id": 1, "date_created": ""})
    assert lead.date_created is None
    assert lead.to_dict() == {"lead_id": 1, "date_created": ""}


# --- required ids -----------------------------------------------------------------------


def test_lead_id_is_required() -> None:
    with pytest.raises(ValueError, match="malformed Lead: lead_id missing"):
        structure_lead({"account_id": 1})
    with pytest.raises(ValueError, match=r"malformed Lead\.lead_id"):
        structure_lead({"lead_id": "abc"})
    with pytest.raises(ValueError, match=r"malformed Lead\.lead_id"):
        structure_lead({"lead_id": None})
    with pytest.raises(ValueError, match="expected an object"):
        structure_lead([1, 2])  # type: ignore[arg-type]


def test_create_response_round_trips() -> None:
    lead = structure_lead({"lead_id": 66666})
    assert lead.lead_id == 66666
    assert lead.to_dict() == {"lead_id": 66666}


# --- other resources --------------------------------------------------------------------

ACCOUNTS: dict[str, Any] = {
    "page_number": 1,
    "accounts_per_page": 25,
    "total_pages": 1,
    "total_accounts": 1,
    "accounts": [
        {
            "account_id": 70011,
            "account_name": "Acme Dental",
            "date_created": "2021-03-02T15:04:05Z",
            "profiles": [
                {
                    "profile_id": 80022,
                    "profile_name": "Acme Dental – Main",
                    "date_created": "2021-03-02T15:04:05Z",
                }
            ],
        }
    ],
}
PROFILES: dict[str, Any] = {
    "page_number": 1,
    "profiles_per_page": 25,
    "total_pages": 1,
    "total_profiles": 2,
    "profiles": [
        {"profile_id": 80022, "profile_name": "Main site", "date_created": "2021-03-02T15:04:05Z"},
        {
            "profile_id": 80023,
            "profile_name": "Landing pages",
            "date_created": "2022-01-10T09:00:00Z",
        },
    ],
}
USERS: dict[str, Any] = {
    "page_number": 1,
    "users_per_page": 25,
    "total_pages": 1,
    "total_users": 1,
    "users": [
        {
            "user_id": 11,
            "user_type": "master_account_user",
            "email": "ops@example.com",
            "pending_activation": False,
            "role_name": "Administrator",
            "role_id": 501,
            "date_created": "2024-01-02T03:04:05Z",
        }
    ],
}
ROLES: dict[str, Any] = {
    "page_number": 1,
    "roles_per_page": 25,
    "total_pages": 1,
    "total_roles": 1,
    "roles": [{"role_id": 501, "role_type": "master_account_role", "role_name": "Administrator"}],
}
NUMBERS: dict[str, Any] = {
    "numbers_per_page": 25,
    "page_number": 2,
    "total_pages": 3,
    "total_numbers": 60,
    "numbers": [
        {
            "account_id": 70011,
            "profile_id": 80022,
            "profile": "Main site",
            "phone_number_id": 3,
            "phone_name": "Google Ads",
            "tracking_number": "+17045550100",
            "tracking_number_iso_country": "US",
            "destination_number": 17045550199,
            "destination_number_iso_country": "US",
            "swap_number": "+17045550000",
            "call_flow": "Forward",
            "trigger": "Source",
            "source": "google",
            "medium": "cpc",
            "last_used": "2025-06-01T14:00:00Z",
            "call_recording": True,
            "voice": True,
            "messaging": False,
            "pending_activation": False,
        }
    ],
}
FORMS: dict[str, Any] = {
    "page_number": 1,
    "forms_per_page": 25,
    "total_pages": 1,
    "total_forms": 1,
    "forms": [
        {
            "form_id": 9,
            "form_name": "Contact",
            "attribute_type": "id",
            "attribute_type_value": "contact-form",
            "submit_attribute_type": "class",
            "submit_attribute_type_value": "btn",
            "profile": "Main site",
            "profile_id": 80022,
            "account_id": 70011,
        }
    ],
}


@pytest.mark.parametrize(
    ("envelope", "item_type"),
    [
        (LEADS_ENVELOPE, Lead),
        (ACCOUNTS, Account),
        (PROFILES, Profile),
        (USERS, User),
        (ROLES, Role),
        (NUMBERS, TrackingNumber),
        (FORMS, TrackingForm),
    ],
)
def test_envelope_of_each_resource(envelope: dict[str, Any], item_type: type) -> None:
    items_key, per_page_key, total_key = ENVELOPE_KEYS[item_type]
    page: Page[Any] = structure_page(envelope, item_type, items_key, per_page_key, total_key)
    assert page == structure_page(envelope, item_type)
    assert page == converter.structure(envelope, Page[item_type])  # type: ignore[valid-type]
    assert page.per_page == envelope[per_page_key]
    assert page.total_items == envelope[total_key]
    assert page.has_next == (envelope["page_number"] < envelope["total_pages"])
    assert all(isinstance(item, item_type) for item in page)  # leads are lazy subclasses
    assert_identical(unstructure_page(page, item_type), envelope)


def test_account_profiles_are_models() -> None:
    account = structure(ACCOUNTS["accounts"][0], Account)
    assert account.date_created == datetime(2021, 3, 2, 15, 4, 5, tzinfo=UTC)
    (profile,) = account.profiles
    assert isinstance(profile, Profile) and profile.profile_name == "Acme Dental – Main"
    assert profile.account_id is None and "account_id" in profile.absent_keys
    assert_identical(unstructure(account), ACCOUNTS["accounts"][0])


def test_account_create_response_round_trips() -> None:
    wire = {"account_id": 12345678, "account_name": "Barneys Motor Corporation"}
    account = Account.from_dict(wire)
    assert account.profiles == []
    assert account.to_dict() == wire


def test_tracking_number_types() -> None:
    number = structure(NUMBERS["numbers"][0], TrackingNumber)
    assert number.destination_number == "17045550199"
    assert number.call_recording is True and number.messaging is False
    assert number.last_used == datetime(2025, 6, 1, 14, 0, tzinfo=UTC)


def test_page_extra_envelope_keys_kept() -> None:
    envelope = {**ROLES, "next_page_url": None}
    page = structure_page(envelope, Role)
    assert page.extra == {"next_page_url": None}
    assert unstructure_page(page, Role) == envelope


def test_converter_handles_containers() -> None:
    leads = converter.structure([{"lead_id": 1}, {"lead_id": 2}], list[Lead])
    assert [lead.lead_id for lead in leads] == [1, 2]
    assert converter.unstructure(leads) == [{"lead_id": 1}, {"lead_id": 2}]
    assert converter.structure(251, Decimal) == Decimal(251)
    assert converter.structure("2025-06-01T14:00:00Z", datetime).tzinfo is UTC


# --- malformed envelopes ----------------------------------------------------------------


def _leads_envelope(**changes: Any) -> dict[str, Any]:
    envelope = {
        "page_number": 1,
        "leads_per_page": 25,
        "total_pages": 1,
        "total_leads": 1,
        "leads": [{"lead_id": 1}],
    }
    envelope.update(changes)
    return {k: v for k, v in envelope.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total_pages": _DROP}, "total_pages missing"),
        ({"total_pages": -1}, "total_pages must be >= 0"),
        ({"total_pages": 1.5}, "total_pages must be an integer"),
        ({"total_pages": "many"}, "total_pages must be an integer"),
        ({"total_pages": True}, "total_pages must be an integer"),
        ({"total_pages": None}, "total_pages must be an integer"),
        ({"page_number": _DROP}, "page_number missing"),
        ({"leads_per_page": -5}, "leads_per_page must be >= 0"),
        ({"total_leads": _DROP}, "total_leads missing"),
        ({"leads": _DROP}, "leads missing"),
        ({"leads": {"lead_id": 1}}, "leads must be an array"),
        ({"leads": [{"lead_id": 1}, {"lead_type": "Chat"}]}, r"leads\[1\]: malformed Lead"),
        ({"leads": [{"lead_id": 1}, "x"]}, r"leads\[1\]: .*expected an object"),
    ],
)
def test_malformed_envelope(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"malformed response: {message}"):
        structure_page(_leads_envelope(**changes), Lead)


def test_envelope_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="malformed response: expected an object"):
        structure_page([], Lead)  # type: ignore[arg-type]


def test_numeric_string_counters_are_accepted() -> None:
    page = structure_page(_leads_envelope(total_pages="3", page_number="2"), Lead)
    assert page.total_pages == 3 and page.has_next


def test_page_helpers() -> None:
    page: Page[int] = Page(items=[1, 2, 3], page_number=2, per_page=3, total_pages=2, total_items=6)
    assert list(page) == [1, 2, 3] and len(page) == 3 and not page.has_next
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        page.page_number = 3  # type: ignore[misc]


# --- record behaviour -------------------------------------------------------------------


def test_records_are_frozen_slotted_and_picklable() -> None:
    lead = structure_lead(WEBHOOK)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lead.notes = "x"  # type: ignore[misc]
    assert not hasattr(lead, "__dict__")
    again = pickle.loads(pickle.dumps(lead))
    assert again == lead and again.to_dict() == WEBHOOK


def test_equality_follows_the_wire_shape() -> None:
    assert structure_lead({"lead_id": 1}) == structure_lead({"lead_id": 1})
    assert structure_lead({"lead_id": 1}) != structure_lead({"lead_id": 1, "notes": None})


def test_repr_shows_only_fields_with_data() -> None:
    text = repr(structure_lead({"lead_id": 7, "notes": "", "lead_type": "Chat"}))
    assert text.startswith("Lead(lead_id=7, lead_type=")
    assert "notes=''" in text and "contact_name" not in text


def test_models_need_nothing_from_convert() -> None:
    """The models -> _codec <- convert cut: no module-level or function-level way back."""
    import ast
    from pathlib import Path

    package = Path(__file__).parents[2] / "whatconverts_async"

    def imported(name: str) -> set[str]:
        found: set[str] = set()
        for node in ast.walk(ast.parse((package / name).read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                found.add(module.rsplit(".", 1)[-1])
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
        return found

    assert "convert" not in imported("models.py")
    assert not {"convert", "models"} & imported("_codec.py")
    assert Lead.from_dict({"lead_id": 3}).to_dict() == {"lead_id": 3}
