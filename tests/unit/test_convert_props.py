"""Property tests: any wire object survives wire → model → wire unchanged, types included."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatconverts_async.convert import (
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
    Profile,
    Quotable,
    Role,
    TrackingForm,
    TrackingNumber,
    User,
)

UTC = timezone.utc
PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)

moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@st.composite
def timestamp_texts(draw: st.DrawFn) -> str:
    """The API's form mostly, sometimes the variants the parser tolerates."""
    moment = draw(moments).replace(microsecond=0)
    style = draw(st.sampled_from(["api", "api", "api", "offset", "fraction", "space", "date"]))
    if style == "api":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "offset":
        local = moment.astimezone(draw(offsets))
        return local.isoformat()
    if style == "fraction":
        return (
            moment.strftime("%Y-%m-%dT%H:%M:%S")
            + "."
            + draw(st.from_regex(r"[0-9]{1,9}", fullmatch=True))
            + "Z"
        )
    if style == "space":
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%d")


def _strategy(field_type: Any) -> st.SearchStrategy[Any]:
    """Type-appropriate wire values for one field, with a share of odd ones."""
    odd: st.SearchStrategy[Any] = st.booleans() | st.lists(st.integers(), max_size=2) | st.just({})
    if field_type == str | None:
        return st.none() | st.text(max_size=20) | st.just("") | st.integers() | odd
    if field_type is int:
        return st.integers() | st.integers(min_value=0).map(str)
    if field_type == int | None:
        return (
            st.none()
            | st.integers()
            | st.integers(-(10**6), 10**6).map(float)
            | st.text(max_size=4)
            | odd
        )
    if field_type == bool | None:
        return st.none() | st.booleans() | st.sampled_from(["true", "false", "x", 0, 1, 2])
    if field_type == Decimal | None:
        return (
            st.none()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.sampled_from(["12.50", "n/a", "", True])
        )
    if field_type == datetime | None:
        return st.none() | timestamp_texts() | st.just("")
    for enum_cls in (LeadType, LeadStatus, Quotable):
        if field_type == enum_cls | str | None:
            return (
                st.none()
                | st.sampled_from([m.value for m in enum_cls])
                | st.text(max_size=10)
                | st.integers()
            )
    if field_type == dict[str, Any]:
        return (
            st.just([])
            | st.just({})
            | st.none()
            | st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4)
            | st.dictionaries(st.text(max_size=6), json_values, max_size=3)
            | st.lists(st.text(max_size=5), min_size=1, max_size=2)
        )
    if field_type is Any:
        return json_values
    raise AssertionError(f"no strategy for {field_type!r}")


def wire_objects(cls: type, nested: dict[str, st.SearchStrategy[Any]] | None = None) -> Any:
    """Wire dicts for ``cls``: required keys, a random subset of the rest, unknown keys."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in attrs.fields(cls):
        if field.name in ("extra", "absent_keys"):
            continue
        if nested is not None and field.name in nested:
            strategy = nested[field.name]
        else:
            strategy = _strategy(field.type)
        if field.default is attrs.NOTHING:
            required[field.name] = strategy
        else:
            optional[field.name] = strategy
    known = set(required) | set(optional)
    unknown = st.dictionaries(
        st.text(max_size=12).filter(lambda key: key not in known), json_values, max_size=3
    )
    return st.builds(
        lambda base, more: {**more, **base},
        st.fixed_dictionaries(required, optional=optional),
        unknown,
    )


def assert_identical(left: Any, right: Any) -> None:
    """Equal, and with the same types all the way down (``1 == 1.0 == True`` is not enough)."""
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


@PROPS
@given(wire_objects(Lead))
def test_lead_round_trip_is_exact(wire: dict[str, Any]) -> None:
    lead = structure_lead(wire)
    assert_identical(unstructure_lead(lead), wire)
    assert structure_lead(unstructure_lead(lead)) == lead


@PROPS
@given(wire_objects(Lead))
def test_lead_fields_have_their_declared_types(wire: dict[str, Any]) -> None:
    lead = structure_lead(wire)
    assert type(lead.lead_id) is int
    for name in ("date_created", "last_updated"):
        value = getattr(lead, name)
        assert value is None or (isinstance(value, datetime) and value.tzinfo is UTC)
    for name in ("quote_value", "sales_value", "tax", "shipping"):
        assert getattr(lead, name) is None or type(getattr(lead, name)) is Decimal
    for name in ("lead_analysis", "additional_fields", "mapped_fields"):
        assert type(getattr(lead, name)) is dict
    for name in ("contact_name", "tracking_number", "notes", "user_id"):
        assert getattr(lead, name) is None or type(getattr(lead, name)) is str
    for name in ("spam", "duplicate"):
        assert getattr(lead, name) in (None, True, False)
    assert lead.absent_keys.isdisjoint(wire)


profile_lists = st.lists(wire_objects(Profile), max_size=3) | st.none() | st.just("odd")


@PROPS
@given(
    st.one_of(
        wire_objects(Account, {"profiles": profile_lists}).map(lambda w: (w, Account)),
        wire_objects(Profile).map(lambda w: (w, Profile)),
        wire_objects(User).map(lambda w: (w, User)),
        wire_objects(Role).map(lambda w: (w, Role)),
        wire_objects(TrackingNumber).map(lambda w: (w, TrackingNumber)),
        wire_objects(TrackingForm).map(lambda w: (w, TrackingForm)),
    )
)
def test_other_records_round_trip_exactly(case: tuple[dict[str, Any], type]) -> None:
    wire, cls = case
    record: Any = structure(wire, cls)
    assert type(record) is cls
    assert_identical(unstructure(record), wire)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(wire_objects(Lead), max_size=4),
    st.integers(0, 50),
    st.integers(0, 2500),
    st.integers(0, 50),
    st.integers(0, 10**6),
)
def test_lead_envelope_round_trips(
    leads: list[dict[str, Any]], page_number: int, per_page: int, pages: int, total: int
) -> None:
    envelope = {
        "page_number": page_number,
        "leads_per_page": per_page,
        "total_pages": pages,
        "total_leads": total,
        "leads": leads,
    }
    page = structure_page(envelope, Lead, "leads", "leads_per_page", "total_leads")
    assert page.has_next == (page_number < pages)
    assert len(page) == len(leads)
    assert_identical(unstructure_page(page, Lead), envelope)


@PROPS
@given(moments, offsets)
def test_timestamps_are_the_same_instant_in_any_offset(moment: datetime, zone: timezone) -> None:
    moment = moment.replace(microsecond=0)
    text = format_timestamp(moment)
    assert parse_timestamp(text) == moment
    assert parse_timestamp(moment.astimezone(zone).isoformat()) == moment
    assert format_timestamp(moment.astimezone(zone)) == text


@PROPS
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_money_keeps_value_and_json_type(amount: float | int) -> None:
    lead = structure_lead({"lead_id": 1, "sales_value": amount})
    assert lead.sales_value == (Decimal(repr(amount)) if isinstance(amount, float) else amount)
    assert_identical(lead.to_dict()["sales_value"], amount)


odd_scalars = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from(["0000-00-00 00:00:00", "0000-00-00", "2025-02-30", "n/a", "soon"]),
)


@PROPS
@given(
    wire_objects(
        Lead,
        {
            "date_created": st.none() | timestamp_texts() | st.just(""),
            "last_updated": odd_scalars | timestamp_texts(),
            "quote_value": odd_scalars,
            "lead_score": odd_scalars,
            "spam": odd_scalars,
            "lead_type": odd_scalars,
            "field_mappings": odd_scalars,
        },
    )
)
def test_odd_optional_values_never_cost_the_lead(wire: dict[str, Any]) -> None:
    lead = structure_lead(wire)
    assert_identical(unstructure_lead(lead), wire)
    assert lead.unreadable_fields <= set(lead.wire_originals) <= set(wire)
    for name in lead.unreadable_fields:
        assert getattr(lead, name) in (None, {}, [])
