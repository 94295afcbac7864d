"""Leads read from a page's bytes (the ``[fast]`` path) are the leads the normal path reads.

``convert.lead_page_steps`` splits a page in C (msgspec) into one ``bytes`` object per
lead and decodes only ``lead_id``, ``date_created`` and ``last_updated``; each lead decodes
its bytes on first need. It returns ``None`` for any page it cannot read exactly, and the
normal path (decode, then ``structure_page``) reads that page instead. Here every page is
read both ways: when the bytes path answers, every field, ``to_dict()``, equality,
pickling and ``field_values`` must equal the normal path's and the eager build's.
"""

from __future__ import annotations

import copy
import gc
import json
import pickle
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_convert_props import assert_identical, wire_objects
from whatconverts_async import _json
from whatconverts_async._codec import field_values, reader, wire_object
from whatconverts_async.convert import lead_page_steps, structure_page
from whatconverts_async.models import Lead, Page
from whatconverts_async.testing.data import generate

pytestmark = pytest.mark.skipif(_json.msgspec is None, reason="needs msgspec ([fast])")

FIELDS = [field.name for field in attrs.fields(Lead)]
BOOKKEEPING = ("extra", "absent_keys", "wire_originals")
eager_read = reader(Lead)
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def body_of(leads: list[Any], **envelope: Any) -> bytes:
    page = {"page_number": 1, "leads_per_page": 2500, "total_pages": 1}
    page.update({"total_leads": len(leads), "leads": leads})
    page.update(envelope)
    return json.dumps(page).encode()


def from_bytes(body: bytes, slice_items: int = 3) -> Page[Lead] | None:
    steps = lead_page_steps(body, slice_items=slice_items)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            page: Page[Lead] | None = done.value
            return page


def normal(body: bytes) -> Page[Lead]:
    return structure_page(_json.loads(body), Lead, consume=True)


def json_safe(wire: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(wire))
    return out


def check_same(body: bytes, *, expect_bytes: bool | None = True) -> Page[Lead] | None:
    """Read ``body`` both ways; where the bytes path answers, it must equal the normal one."""
    fast = from_bytes(body)
    if expect_bytes is not None:
        assert (fast is not None) is expect_bytes
    if fast is None:
        return None
    wires = _json.loads(body)["leads"]
    reference = normal(body)
    assert (fast.page_number, fast.per_page, fast.total_pages, fast.total_items, fast.extra) == (
        reference.page_number,
        reference.per_page,
        reference.total_pages,
        reference.total_items,
        reference.extra,
    )
    for lead, other, wire in zip(fast.items, reference.items, wires, strict=True):
        assert type(object.__getattribute__(lead, "_wire")) is bytes  # not decoded yet
        eager = eager_read(copy.deepcopy(wire))
        for name in FIELDS:
            assert_identical(getattr(lead, name), getattr(eager, name))
            assert_identical(getattr(lead, name), getattr(other, name))
        assert_identical(lead.to_dict(), wire)
        assert list(lead.to_dict()) == list(wire)
        assert lead == eager and eager == lead and lead == other
        assert repr(lead) == repr(eager)
    return fast


@PROPS
@given(st.lists(wire_objects(Lead), min_size=1, max_size=6))
def test_generated_leads_read_from_bytes_equal_the_normal_path(
    wires: list[dict[str, Any]],
) -> None:
    check_same(body_of([json_safe(wire) for wire in wires]), expect_bytes=None)


@PROPS
@given(
    st.lists(wire_objects(Lead), min_size=1, max_size=6),
    st.lists(st.integers(1, 2**62), min_size=6, max_size=6),
    st.datetimes(
        min_value=__import__("datetime").datetime(1971, 1, 1),
        max_value=__import__("datetime").datetime(9998, 1, 1),
    ),
)
def test_leads_with_api_ids_and_timestamps_are_read_from_bytes(
    wires: list[dict[str, Any]], ids: list[int], moment: Any
) -> None:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    leads = []
    for wire, lead_id in zip(wires, ids, strict=False):
        wire = json_safe(wire)
        wire.update(lead_id=lead_id, date_created=stamp, last_updated=None)
        for key in list(wire):  # numbers the bytes path leaves to the normal one
            value = wire[key]
            if (isinstance(value, float) and "e" in repr(value)) or (
                isinstance(value, int) and len(str(abs(value))) >= 19
            ):
                del wire[key]
        leads.append(wire)
    body = body_of(leads)
    if b"\\ud" in body.lower():
        return  # a lone surrogate from text(): the normal path refuses the page
    check_same(body, expect_bytes=True)


@PROPS
@given(wire_objects(Lead), st.permutations(FIELDS), st.integers(0, len(FIELDS)))
def test_fields_of_a_bytes_lead_read_in_any_order_equal_the_eager_ones(
    wire: dict[str, Any], order: list[str], count: int
) -> None:
    wire = json_safe({**wire, "lead_id": 5, "date_created": None, "last_updated": ""})
    page = from_bytes(body_of([wire]))
    if page is None:
        return  # numbers or text the normal path reads (covered above)
    lead, eager = page.items[0], eager_read(copy.deepcopy(wire))
    for name in order[:count]:
        assert_identical(getattr(lead, name), getattr(eager, name))
    assert lead.unreadable_fields == eager.unreadable_fields
    values = field_values(page.items[0])
    expected = {name: getattr(eager, name) for name in FIELDS if name not in BOOKKEEPING}
    assert_identical(values, expected)


def test_realistic_pages_are_read_from_bytes() -> None:
    leads = json.loads(json.dumps(list(generate(leads=120, seed=11).iter_leads())))
    page = check_same(body_of(leads), expect_bytes=True)
    assert page is not None and len(page.items) == len(leads)


def test_a_bytes_lead_is_one_tracked_object_holding_its_own_copy() -> None:
    leads = json.loads(json.dumps(list(generate(leads=5, seed=3).iter_leads())))
    body = body_of(leads)
    page = from_bytes(body)
    assert page is not None
    lead = page.items[0]
    held = object.__getattribute__(lead, "_wire")
    assert type(held) is bytes and len(held) < len(body)
    assert json.loads(held) == leads[0]
    tracked = [ref for ref in gc.get_referents(lead) if gc.is_tracked(ref)]
    assert tracked == [type(lead)]  # its class only: no dict, list or tuple per lead
    assert lead.lead_id == leads[0]["lead_id"]  # read at build: still bytes
    assert type(object.__getattribute__(lead, "_wire")) is bytes
    assert lead.contact_name == leads[0].get("contact_name")  # first other field decodes
    assert type(object.__getattribute__(lead, "_wire")) is dict


def test_to_dict_pickle_wire_object_and_evolve_decode_the_bytes() -> None:
    leads = json.loads(json.dumps(list(generate(leads=4, seed=9).iter_leads())))
    for reading in ("to_dict", "pickle", "wire_object", "evolve", "hash", "extra"):
        page = from_bytes(body_of(leads))
        assert page is not None
        lead, wire = page.items[1], leads[1]
        if reading == "to_dict":
            assert lead.to_dict() == wire and list(lead.to_dict()) == list(wire)
        elif reading == "pickle":
            clone = pickle.loads(pickle.dumps(lead))
            assert clone == lead and clone.to_dict() == wire and type(clone) is type(lead)
        elif reading == "wire_object":
            assert wire_object(lead) == wire
        elif reading == "evolve":
            changed = attrs.evolve(lead, notes="call back")
            assert changed.notes == "call back" and changed.lead_id == wire["lead_id"]
            assert changed.to_dict()["notes"] == "call back"
        elif reading == "hash":
            with pytest.raises(TypeError):
                hash(lead)  # as for an eager lead: dict fields are unhashable
        else:
            assert lead.extra == eager_read(copy.deepcopy(wire)).extra
        assert lead == eager_read(copy.deepcopy(wire))


GOOD = {"lead_id": 7, "date_created": "2025-06-01T14:00:00Z", "last_updated": None}


def nested(levels: int) -> bytes:
    """A page whose lead holds ``levels`` nested arrays (the page nests 2 more)."""
    return body_of([GOOD]).replace(
        b'"last_updated"', b'"x": ' + b"[" * levels + b"]" * levels + b', "last_updated"'
    )


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("error body", b'{"error_message": "Invalid API credentials."}'),
        ("unknown envelope key", body_of([GOOD], notice="new")),
        ("missing envelope key", json.dumps({"page_number": 1, "leads": [GOOD]}).encode()),
        ("leads not an array", body_of([]).replace(b'"leads": []', b'"leads": {}')),
        ("lead not an object", body_of([GOOD, [1, 2]])),
        ("counter not an integer", body_of([GOOD], total_pages=1.5)),
        ("counter below zero", body_of([GOOD], page_number=-1)),
        ("id as text", body_of([{**GOOD, "lead_id": "7"}])),
        ("id zero", body_of([{**GOOD, "lead_id": 0}])),
        ("id negative", body_of([{**GOOD, "lead_id": -7}])),
        ("id true", body_of([{**GOOD, "lead_id": True}])),
        ("id float", body_of([{**GOOD, "lead_id": 7.0}])),
        ("id null", body_of([{**GOOD, "lead_id": None}])),
        ("id missing", body_of([{"date_created": None}])),
        ("created with offset", body_of([{**GOOD, "date_created": "2025-06-01 09:00:00-05:00"}])),
        ("created zeros", body_of([{**GOOD, "date_created": "0000-00-00 00:00:00"}])),
        ("created number", body_of([{**GOOD, "date_created": 1748786400}])),
        ("created hour 24", body_of([{**GOOD, "date_created": "2025-06-01T24:00:00Z"}])),
        ("updated as a date", body_of([{**GOOD, "last_updated": "2025-06-01"}])),
        ("updated day 31 of June", body_of([{**GOOD, "last_updated": "2025-06-31T00:00:00Z"}])),
        ("a float too large", body_of([GOOD]).replace(b'"last_updated"', b'"x": 1e400, "l"')),
        (
            "a large exponent with a sign",
            body_of([{**GOOD, "x": 0}]).replace(b'"x": 0', b'"x": -1.5E+309'),
        ),
        ("an integer of 309 digits", body_of([{**GOOD, "x": 10**308}])),
        (
            "a float of 309 digits",
            body_of([{**GOOD, "x": 0}]).replace(b": 0}", b": 1%s.5}" % (b"0" * 308)),
        ),
        ("a lone surrogate", body_of([GOOD]).replace(b'"last_updated"', b'"x": "\\ud800", "l"')),
        ("not UTF-8", body_of([GOOD]).replace(b'"last_updated"', b'"x": "\xff", "l"')),
        ("a byte-order mark", b"\xef\xbb\xbf" + body_of([GOOD])),
        ("too deep", nested(1100)),
        ("deeper than msgspec goes", nested(1000)),
        ("trailing garbage", body_of([GOOD]) + b"x"),
        ("NaN", body_of([GOOD]).replace(b'"last_updated"', b'"x": NaN, "l"')),
    ],
)
def test_pages_the_bytes_path_cannot_vouch_for_are_left_to_the_normal_path(
    case: str, body: bytes
) -> None:
    assert from_bytes(body) is None, case


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("surrogate pair escaped", body_of([{**GOOD, "x": "\ud83d\ude00"}])),
        ("hex text like a number", body_of([{**GOOD, "user_id": "1-5e123f-3e456"}])),
        ("an exponent in text", body_of([{**GOOD, "notes": "model x1e400"}])),
        ("small exponents", body_of([{**GOOD, "x": 1.5e-07, "y": 2.5e20}])),
        ("an id of 19 digits", body_of([{**GOOD, "lead_id": 10**18 * 9}])),
        ("an id beyond 64 bits", body_of([{**GOOD, "lead_id": 2**64}])),
        ("integers beyond 64 bits", body_of([{**GOOD, "x": 2**64, "y": -(10**300)}])),
        (
            "non-ASCII UTF-8",
            json.dumps(
                {**json.loads(body_of([GOOD])), "leads": [{**GOOD, "contact_name": "Zoë"}]},
                ensure_ascii=False,
            ).encode(),
        ),
        ("duplicate keys", body_of([GOOD]).replace(b'"lead_id": 7', b'"lead_id": 6, "lead_id": 7')),
        ("empty timestamps", body_of([{**GOOD, "date_created": "", "last_updated": ""}])),
        ("absent timestamps", body_of([{"lead_id": 9}])),
        ("counters as digits", body_of([GOOD], total_pages="1")),
        ("an empty page", body_of([])),
    ],
)
def test_odd_but_exact_pages_are_read_from_bytes(case: str, body: bytes) -> None:
    assert check_same(body, expect_bytes=True) is not None, case


def test_the_export_writes_an_untouched_lead_as_the_api_sent_it() -> None:
    from whatconverts_async.export.sinks import encode_lead

    sent = b'{"lead_id": 7, "lead_url": "https:\\/\\/x.example\\/a", "contact_name": "Zo\\u00eb"}'
    spread = b'{"lead_id": 8,\n "notes": "n"}'
    body = b'{"page_number": 1, "leads_per_page": 2, "total_pages": 1, "total_leads": 2, '
    page = from_bytes(body + b'"leads": [' + sent + b", " + spread + b"]}")
    assert page is not None
    first, second = page.items
    assert encode_lead(first) == sent + b"\n"  # the API's own escapes, byte for byte
    assert json.loads(encode_lead(first)) == first.to_dict()
    # Bytes spanning lines would break the JSONL file: that lead is encoded again.
    assert encode_lead(second) == b'{"lead_id":8,"notes":"n"}\n'
    # Once decoded (a field read), the lead is written from its wire object.
    assert first.contact_name == "Zoë"
    assert json.loads(encode_lead(first)) == {
        "lead_id": 7,
        "lead_url": "https://x.example/a",
        "contact_name": "Zoë",
    }
