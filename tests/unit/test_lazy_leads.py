"""Lazy leads: every field read lazily equals the eagerly built one; ``to_dict()`` is the wire.

Leads from pages, webhooks and ``Lead.from_dict`` keep their wire object and convert fields
on first access (see "Lazy leads" in :class:`~whatconverts_async.models.Lead`). These tests
compare them with the eager reader, field by field, in any order of reading.
"""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_convert_props import assert_identical, wire_objects
from whatconverts_async._codec import LAZY_READS_BEFORE_FILL, field_values, lazy_reader, reader
from whatconverts_async.convert import structure_lead, structure_page
from whatconverts_async.models import Lead
from whatconverts_async.testing.data import generate

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = [field.name for field in attrs.fields(Lead)]
eager_read = reader(Lead)
lazy_read = lazy_reader(Lead)


def both(wire: dict[str, Any]) -> tuple[Lead, Lead]:
    """(eager, lazy) leads of one wire object, each from its own deep copy."""
    return eager_read(copy.deepcopy(wire)), lazy_read(copy.deepcopy(wire))


def realistic_leads() -> list[dict[str, Any]]:
    """Leads as the simulator renders them (every lead type, realistic values)."""
    return json.loads(json.dumps(list(generate(leads=300, seed=11).iter_leads())))


REALISTIC = realistic_leads()


@PROPS
@given(wire_objects(Lead), st.permutations(FIELDS), st.integers(0, len(FIELDS)))
def test_fields_read_lazily_in_any_order_equal_the_eager_ones(
    wire: dict[str, Any], order: list[str], count: int
) -> None:
    eager, lazy = both(wire)
    assert type(lazy) is not Lead and isinstance(lazy, Lead)
    for name in order[:count]:
        assert_identical(getattr(lazy, name), getattr(eager, name))
    for name in FIELDS:
        assert_identical(getattr(lazy, name), getattr(eager, name))
    assert lazy.unreadable_fields == eager.unreadable_fields


@PROPS
@given(wire_objects(Lead))
def test_to_dict_is_the_wire_record_in_wire_order(wire: dict[str, Any]) -> None:
    lead = structure_lead(wire)
    out = lead.to_dict()
    assert_identical(out, wire)
    assert list(out) == list(wire)
    # Reading fields first changes nothing in what is written.
    for name in FIELDS:
        getattr(lead, name)
    assert list(lead.to_dict()) == list(wire)
    assert_identical(lead.to_dict(), eager_read(copy.deepcopy(wire)).to_dict())


@PROPS
@given(wire_objects(Lead), st.integers(0, LAZY_READS_BEFORE_FILL + 1))
def test_equality_with_eager_leads_both_ways(wire: dict[str, Any], reads: int) -> None:
    eager, lazy = both(wire)
    for name in ("lead_type", "quote_value", "notes", "spam", "lead_score")[:reads]:
        getattr(lazy, name)
    assert lazy == eager and eager == lazy
    assert (lazy != eager) is False and (eager != lazy) is False
    assert lazy == lazy_read(copy.deepcopy(wire))
    assert attrs.asdict(lazy) == attrs.asdict(eager)
    assert repr(lazy) == repr(eager)
    other = attrs.evolve(eager, lead_id=eager.lead_id + 1)
    assert lazy != other and other != lazy


@pytest.mark.parametrize("index", range(0, 300, 7))
def test_realistic_leads_lazy_equals_eager(index: int) -> None:
    wire = REALISTIC[index]
    eager, lazy = both(wire)
    assert lazy.lead_type == eager.lead_type  # one single read first
    for name in FIELDS:
        assert_identical(getattr(lazy, name), getattr(eager, name))
    assert lazy == eager
    assert list(lazy_read(copy.deepcopy(wire)).to_dict()) == list(wire)


def test_a_page_of_realistic_leads_is_lazy_and_writes_the_wire() -> None:
    envelope = {
        "page_number": 1,
        "leads_per_page": 2500,
        "total_pages": 1,
        "total_leads": len(REALISTIC),
        "leads": copy.deepcopy(REALISTIC),
    }
    page = structure_page(envelope, Lead, consume=True)
    assert [lead.to_dict() for lead in page] == REALISTIC
    assert [json.dumps(lead.to_dict()) for lead in page] == [json.dumps(w) for w in REALISTIC]
    assert all(type(lead) is not Lead for lead in page)


@pytest.mark.parametrize(
    ("wire", "field"),
    [
        ({"date_created": "2025-01-01T00:00:00Z"}, "lead_id"),
        ({"lead_id": None}, "lead_id"),
        ({"lead_id": "seven"}, "lead_id"),
        ({"lead_id": 1, "date_created": "soon"}, "date_created"),
        ({"lead_id": 1, "date_created": 20250101}, "date_created"),
    ],
)
def test_unreadable_essential_fields_fail_when_the_page_is_read(
    wire: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        lazy_read(dict(wire))
    envelope = {
        "page_number": 1,
        "leads_per_page": 25,
        "total_pages": 1,
        "total_leads": 2,
        "leads": [{"lead_id": 5}, dict(wire)],
    }
    with pytest.raises(ValueError, match=rf"leads\[1\].*{field}"):
        structure_page(envelope, Lead, consume=True)


def test_odd_optional_values_behave_as_eager_ones() -> None:
    wire = {
        "lead_id": 3,
        "last_updated": "0000-00-00 00:00:00",
        "lead_score": "fifty",
        "quote_value": "n/a",
        "spam": "maybe",
        "lead_type": 5,
        "additional_fields": "x",
        "lead_analysis": [],
    }
    eager, lazy = both(wire)
    assert lazy.last_updated is None and lazy.lead_score is None and lazy.quote_value is None
    assert lazy.additional_fields == {} and lazy.lead_analysis == {}
    assert (
        lazy.unreadable_fields
        == eager.unreadable_fields
        == frozenset(
            {"last_updated", "lead_score", "quote_value", "spam", "lead_type", "additional_fields"}
        )
    )
    assert lazy.wire_originals == eager.wire_originals
    assert lazy.to_dict() == wire


def test_pickle_and_copy_keep_a_lazy_lead_and_its_wire_order() -> None:
    wire = {"zz_new": 1, "lead_id": 9, "notes": "n", "date_created": "2025-06-01T14:00:00Z"}
    lead = Lead.from_dict(wire)
    for clone in (pickle.loads(pickle.dumps(lead)), copy.copy(lead), copy.deepcopy(lead)):
        assert isinstance(clone, Lead) and type(clone) is not Lead  # lazy, not eager
        assert clone == lead
        assert list(clone.to_dict()) == list(wire)
    lead.notes  # noqa: B018 - a read before pickling changes nothing
    assert pickle.loads(pickle.dumps(lead)).to_dict() == wire


def test_evolve_gives_what_an_eager_lead_gives() -> None:
    wire = {"lead_id": 9, "notes": "n", "quote_value": 10, "extra_key": [1]}
    eager, lazy = both(wire)
    changed = attrs.evolve(lazy, notes="call back")
    assert changed == attrs.evolve(eager, notes="call back")
    assert changed.to_dict() == attrs.evolve(eager, notes="call back").to_dict()
    assert changed.to_dict()["notes"] == "call back"
    assert lazy.notes == "n"
    assert pickle.loads(pickle.dumps(changed)) == changed


def test_hashing_is_the_models() -> None:
    eager, lazy = both({"lead_id": 1})
    with pytest.raises(TypeError) as eager_error:
        hash(eager)
    with pytest.raises(TypeError) as lazy_error:
        hash(lazy)
    assert str(lazy_error.value) == str(eager_error.value)


def test_neither_input_nor_output_is_shared() -> None:
    wire = {"lead_id": 1, "additional_fields": {"Budget": "5k"}, "lead_analysis": {"a": "b"}}
    lead = Lead.from_dict(wire)
    wire["additional_fields"]["Budget"] = "changed"
    wire["notes"] = "added later"
    assert lead.additional_fields == {"Budget": "5k"}
    assert "notes" not in lead.to_dict()
    out = lead.to_dict()
    out["lead_analysis"]["a"] = "changed"
    assert lead.lead_analysis == {"a": "b"}
    assert lead.to_dict()["lead_analysis"] == {"a": "b"}


def test_unknown_attribute_names_the_model() -> None:
    lead = Lead.from_dict({"lead_id": 1})
    with pytest.raises(AttributeError, match="'Lead' object has no attribute 'nope'"):
        lead.nope  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lead.notes = "x"  # type: ignore[misc]


def test_timestamps_are_aware_utc_and_read_at_once() -> None:
    lead = lazy_read({"lead_id": 1, "date_created": "2025-06-01 09:00:00-05:00"})
    assert lead.date_created == datetime(2025, 6, 1, 14, tzinfo=timezone.utc)
    assert lead.to_dict() == {"lead_id": 1, "date_created": "2025-06-01 09:00:00-05:00"}


@PROPS
@given(wire_objects(Lead), st.integers(0, LAZY_READS_BEFORE_FILL + 1))
def test_field_values_equal_the_eager_fields_at_any_stage(wire: dict[str, Any], reads: int) -> None:
    eager, lazy = both(wire)
    for name in ("notes", "lead_type", "quote_value", "spam", "lead_score")[:reads]:
        getattr(lazy, name)
    values = field_values(lazy)
    expected = {name: getattr(eager, name) for name in FIELDS}
    for name in ("extra", "absent_keys", "wire_originals"):
        del expected[name]
    assert_identical(values, expected)
    assert_identical(field_values(eager), expected)
    assert_identical(field_values(attrs.evolve(lazy)), expected)
