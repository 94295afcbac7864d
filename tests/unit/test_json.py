"""_json.loads: every decoding case gives the same result, or the same error, with and without
orjson.

Each case runs through two copies of the module: the installed one (orjson, when present) and
a fresh copy imported while ``orjson`` is blocked, exactly as on a machine without it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from whatconverts_async import _json
from whatconverts_async.errors import InvalidJSONError, WhatConvertsError

SAMPLES = Path(__file__).parent.parent / "samples" / "field-cases"
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fresh_copy(*, block_orjson: bool) -> ModuleType:
    """A new instance of ``whatconverts_async._json``, imported with or without orjson."""
    saved = sys.modules.get("orjson")
    if block_orjson:
        sys.modules["orjson"] = None  # type: ignore[assignment]  # as if not installed
    try:
        spec = importlib.util.find_spec("whatconverts_async._json")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("orjson", None)
        else:
            sys.modules["orjson"] = saved
    return module


WITH_ORJSON = _fresh_copy(block_orjson=False)
WITHOUT_ORJSON = _fresh_copy(block_orjson=True)


def test_the_two_copies_use_the_two_decoders() -> None:
    pytest.importorskip("orjson")
    assert WITH_ORJSON.decoder_name == "orjson" == _json.decoder_name
    assert WITHOUT_ORJSON.decoder_name == "json"


def _outcome(loads: Callable[..., Any], data: Any, **kw: Any) -> tuple[str, Any]:
    try:
        return ("value", loads(data, **kw))
    except InvalidJSONError as exc:
        assert isinstance(exc, WhatConvertsError) and isinstance(exc, ValueError)
        return ("error", (str(exc), exc.position))


def assert_identical(left: Any, right: Any) -> None:
    """Equal, with the same types and key order all the way down (walked without recursion,
    so documents 1,024 levels deep can be compared)."""
    pending = [(left, right)]
    while pending:
        a, b = pending.pop()
        assert type(a) is type(b), (a, b)
        if isinstance(a, dict):
            assert list(a) == list(b)
            pending.extend((a[key], b[key]) for key in a)
        elif isinstance(a, list):
            assert len(a) == len(b)
            pending.extend(zip(a, b, strict=True))
        else:
            assert a == b


def both(data: Any, **kw: Any) -> tuple[str, Any]:
    """The outcome under both decoders, checked identical."""
    fast = _outcome(WITH_ORJSON.loads, data, **kw)
    slow = _outcome(WITHOUT_ORJSON.loads, data, **kw)
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "value":
        assert_identical(fast[1], slow[1])
    else:
        assert fast[1] == slow[1]
    return fast


def value(data: Any, **kw: Any) -> Any:
    kind, result = both(data, **kw)
    assert kind == "value", result
    return result


def error(data: Any, fragment: str, **kw: Any) -> str:
    kind, result = both(data, **kw)
    assert kind == "error", result
    message: str = result[0]
    assert message.startswith("invalid JSON: ") and fragment in message, message
    return message


def nest(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


# --- accepted, with the same result -------------------------------------------------------


def test_case_07_byte_order_mark_is_skipped() -> None:
    body = (SAMPLES / "case-07.bin").read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    envelope = value(body)
    assert envelope["leads"][0]["lead_id"] == 1000
    assert value(body.decode("utf-8")) == envelope  # the BOM as text: U+FEFF


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"18446744073709551616", 2**64),  # orjson alone would give a float
        (b"-9223372036854775809", -(2**63) - 1),
        (b"[18446744073709551615, -9223372036854775808]", [2**64 - 1, -(2**63)]),
        (b"9" * 400, int("9" * 400)),
        (b'{"id": 123456789012345678901234567890}', {"id": 123456789012345678901234567890}),
        (b'{"a": 1, "b": 2, "a": 3}', {"a": 3, "b": 2}),
        (b"-0", 0),
        (b"-0.0", -0.0),
        (b"1e-400", 0.0),
        (b"1E+2", 100.0),
        (b"1.7976931348623157e308", 1.7976931348623157e308),
        (b'"\\ud83d\\ude00"', "\U0001f600"),
        (b'"\\\\ud800"', "\\ud800"),  # an escaped backslash, then plain text
        (b'"\\u0000"', "\x00"),
        (b' \n\t{"a": []}\r\n ', {"a": []}),
        ('{"name": "Zoë"}', {"name": "Zoë"}),
        (bytearray(b"[1]"), [1]),
        (memoryview(b"[1]"), [1]),
        (nest(_json.MAX_DEPTH), None),
        (b'["[[[[{{",' * 1000 + b"0" + b"]" * 1000, None),  # brackets in strings do not nest
    ],
)
def test_accepted_the_same_way(data: Any, expected: Any) -> None:
    result = value(data)
    if expected is not None:
        assert_identical(result, expected)


def test_deepest_document_allowed_is_read_by_both() -> None:
    result = value(nest(_json.MAX_DEPTH, b"7"))
    for _ in range(_json.MAX_DEPTH):
        (result,) = result
    assert result == 7


def test_a_deep_caller_stack_does_not_refuse_a_legal_document() -> None:
    # On Python <= 3.11 the standard decoder shares the interpreter's recursion budget.
    def descend(frames: int) -> tuple[str, Any]:
        if frames:
            return descend(frames - 1)
        return both(nest(400))

    limit = sys.getrecursionlimit()
    assert descend(min(700, limit - 250))[0] == "value"
    assert sys.getrecursionlimit() == limit


# --- refused, with the same error ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"NaN", "NaN is not valid JSON"),
        (b'{"lead_id": NaN}', "NaN is not valid JSON"),
        (b"[Infinity]", "Infinity is not valid JSON"),
        (b"[-Infinity]", "-Infinity is not valid JSON"),
        (b"1e400", "number too large for a float"),
        (b'{"sales_value": -1e400}', "number too large for a float"),
        (b'"\\ud800"', "lone surrogate"),
        (b'"\\udc00"', "lone surrogate"),
        (b'"\\ud83dx"', "lone surrogate"),
        (b'"\\ud83d\\u0041"', "lone surrogate"),
        (b'{"\\ud800": 1}', "lone surrogate"),
        (b'"\xed\xa0\x80"', "not UTF-8"),  # a surrogate encoded as bytes
        ('"\ud800"', "not UTF-8 text"),
        (b'"caf\xe9"', "not UTF-8"),
        ('{"a":1}'.encode("utf-16"), "not UTF-8"),
        ('{"a":1}'.encode("utf-16-le"), "Expecting property name"),
        (nest(_json.MAX_DEPTH + 1), f"nested deeper than {_json.MAX_DEPTH} levels"),
        (nest(100_000), f"nested deeper than {_json.MAX_DEPTH} levels"),
        (b"[" * 100_000, f"nested deeper than {_json.MAX_DEPTH} levels"),
        (b'{"a":' * 5000, f"nested deeper than {_json.MAX_DEPTH} levels"),
        (b'{"a": "[[[[", "b":' * 1100, f"nested deeper than {_json.MAX_DEPTH} levels"),
        (b"", "Expecting value"),
        (b" \n ", "Expecting value"),
        (b"\xef\xbb\xbf", "Expecting value"),
        (b"\xef\xbb\xbf\xef\xbb\xbf{}", "Unexpected UTF-8 BOM"),  # only one is skipped
        (b"{} x", "Extra data"),
        (b"\x0b{}", "Expecting value"),
        (b'"a\x01b"', "Invalid control character"),
        (b"01", "Extra data"),
        (b"+1", "Expecting value"),
        (b"0x10", "Extra data"),
        (b"[1,]", "Expecting value"),
        (b"{'a': 1}", "Expecting property name"),
        (b"1" * 5000, "integer string conversion"),
    ],
)
def test_refused_the_same_way(data: Any, fragment: str) -> None:
    message = error(data, fragment)
    assert len(message) < 200
    if isinstance(data, bytes) and len(data) > 20:
        assert data.decode("latin-1")[:20] not in message  # never quotes the document


def test_error_positions_are_the_standard_ones() -> None:
    kind, (message, position) = both(b'{"a": 1,\n "b": tru}')
    assert kind == "error" and position == 15 and "line 2 column 7" in message
    assert both(b'"ok\xff"')[1] == ("invalid JSON: not UTF-8 (invalid start byte)", 3)


@pytest.mark.parametrize("data", [None, 12, ["{}"], {"a": 1}])
def test_wrong_input_type_is_a_type_error(data: Any) -> None:
    for module in (WITH_ORJSON, WITHOUT_ORJSON):
        with pytest.raises(TypeError, match="JSON must be bytes or str"):
            module.loads(data)


def test_max_depth_is_checked_by_both() -> None:
    assert value(nest(3), max_depth=3) == [[[]]]
    error(nest(4), "nested deeper than 3 levels", max_depth=3)
    error(b'{"a": {"b": [1]}}', "nested deeper than 2 levels", max_depth=2)
    for bad in (0, _json.MAX_DEPTH + 1):
        with pytest.raises(ValueError, match="max_depth"):
            _json.loads(b"[]", max_depth=bad)


# --- anything else: the two decoders agree --------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=15,
)


@PROPS
@given(json_values, st.booleans())
def test_any_json_value_reads_back_the_same(data: Any, ascii_only: bool) -> None:
    import json

    text = json.dumps(data, ensure_ascii=ascii_only)
    assert_identical(value(text.encode("utf-8")), data)


@PROPS
@given(st.binary(max_size=200))
@example(b'{"a": 1e999}')
@example(b"[1e308, 1e309]")
@example(b'"\\uD800\\uDC00"')
@example(b'"\\uDBFF\\uDFFF\\uD800"')
@example(b"12345678901234567890.5")
@example(b"-12345678901234567890e-5")
@example(b"\xef\xbb\xbf 1")
def test_any_bytes_give_the_same_outcome(data: bytes) -> None:
    both(data)


@PROPS
@given(
    json_values.map(lambda v: __import__("json").dumps(v)),
    st.integers(0, 200),
    st.sampled_from(["NaN", "\\ud800", "1e400", "\x00", "\\", '"', "]", "9" * 25, "\ufeff"]),
)
def test_damaged_documents_give_the_same_outcome(text: str, at: int, insert: str) -> None:
    at = min(at, len(text))
    both(text[:at] + insert + text[at:])


def test_a_raised_recursion_limit_does_not_let_deeper_documents_through() -> None:
    # With more room the standard decoder could return 1,100 levels; the walk still refuses.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 6000))
    try:
        error(nest(_json.MAX_DEPTH + 76), f"nested deeper than {_json.MAX_DEPTH} levels")
        assert value(nest(_json.MAX_DEPTH)) is not None
    finally:
        sys.setrecursionlimit(limit)
