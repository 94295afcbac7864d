"""The record text is the standard ``json`` spelling, with or without orjson installed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from whatconverts_async.mirror.records import dump_record

values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), values, max_size=8))
def test_text_is_the_standard_encoders(record: dict[str, Any]) -> None:
    expected = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    assert dump_record(record) == expected


def test_the_spellings_where_the_encoders_differ() -> None:
    record = {"big": 1e16, "small": [1e-05, 6.1e-05, 1e-07], "huge": 2**64, "lone": "\ud800"}
    assert dump_record(record) == json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    assert dump_record({"x": 1e16}) == '{"x":1e+16}'
