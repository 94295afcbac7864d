"""A page's heads read column by column give what reading them lead by lead gives.

``_codec.api_timestamps`` checks and converts a page's column of timestamps at once, and
``_codec.lazy_bytes_builder`` builds a page's lazy leads with one Python call each; both
must agree exactly with the per-value functions they replace (``api_timestamp`` and
``lazy_bytes_reader``), for well-formed columns and for every odd value in one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatconverts_async import _json
from whatconverts_async._codec import (
    MISSING,
    api_timestamp,
    api_timestamps,
    lazy_bytes_builder,
    lazy_bytes_reader,
)
from whatconverts_async.models import Lead

NOT_READ = object()

api_forms = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ").rjust(20, "0")
)
odd_values = st.sampled_from(
    [
        None,
        "",
        MISSING,
        msgspec.UNSET,
        5,
        2.5,
        True,
        [],
        {},
        "2025-06-01T24:00:00Z",  # hour 24: refused, not read as the next midnight
        "2025-06-31T00:00:00Z",  # no such day
        "2025-02-29T00:00:00Z",
        "2025-06-01T14:00:60Z",
        "2025-06-01 14:00:00Z",
        "2025-06-01t14:00:00z",
        "2025-06-01T14:00:00",
        "2025-06-01T14:00:00+00:00",
        "2025-06-01T14:00:00.5Z",
        "2025-06-01T14:00:0\u0663Z",  # a non-ASCII digit
        "2025-06-01T14:00:00ZZ",
        "2025-06-01T14:00:0Z",
        "soon",
    ]
)


def one_by_one(values: list[Any]) -> list[Any] | None:
    out = [api_timestamp(value, NOT_READ) for value in values]
    return None if NOT_READ in out else out


def same(got: list[Any] | None, expected: list[Any] | None) -> None:
    assert got == expected
    if got is not None and expected is not None:
        for left, right in zip(got, expected, strict=True):
            assert type(left) is type(right)
            if left is not None:
                assert left.tzinfo is timezone.utc is right.tzinfo


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(api_forms, odd_values), max_size=8))
def test_a_column_of_timestamps_reads_as_each_value_does(values: list[Any]) -> None:
    same(api_timestamps(values), one_by_one(values))


@settings(max_examples=100, deadline=None)
@given(st.lists(api_forms, max_size=30))
def test_a_column_in_the_api_form_reads_as_each_value_does(values: list[str]) -> None:
    got = api_timestamps(values)
    assert got is not None
    same(got, one_by_one(values))


def test_lengths_that_add_up_are_not_taken_for_whole_timestamps() -> None:
    # 19 + 21 characters join into two well-formed timestamps; each value alone is not one.
    values = ["2025-06-01T14:00:00", "Z2025-06-01T14:00:00Z"]
    assert api_timestamps(values) is None


def test_a_page_of_leads_built_at_once_equals_one_by_one() -> None:
    build, names = lazy_bytes_builder(Lead)
    read, same_names = lazy_bytes_reader(Lead)
    assert names == same_names == ("lead_id", "date_created", "last_updated")
    # The values given must be what the bytes hold (the caller vouches for them).
    raws = [
        b'{"lead_id": 7, "notes": "a", "date_created": "2025-06-01T00:00:00Z"}',
        b'{"lead_id": 8, "date_created": null}',
    ]
    created = [datetime(2025, 6, 1, tzinfo=timezone.utc), None]
    ids, updated = [7, 8], [None, None]
    many = build(raws, ids, created, updated)
    single = [read(raw, values) for raw, *values in zip(raws, ids, created, updated, strict=True)]
    assert many == single
    assert [lead.notes for lead in many] == ["a", None]
    assert [lead.date_created for lead in many] == created
    assert build([], [], [], []) == []


@pytest.mark.skipif(_json.msgspec is None, reason="needs msgspec ([fast])")
def test_a_page_splits_into_items_and_columns_of_their_heads() -> None:
    body = b'{"n": 2, "xs": [{"id": 7, "t": "a"}, {"t": null, "x": [1], "id": 8}, {"x": 1}]}'
    steps = _json.split_page(body, ("n",), "xs", ("id", "t"))
    with pytest.raises(StopIteration) as done:
        while True:
            next(steps)
    counted, items, columns = done.value.value
    assert counted == {"n": 2}
    assert items == [b'{"id": 7, "t": "a"}', b'{"t": null, "x": [1], "id": 8}', b'{"x": 1}']
    assert all(type(item) is bytes for item in items)
    assert columns == [[7, 8, msgspec.UNSET], ["a", None, msgspec.UNSET]]


@pytest.mark.skipif(_json.msgspec is None, reason="needs msgspec ([fast])")
@pytest.mark.parametrize(
    "body",
    [
        b'{"n": 1, "xs": [{"id": 7}, 5]}',  # an item that is not an object
        b'{"n": 1, "xs": [{"id": 7}], "more": 1}',  # an unknown envelope key
        b'{"xs": [{"id": 7}]}',  # a counter missing
        b'{"n": 1, "xs": {"id": 7}}',  # items not an array
    ],
)
def test_pages_split_page_cannot_vouch_for_give_none(body: bytes) -> None:
    steps = _json.split_page(body, ("n",), "xs", ("id",))
    with pytest.raises(StopIteration) as done:
        while True:
            next(steps)
    assert done.value.value is None


def decoded_page(leads: list[Any]) -> dict[str, Any]:
    return {
        "page_number": 1,
        "leads_per_page": 2500,
        "total_pages": 1,
        "total_leads": len(leads),
        "leads": leads,
    }


GOOD_LEAD = {"lead_id": 7, "date_created": "2025-06-01T14:00:00Z", "last_updated": None}


@pytest.mark.parametrize(
    "leads",
    [
        [GOOD_LEAD, {**GOOD_LEAD, "lead_id": 8, "last_updated": "2025-06-02T00:00:00Z"}],
        [{"lead_id": 9}],  # absent timestamps
        [{**GOOD_LEAD, "date_created": ""}],
        [{**GOOD_LEAD, "lead_id": 0}],  # the per-lead reader decides
        [{**GOOD_LEAD, "lead_id": "7"}],
        [{**GOOD_LEAD, "date_created": "2025-06-01 14:00:00+02:00"}],
        [{**GOOD_LEAD, "last_updated": "soon"}],
        [],
    ],
)
def test_a_decoded_page_of_leads_read_at_once_equals_one_by_one(leads: list[Any]) -> None:
    from whatconverts_async._codec import lazy_reader
    from whatconverts_async.convert import structure_page

    page = structure_page(decoded_page([dict(lead) for lead in leads]), Lead, consume=True)
    one_by_one = [lazy_reader(Lead)(dict(lead)) for lead in leads]
    assert page.items == one_by_one
    for got, expected in zip(page.items, one_by_one, strict=True):
        assert (got.lead_id, got.date_created, got.last_updated) == (
            expected.lead_id,
            expected.date_created,
            expected.last_updated,
        )
        assert got.to_dict() == expected.to_dict()


def test_a_decoded_page_with_an_unreadable_id_still_names_the_lead() -> None:
    from whatconverts_async.convert import structure_page

    envelope = decoded_page([GOOD_LEAD, {**GOOD_LEAD, "lead_id": "seven"}])
    with pytest.raises(ValueError, match=r"leads\[1\].*lead_id"):
        structure_page(envelope, Lead, consume=True)
