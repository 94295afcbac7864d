"""Lazy leads from pages decoded with and without the ``[fast]`` path are the same leads.

A page body is decoded twice: by the transport's sliced decode (msgspec's splitter, when
installed) and by one ``loads`` call, then read into lazy leads; every field of every lead
must equal the eagerly built one of the original wire object, and ``to_dict()`` must be
that wire object, for generated leads, the simulator's realistic leads and odd ones.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_convert_props import assert_identical, wire_objects
from whatconverts_async import _json
from whatconverts_async._codec import reader
from whatconverts_async.convert import structure_page
from whatconverts_async.models import Lead
from whatconverts_async.testing.data import generate

FIELDS = [field.name for field in attrs.fields(Lead)]
eager_read = reader(Lead)


@pytest.fixture(params=["msgspec", "none"])
def splitter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Small slices so that every page takes the sliced path; one run per path."""
    monkeypatch.setattr(_json, "SLICE_BYTES", 512)
    monkeypatch.setattr(_json, "SLICE_ITEMS", 3)
    if request.param == "msgspec" and _json._split_object is None:
        pytest.skip("msgspec not installed")
    if request.param == "none":
        monkeypatch.setattr(_json, "_split_object", None)
        monkeypatch.setattr(_json, "_split_array", None)
    return str(request.param)


def body_of(leads: list[dict[str, Any]]) -> bytes:
    envelope = {"page_number": 1, "leads_per_page": max(1, len(leads)), "total_pages": 1}
    return json.dumps({**envelope, "total_leads": len(leads), "leads": leads}).encode()


def decoded(body: bytes) -> Any:
    steps = _json.loads_steps(body)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def check_page(leads: list[dict[str, Any]]) -> None:
    body = body_of(leads)
    sliced, whole = decoded(body), _json.loads(body)
    assert sliced == whole
    for payload in (sliced, whole):
        page = structure_page(payload, Lead, consume=True)
        assert len(page.items) == len(leads)
        for lead, wire in zip(page.items, leads, strict=True):
            eager = eager_read(copy.deepcopy(wire))
            for name in FIELDS:
                assert_identical(getattr(lead, name), getattr(eager, name))
            assert_identical(lead.to_dict(), wire)
            assert list(lead.to_dict()) == list(wire)
            assert lead == eager


def json_safe(wire: dict[str, Any]) -> dict[str, Any]:
    """The wire object as it comes back from JSON (what a page really carries)."""
    out: dict[str, Any] = json.loads(json.dumps(wire))
    return out


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(wire_objects(Lead), min_size=1, max_size=8))
def test_generated_leads_are_the_same_with_and_without_the_fast_path(
    splitter: str, wires: list[dict[str, Any]]
) -> None:
    check_page([json_safe(wire) for wire in wires])


def test_realistic_leads_are_the_same_with_and_without_the_fast_path(splitter: str) -> None:
    leads = json.loads(json.dumps(list(generate(leads=60, seed=5).iter_leads())))
    check_page(leads)


ODD = [
    {"lead_id": 1, "last_updated": "0000-00-00 00:00:00", "lead_score": "fifty"},
    {"lead_id": 2, "quote_value": "n/a", "spam": "maybe", "lead_type": 5},
    {"lead_id": 3, "additional_fields": "x", "lead_analysis": [], "date_created": ""},
    {"lead_id": "4", "sales_value": 12.50, "brand_new": {"deep": [[1], {"a": None}]}},
    {"lead_id": 5, "contact_name": "Zoë \ud83d\ude00", "date_created": "2025-06-01 09:00:00-05:00"},
    {"lead_id": 6, "big": 18446744073709551616123, "customer_journey": [{"lead_id": 9}]},
    {"lead_id": 7, "notes": '},{"lead_id": 8}', "quotable": "Not Set"},
]


def test_odd_leads_are_the_same_with_and_without_the_fast_path(splitter: str) -> None:
    check_page([json_safe(wire) for wire in ODD])
