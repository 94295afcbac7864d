"""Large documents decoded in slices: the same value or the same error as one ``loads``.

Both paths are exercised in this process: msgspec's splitter (when installed) and none
(msgspec switched off with ``monkeypatch``: one ``loads`` call); the subprocess test at the
end blocks msgspec at import, as an installation without ``[fast]`` has.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatconverts_async import _json
from whatconverts_async._transport import Answer, decode_object, decode_object_sliced
from whatconverts_async.errors import InvalidJSONError, MalformedResponseError

SPLITTERS = ["msgspec", "none"]


@pytest.fixture(params=SPLITTERS)
def splitter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Small slices so that small documents take the sliced path; one run per splitter."""
    monkeypatch.setattr(_json, "SLICE_BYTES", 64)
    if request.param == "msgspec":
        if _json._split_object is None:
            pytest.skip("msgspec not installed")
    else:
        monkeypatch.setattr(_json, "_split_object", None)
        monkeypatch.setattr(_json, "_split_array", None)
    yield request.param


def run_steps(data: bytes | str, **options: Any) -> tuple[Any, int]:
    steps = _json.loads_steps(data, **options)
    count = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value, count
        count += 1


def assert_same(got: Any, expected: Any) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 4000)  # comparing the 1,000-deep documents recurses
    try:
        assert got == expected
    finally:
        sys.setrecursionlimit(limit)


def outcome(decode: Any) -> tuple[str, Any]:
    try:
        return "value", decode()
    except InvalidJSONError as exc:
        return "error", str(exc)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
pages = st.dictionaries(
    st.sampled_from(["page_number", "leads_per_page", "total_pages", "leads", "x", "é"]),
    json_values | st.lists(st.dictionaries(st.text(max_size=8), json_values), max_size=30),
)


# The fixture only patches module settings, the same for every example.
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page=pages, indent=st.sampled_from([None, 1]), slice_items=st.integers(1, 7))
def test_sliced_decoding_equals_one_loads(
    splitter: str, page: dict[str, Any], indent: int | None, slice_items: int
) -> None:
    body = json.dumps(page, indent=indent, ensure_ascii=False).encode()
    value, _ = run_steps(body, slice_items=slice_items)
    expected = _json.loads(body)
    assert value == expected
    assert list(value) == list(expected)  # key order too


def test_a_large_array_is_decoded_in_several_steps(splitter: str) -> None:
    leads = [{"lead_id": n, "notes": "x" * 40, "nested": {"a": [n, 1.5]}} for n in range(1000)]
    body = json.dumps({"page_number": 1, "leads": leads, "total_leads": 1000}).encode()
    value, steps = run_steps(body, slice_items=100)
    assert value == {"page_number": 1, "leads": leads, "total_leads": 1000}
    if splitter == "msgspec":
        assert steps >= 10  # one step per 100 leads at least
    else:
        assert steps == 0  # one loads() call


ODD = [
    b'{"leads": [1, 2], "leads": [3]}',  # duplicate keys: the last wins, first position
    b'{"a": 1, "leads": [{"x": NaN}]}',
    b'{"leads": [1e400]}',
    b'{"leads": [18446744073709551616123]}',
    b'{"leads": ["\\ud800"]}',
    b'{"\\ud800": [1]}',
    b'{"leads": ["\\ud83d\\ude00"]}',
    b'{"leads": ["\xff"]}',
    b'{"leads": [1, 2]} trailing',
    b'{"leads": [1, 2,]}',
    b'{"leads": [1 2]}',
    b'{"leads": [1, 2]',
    b'\xef\xbb\xbf{"leads": [1, 2]}',
    # One BOM is skipped, never two, whatever the size.
    b'\xef\xbb\xbf\xef\xbb\xbf{"leads": [1, 2]}',
    b'\xef\xbb\xbf\xef\xbb\xbf{"leads": [' + b", ".join([b"12345"] * 40) + b"]}",
    # A repeated key: the value dropped is checked too (the splitter keeps only the last).
    *(
        b'{"total_leads": ' + first + b', "total_leads": 2, "leads": [' + b"1, " * 30 + b"2]}"
        for first in (b"1e400", b"9" * 5000, b'"\\ud800"', b"[" * 1100 + b"]" * 1100, b"NaN")
    ),
    b'{"leads": [' + b"1, " * 30 + b'2], "leads": [1e400], "leads": [3]}',
    b'{"a": 1, "a": 2, "leads": [' + b"1, " * 30 + b"2]}",
    b'{"a\\u0062": 1, "ab": 2, "leads": [' + b"1, " * 30 + b"2]}",
    b'{"a\\u0062": 1, "leads": [' + b"1, " * 30 + b"2]}",
    b' \n{ "leads" :\t[ 1 , { "a" : [ ] } ] , "z" : { } } \n',
    b'{"leads": "[not an array]"}',
    b'{"leads": [' + b"[" * 1100 + b"]" * 1100 + b"]}",
    b'{"leads": [' + b"[" * 1021 + b"]" * 1021 + b"]}",
    b'{"leads": [' + b"[" * 1022 + b"]" * 1022 + b"]}",
    b"{}",
    b'{"leads": []}',
    b"[1, 2, 3]",
    b'{"error_message": "Invalid API Key"}',
]


@pytest.mark.parametrize("body", ODD)
def test_odd_documents_give_what_one_loads_gives(splitter: str, body: bytes) -> None:
    assert_same(
        outcome(lambda: run_steps(body, slice_items=1)[0]), outcome(lambda: _json.loads(body))
    )


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_max_depth_is_kept(splitter: str, depth: int) -> None:
    body = b'{"leads": [[[1]], [2]], "pad": "' + b"x" * 100 + b'"}'
    got = outcome(lambda: run_steps(body, max_depth=depth)[0])
    assert got == outcome(lambda: _json.loads(body, max_depth=depth))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        run_steps(b"{}", max_depth=0)
    with pytest.raises(ValueError, match="slice_items"):
        run_steps(b"{}", slice_items=0)


def answer(body: bytes) -> Answer:
    return Answer(200, body, "application/json", "GET", "https://example.invalid/leads")


async def test_the_transport_gives_the_loop_turns_while_decoding(splitter: str) -> None:
    leads = [{"lead_id": n, "notes": "y" * 30} for n in range(2000)]
    body = json.dumps({"page_number": 1, "leads": leads}).encode()
    turns = 0
    running = True

    def tick() -> None:
        nonlocal turns
        turns += 1
        if running:
            asyncio.get_running_loop().call_soon(tick)

    asyncio.get_running_loop().call_soon(tick)
    payload = await decode_object_sliced(answer(body))
    running = False
    assert payload == {"page_number": 1, "leads": leads}
    if splitter == "msgspec":
        # 2,000 leads in slices of 250: the loop ran other callbacks between the slices.
        assert turns >= 2000 // _json.SLICE_ITEMS
    else:
        assert turns <= 1


@pytest.mark.parametrize(
    "body", [b'{"error_message": "Invalid API Key", "pad": [1, 2, 3, 4, 5, 6, 7, 8]}', *ODD]
)
async def test_the_sliced_transport_decode_equals_the_plain_one(splitter: str, body: bytes) -> None:
    def plain() -> Any:
        return decode_object(answer(body))

    try:
        expected: Any = ("value", plain())
    except Exception as exc:
        expected = (type(exc), str(exc))
    try:
        got: Any = ("value", await decode_object_sliced(answer(body)))
    except Exception as exc:
        got = (type(exc), str(exc))
    assert_same(got, expected)
    if expected[0] is MalformedResponseError:
        assert "not JSON" in expected[1] or "not an object" in expected[1]


def test_without_msgspec_a_document_is_decoded_in_one_step() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["msgspec"] = None  # as if it were not installed
        from whatconverts_async import _json
        assert _json.splitter_name == "none", _json.splitter_name
        body = b'{"leads": [' + b",".join(b'{"lead_id": %d}' % n for n in range(30000)) + b"]}"
        steps = _json.loads_steps(body)
        count = 0
        while True:
            try:
                next(steps)
            except StopIteration as done:
                value = done.value
                break
            count += 1
        assert value == _json.loads(body) and count == 0, count
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_suite_runs_the_decode_path_it_was_asked_for() -> None:
    if os.environ.get("WHATCONVERTS_TEST_SPLITTER") == "none":
        assert _json._split_object is None
        assert run_steps(b'{"leads": [' + b"1," * 5000 + b"1]}")[1] == 0  # one step
    else:
        assert (_json._split_object is None) == (_json.splitter_name == "none")
    assert _json.SLICE_BYTES == 2048  # tests/conftest.py: small answers take the sliced path
