"""``wire_object``: the wire dict a lazy lead keeps, which the export writes without a copy."""

from __future__ import annotations

import json

import attrs

from whatconverts_async.convert import structure_page, wire_object
from whatconverts_async.export.sinks import encode_lead
from whatconverts_async.models import Lead

WIRE = {
    "lead_id": 7,
    "lead_type": "Web Form",
    "quote_value": 25.5,
    "additional_fields": [],
    "date_created": "2025-06-01T14:00:00Z",
    "brand_new": {"x": [1, 2]},
}


def test_a_lead_read_from_a_page_gives_its_wire_object() -> None:
    envelope = {"page_number": 1, "leads_per_page": 1, "total_pages": 1, "total_leads": 1}
    page = structure_page({**envelope, "leads": [dict(WIRE)]}, Lead, consume=True)
    lead = page.items[0]
    assert wire_object(lead) == WIRE == lead.to_dict()
    assert list(wire_object(lead) or {}) == list(WIRE)  # the wire's key order
    _ = lead.notes, lead.city, lead.state, lead.zip  # fully converted: still the same object
    assert wire_object(lead) == WIRE


def test_records_built_in_python_have_none() -> None:
    assert wire_object(Lead(lead_id=1)) is None
    evolved = attrs.evolve(Lead.from_dict(WIRE), lead_type="Chat")
    assert wire_object(evolved) is None
    assert evolved.to_dict()["lead_type"] == "Chat"


def test_the_export_line_is_the_wire_record_for_lazy_and_eager_leads() -> None:
    lazy = Lead.from_dict(WIRE)
    assert json.loads(encode_lead(lazy)) == WIRE
    assert encode_lead(lazy).endswith(b"\n")
    evolved = attrs.evolve(lazy, lead_type="Chat")
    assert json.loads(encode_lead(evolved)) == evolved.to_dict()
    assert json.loads(encode_lead(evolved))["lead_type"] == "Chat"
