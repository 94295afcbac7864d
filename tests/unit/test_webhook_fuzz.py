"""parse_webhook: documented payloads parse; anything else raises WebhookError, never more."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from whatconverts_async.errors import WhatConvertsError
from whatconverts_async.models import Lead, LeadType
from whatconverts_async.webhooks import WebhookError, WebhookEvent, WebhookTrigger, parse_webhook

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The official in-progress phone call example (§8 of the API notes), values changed.
DOC_CALL: dict[str, Any] = {
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
    "call_status": "In Progress",
    "phone_name": "Google Ads",
    "tracking_number": "+17045550100",
    "caller_name": "WIRELESS CALLER",
    "line_type": "Landline",
    "lead_source": "google",
    "notes": "",
    "contact_email_address": "jane@example.com",
}

LEAD_FIELDS = [f.name for f in attrs.fields(Lead)]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["2025-02-01T14:10:00Z", "2025-02-01", "", "In Progess", "[]", "0"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
lead_like = st.dictionaries(
    st.sampled_from([*LEAD_FIELDS, "trigger", "mapped_fields", "brand_new"]) | st.text(max_size=8),
    json_values,
    max_size=12,
)


def _check(body: bytes | str) -> WebhookEvent | None:
    try:
        return parse_webhook(body)
    except WebhookError as exc:
        assert isinstance(exc, WhatConvertsError) and isinstance(exc, ValueError)
        assert str(exc).startswith("malformed webhook")
        return None


@PROPS
@given(st.binary(max_size=300))
@example(b"\xff\xfe{")
@example(b"[" * 100_000)
@example(b'{"lead_id": NaN}')
@example(b'{"lead_id": 1e400}')
def test_arbitrary_bytes_raise_only_webhook_error(body: bytes) -> None:
    _check(body)


@PROPS
@given(json_values)
def test_arbitrary_json_raises_only_webhook_error(value: Any) -> None:
    _check(json.dumps(value))


@PROPS
@given(lead_like)
@example({"lead_id": 2**70, "last_updated": "9999-12-31T23:59:59-23:59"})
@example({"lead_id": 1, "date_created": "0000-01-01"})
@example({"lead_id": True})
@example({"lead_id": 0})
@example({"lead_id": "7", "trigger": 5})
def test_lead_like_objects_parse_or_raise_webhook_error(obj: dict[str, Any]) -> None:
    event = _check(json.dumps(obj))
    if event is not None:
        assert event.lead_id >= 1
        assert "trigger" not in event.lead.extra
        assert isinstance(event.key, str) and event.key.startswith(f"{event.lead_id}:")
        # Nothing is lost: the event writes back the body it was read from.
        assert event.to_dict() == obj


@pytest.mark.parametrize("lead_type", [t.value for t in LeadType] + ["Video Call"])
@pytest.mark.parametrize("trigger", ["new", "update", "spam"])
def test_every_lead_type_and_trigger(lead_type: str, trigger: str) -> None:
    body = {**DOC_CALL, "trigger": trigger, "lead_type": lead_type}
    event = parse_webhook(json.dumps(body).encode())
    assert event.trigger == trigger
    assert event.lead.lead_type == lead_type
    assert event.to_dict() == body
    if trigger in ("new", "update"):
        assert isinstance(event.trigger, WebhookTrigger)


def test_documented_payload_is_typed() -> None:
    event = parse_webhook(json.dumps(DOC_CALL).encode())
    lead = event.lead
    assert event.trigger is WebhookTrigger.NEW
    assert lead.lead_type is LeadType.PHONE_CALL
    assert lead.lead_analysis["Topic Detection"] == "pricing"
    assert lead.date_created is not None and lead.date_created.tzinfo is not None
    assert lead.extra == {}
    assert event.in_progress
    assert event.key.startswith("153928:new:2025-02-01T14:10:00Z:sha256-")


def test_docs_typo_in_progess_and_unknown_fields_are_kept() -> None:
    body = {
        "trigger": "new",
        "lead_id": 9,
        "lead_type": "Transaction",
        "lead_state": "In Progess",
        "order_id": "A-1",
        "tax": 1.5,
        "mapped_fields": {"Email": "a@example.com"},
        "salesforce_user_id": "0058b00000FwPrMAAV",
        "shiny_new_field": {"x": [1, 2]},
        "additional_fields": {"full_name": "Jane"},
    }
    event = parse_webhook(json.dumps(body))
    assert event.in_progress
    assert event.lead.lead_state == "In Progess"
    assert event.lead.tax == Decimal("1.5")
    assert event.lead.extra == {"shiny_new_field": {"x": [1, 2]}}
    assert event.to_dict() == body


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "not JSON"),
        (b"lead_id=1", "not JSON"),
        (b"[1]", "expected a JSON object, got list"),
        (b'"x"', "got str"),
        (b"null", "got null"),
        (b'{"trigger": "new"}', "lead_id missing"),
        (b'{"lead_id": "abc"}', "lead_id"),
        (b'{"lead_id": -3}', "lead_id must be positive"),
        (b'{"lead_id": 1, "date_created": "soon"}', "date_created"),
        (b'{"lead_id": 1, "date_created": 12}', "date_created"),
        (b'{"lead_id": 1, "trigger": ["new"]}', "trigger must be a string"),
        (b'{"lead_id": Infinity}', "not JSON"),
    ],
)
def test_malformed_bodies(body: bytes, fragment: str) -> None:
    with pytest.raises(WebhookError, match="malformed webhook") as info:
        parse_webhook(body)
    assert fragment in str(info.value)


def test_different_updates_in_the_same_second_have_different_keys() -> None:
    base = {"trigger": "update", "lead_id": 7, "last_updated": "2025-02-01T14:10:00Z"}
    one = parse_webhook(json.dumps({**base, "sales_value": 10}))
    two = parse_webhook(json.dumps({**base, "sales_value": 20}))
    assert one.key != two.key
    assert one.key == parse_webhook(json.dumps({**base, "sales_value": 10})).key


def test_key_identifies_duplicates() -> None:
    first = parse_webhook(json.dumps(DOC_CALL))
    again = parse_webhook(json.dumps(dict(reversed(list(DOC_CALL.items())))))
    update = parse_webhook(json.dumps({**DOC_CALL, "trigger": "update"}))
    later = parse_webhook(json.dumps({**DOC_CALL, "last_updated": "2025-02-01T14:20:00Z"}))
    assert first.key == again.key
    assert len({first.key, update.key, later.key}) == 3
    # Without last_updated the key falls back to the body: equal bodies, equal keys.
    bare = {"trigger": "update", "lead_id": 5, "sales_value": 10}
    assert parse_webhook(json.dumps(bare)).key == parse_webhook(json.dumps(bare)).key
    assert (
        parse_webhook(json.dumps(bare)).key
        != parse_webhook(json.dumps({**bare, "sales_value": 11})).key
    )


def test_from_dict_and_non_string_keys() -> None:
    assert WebhookEvent.from_dict({"lead_id": 3}).trigger is None
    with pytest.raises(WebhookError):
        WebhookEvent.from_dict({1: 2, "lead_id": 3})
    with pytest.raises(WebhookError):
        parse_webhook(123)  # type: ignore[arg-type]
