"""The package's one JSON decoder: the same result, or the same error, with or without orjson.

orjson is an optional speed-up. The standard library's ``json`` module, run with the rules
below, defines what a document means. orjson is used only where it gives exactly that result,
and when it refuses a document the standard path runs again to produce the error, so even the
messages are the same whichever decoder is installed.

The rules:

* **UTF-8 only.** One leading byte-order mark is skipped (some servers and proxies send one);
  anything else that is not UTF-8 is refused, and so are lone surrogates, whether encoded as
  bytes or written as ``\\ud800`` escapes (no UTF-8 file or database could store them).
* **Numbers are JSON numbers.** ``NaN``, ``Infinity`` and ``-Infinity`` are refused (they are
  not JSON), and so is a number too large for a float (``1e400``): a non-finite amount must
  never reach a money field. Integers are exact at any size up to Python's limit for integer
  conversion (4,300 digits); orjson would turn integers beyond 64 bits into floats, so a
  document with a run of 19 or more digits takes the standard path.
* **Duplicate keys**: the last value wins (what both decoders do, and what browsers do);
  every value is checked under these rules, the dropped ones too.
* **Nesting** deeper than ``max_depth`` levels (default :data:`MAX_DEPTH`, orjson's own limit)
  is refused with :class:`~whatconverts_async.errors.InvalidJSONError`, never a
  ``RecursionError``.

**Large documents in slices.** :func:`loads_steps` gives the same value (or the same error) as
:func:`loads`, as a generator that yields between slices of a few milliseconds, so an async
caller can give the event loop a turn while a 4 MB page of 2,500 leads is decoded (one
:func:`loads` call holds it ~35 ms with orjson, ~70 ms without). With msgspec installed
(the ``[fast]`` extra) the top-level object is split into its values, and a top-level array
into its items, in C; the pieces are decoded by :func:`loads` under the rules above. A
document the splitter cannot read exactly, or any document without msgspec, is decoded by
:func:`loads` in one step, so the result never depends on the splitter.

Every refusal is an :class:`~whatconverts_async.errors.InvalidJSONError` (a ``ValueError``)
whose message never quotes the document.

>>> loads(b'\\xef\\xbb\\xbf{"lead_id": 1000, "big": 18446744073709551616}')
{'lead_id': 1000, 'big': 18446744073709551616}
>>> loads("[NaN]")
Traceback (most recent call last):
...
whatconverts_async.errors.InvalidJSONError: invalid JSON: NaN is not valid JSON
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import re
import sys
from collections.abc import Callable, Generator
from typing import Any

from .errors import InvalidJSONError

__all__ = [
    "MAX_DEPTH",
    "SLICE_BYTES",
    "SLICE_ITEMS",
    "decoder_name",
    "loads",
    "loads_steps",
    "split_page",
    "splitter_name",
]

MAX_DEPTH = 1024
"""Deepest nesting of arrays and objects accepted by default (``[]`` is one level)."""

_fast: Callable[[bytes], Any] | None
try:
    import orjson

    _fast = orjson.loads
except ImportError:  # orjson is optional: the standard path alone gives the same results
    _fast = None

decoder_name = "json" if _fast is None else "orjson"
"""Which decoder does the work here: ``"orjson"`` when installed, else ``"json"``."""

_split_object: Callable[[bytes], dict[str, Any]] | None
_split_array: Callable[[Any], list[Any]] | None
_SplitError: type[Exception]
msgspec: Any
try:
    import msgspec

    _split_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
    _split_array = msgspec.json.Decoder(list[msgspec.Raw]).decode
    _SplitError = msgspec.DecodeError
except ImportError:  # msgspec is optional: the standard scanner splits the same way
    _split_object = _split_array = None
    _SplitError = ValueError
    msgspec = None

splitter_name = "none" if _split_object is None else "msgspec"
"""What splits large documents for :func:`loads_steps`: ``"msgspec"``, or ``"none"``."""

SLICE_BYTES = 256 * 1024
"""Documents up to this size are decoded by :func:`loads_steps` in one step (< 3 ms)."""

SLICE_ITEMS = 250
"""Items of a top-level array decoded between two yields of :func:`loads_steps`."""

_BOM = b"\xef\xbb\xbf"
_MISSING: Any = object()
# Digits become "0", everything else a space: a run of 19 zeros marks a number orjson may
# not read exactly (beyond 64 bits), found at C speed.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_NUMBER = b"0" * 19
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_STRUCTURE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number too large for a float")
    return value


_STRICT: dict[str, Any] = {"parse_constant": _no_constant, "parse_float": _finite_float}


def loads(data: bytes | bytearray | memoryview | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON document (UTF-8 bytes or text) under the rules of this module.

    ``max_depth`` (at most :data:`MAX_DEPTH`) is the deepest nesting accepted. Raises
    :class:`~whatconverts_async.errors.InvalidJSONError` for anything that is not one such
    document, ``TypeError`` when ``data`` is neither bytes nor text.

    >>> loads(b'{"a": [1, 2.5, "x"]}')
    {'a': [1, 2.5, 'x']}
    >>> loads(b"[[1]]", max_depth=1)
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.InvalidJSONError: invalid JSON: nested deeper than 1 levels
    """
    if not 1 <= max_depth <= MAX_DEPTH:
        raise ValueError(f"max_depth must be 1..{MAX_DEPTH}, got {max_depth!r}")
    raw = _utf8(data)
    if raw.startswith(_BOM):
        raw = raw[3:]
    value: Any = _MISSING
    if _fast is not None and _LONG_NUMBER not in raw.translate(_DIGITS_ONLY):
        # On orjson.JSONDecodeError the standard path below gives the one canonical error.
        with contextlib.suppress(ValueError):
            value = _fast(raw)
    if value is _MISSING:
        value = _standard(raw)
        if max_depth == MAX_DEPTH and not _standard_may_exceed():
            return value
    elif max_depth == MAX_DEPTH:
        return value  # orjson enforces MAX_DEPTH itself
    if raw.count(b"[") + raw.count(b"{") > max_depth and _deeper_than(value, max_depth):
        raise InvalidJSONError(f"nested deeper than {max_depth} levels")
    return value


def _standard_may_exceed() -> bool:
    """Whether the standard decoder can return a document deeper than :data:`MAX_DEPTH`.

    Before Python 3.12 it recurses within the interpreter's recursion limit, so with the
    default limit (1,000) it cannot, and the walk of every large page can be skipped.
    """
    return sys.version_info >= (3, 12) or sys.getrecursionlimit() > MAX_DEPTH


def _utf8(data: bytes | bytearray | memoryview | str) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidJSONError(f"not UTF-8 text ({exc.reason})", exc.start) from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"JSON must be bytes or str, not {type(data).__name__}")


def _standard(raw: bytes) -> Any:
    """The reference decoding: the standard library with this module's rules."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSONError(f"not UTF-8 ({exc.reason})", exc.start) from None
    try:
        value = _decode_nested(text)
    except InvalidJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise InvalidJSONError(
            f"{exc.msg} (line {exc.lineno} column {exc.colno})", exc.pos
        ) from None
    except ValueError as exc:  # NaN/Infinity, 1e400, integers past Python's digit limit
        raise InvalidJSONError(str(exc)) from None
    if _SURROGATE_ESCAPE.search(text) is not None:
        _refuse_lone_surrogates(text)
    return value


def _decode_nested(text: str) -> Any:
    try:
        return json.loads(text, **_STRICT)
    except RecursionError:
        pass
    # The C decoder recurses once per level; Python 3.10 and 3.11 count that against the
    # interpreter's recursion limit (1,000 by default, less what the caller already uses).
    if _nesting_exceeds(text, MAX_DEPTH):
        raise InvalidJSONError(f"nested deeper than {MAX_DEPTH} levels") from None
    # A legal document this interpreter could not reach: retry once with room for it. The
    # limit is process-wide; a thread doing the same at this moment may see the raised value
    # restored early and refuse its document, never accept a wrong one.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + MAX_DEPTH + 64)
    try:
        return json.loads(text, **_STRICT)
    except RecursionError:
        raise InvalidJSONError(
            f"nested too deep for this Python (at most {MAX_DEPTH} levels)"
        ) from None
    finally:
        sys.setrecursionlimit(limit)


def _nesting_exceeds(text: str, limit: int) -> bool:
    depth = 0
    for token in _STRUCTURE_TOKEN.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            if depth > limit:
                return True
        elif mark in "]}":
            depth -= 1
    return False


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays/objects, walked level by level."""
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        for container in level:
            for item in container.values() if type(container) is dict else container:
                if type(item) is dict or type(item) is list:
                    below.append(item)
        level = below
    return False


def _refuse_lone_surrogates(text: str) -> None:
    """Refuse ``\\ud800``-style escapes that do not form a surrogate pair."""
    pending_high: int | None = None
    for match in _ESCAPE.finditer(text):
        hex_digits = match.group(1)
        unit = int(hex_digits, 16) if hex_digits is not None else None
        if pending_high is not None:
            if unit is None or not 0xDC00 <= unit <= 0xDFFF or match.start() != pending_high:
                raise InvalidJSONError("lone surrogate in a \\u escape", pending_high)
            pending_high = None
            continue
        if unit is None:
            continue
        if 0xD800 <= unit <= 0xDBFF:
            pending_high = match.end()
        elif 0xDC00 <= unit <= 0xDFFF:
            raise InvalidJSONError("lone surrogate in a \\u escape", match.start())
    if pending_high is not None:
        raise InvalidJSONError("lone surrogate in a \\u escape", pending_high)


# --- large documents in slices ------------------------------------------------------------


class _Unsplittable(Exception):
    """The splitter cannot read this document exactly: decode it in one step instead."""


def loads_steps(
    data: bytes | bytearray | memoryview | str,
    *,
    max_depth: int = MAX_DEPTH,
    slice_items: int | None = None,
) -> Generator[None, None, Any]:
    """:func:`loads` as a generator that yields between slices; it returns the same value.

    With msgspec installed, a document larger than :data:`SLICE_BYTES` whose top level is
    an object is read one top-level value at a time, and the items of a top-level array
    ``slice_items`` at a time, with a ``yield`` in between (none for smaller documents, nor
    without msgspec). Errors are those of
    :func:`loads`, raised from the step that meets them (every problem the splitter meets
    is left to :func:`loads` on the whole document, so even the messages are the same).

    >>> steps = loads_steps(b'{"leads": [1, 2, 3]}')
    >>> try:
    ...     next(steps)
    ... except StopIteration as done:
    ...     done.value
    {'leads': [1, 2, 3]}
    """
    if not 1 <= max_depth <= MAX_DEPTH:
        raise ValueError(f"max_depth must be 1..{MAX_DEPTH}, got {max_depth!r}")
    if slice_items is None:
        slice_items = SLICE_ITEMS
    if slice_items < 1:
        raise ValueError(f"slice_items must be >= 1, got {slice_items!r}")
    whole = _utf8(data)
    # loads() skips the one BOM itself: it gets ``whole``, so a second BOM is refused
    # whatever the size of the document.
    raw = whole[3:] if whole.startswith(_BOM) else whole
    if len(raw) <= SLICE_BYTES or raw.lstrip(b" \t\n\r")[:1] != b"{" or max_depth < 3:
        return loads(whole, max_depth=max_depth)
    if _split_object is None:
        # Without msgspec, one loads() call: a splitter in Python (the standard scanner one
        # value at a time) was measured 30-50 % slower per page, and each lead's dict got
        # its own copy of every key (json.loads shares them within one call), ~5 KB a lead.
        return loads(whole, max_depth=max_depth)
    try:
        value = yield from _split_fast(raw, max_depth, slice_items)
    except (_Unsplittable, InvalidJSONError):
        return loads(whole, max_depth=max_depth)  # the one canonical value or error
    return value


def _split_fast(raw: bytes, max_depth: int, slice_items: int) -> Generator[None, None, Any]:
    """Split in C (msgspec), decode the pieces with :func:`loads`.

    Each piece is decoded inside one more array than it sits in, so that it nests exactly
    as deep as the whole document does there and ``loads`` checks ``max_depth`` for the
    document (with the default, orjson's own limit does it, without a walk in Python).
    """
    assert _split_object is not None and _split_array is not None
    try:
        top = _split_object(raw)
    except (_SplitError, RecursionError):  # incl. what msgspec reads more strictly
        raise _Unsplittable from None
    if not _entries_are_exactly(raw, top):
        # A repeated key: msgspec keeps the last value, and the one it dropped would never
        # be checked (1e400, a 5,000-digit integer); loads() checks every value.
        raise _Unsplittable
    out: dict[str, Any] = {}
    for key, piece in top.items():
        _check_key(key)
        # A view, not a copy: the items array of a page is most of its 4 MB.
        text = memoryview(piece)
        if not text or text[0] != 0x5B or len(text) <= SLICE_BYTES // 4:  # 0x5B: "["
            out[key] = loads(b"[" + text + b"]", max_depth=max_depth)[0]
            continue
        yield
        try:
            items = _split_array(piece)
        except (_SplitError, RecursionError):
            raise _Unsplittable from None
        values: list[Any] = []
        for begin in range(0, len(items), slice_items):
            yield
            # One decoder call per slice: [[items]] nests as deep as {"key": [items]}.
            chunk = b"[[" + b",".join(items[begin : begin + slice_items]) + b"]]"
            values.extend(loads(chunk, max_depth=max_depth)[0])
        out[key] = values
    return out


_WS = rb"[ \t\n\r]*"
_OPEN = re.compile(_WS + rb"\{")
_KEY = re.compile(_WS + rb'"((?:[^"\\]|\\.)*)"' + _WS + rb":" + _WS, re.DOTALL)
_AFTER_VALUE = re.compile(_WS + rb"([,}])")


def _entries_are_exactly(raw: bytes, top: dict[str, Any]) -> bool:
    """Whether the object in ``raw`` holds exactly the entries of ``top``, in its order.

    ``top`` is msgspec's split of ``raw``: with a key written twice it has fewer entries
    than the document (its order is that of first appearance, its value the last). The
    document is walked entry by entry, each value compared with its piece in place (no
    copy), so a document passes only if no entry was dropped.
    """
    opened = _OPEN.match(raw)
    if opened is None:
        return False
    pos = opened.end()
    if not top:
        closed = _AFTER_VALUE.match(raw, pos)
        return closed is not None and closed.group(1) == b"}"
    for index, (key, piece) in enumerate(top.items()):
        found = _KEY.match(raw, pos)
        if found is None:
            return False
        written = found.group(1)
        if b"\\" in written:
            if loads(b'"' + written + b'"') != key:
                return False
        elif written != key.encode("utf-8"):
            return False
        pos = found.end()
        if not raw.startswith(piece, pos):
            return False
        pos += len(piece)
        after = _AFTER_VALUE.match(raw, pos)
        last = index == len(top) - 1
        if after is None or after.group(1) != (b"}" if last else b","):
            return False
        pos = after.end()
    return True


def _check_key(key: str) -> None:
    # The whole-document path refuses lone surrogates anywhere, keys included.
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise _Unsplittable from None


# --- list pages as one bytes object per item -------------------------------------------

# Each byte as its part in a number: digits "0", "e"/"E" "e", signs "+", what may end a
# number ":" (",", "]", "}", ":" and "["), blanks "_", anything else "x". A float needs 309
# digits or a 3-digit exponent to overflow, and Python's integers stop at 4,300 digits;
# shorter numbers decode the same way either way.
_NUMBER_SHAPE = bytes(
    0x30
    if 0x30 <= b <= 0x39
    else 0x65
    if b in b"eE"
    else 0x2B
    if b in b"+-"
    else 0x3A
    if b in b":,[]}"
    else 0x5F
    if b in b" \t\n\r"
    else 0x78
    for b in range(256)
)
_HUGE_NUMBER = b"0" * 309
_CHECK_BYTES = 1024 * 1024
_CHECK_OVERLAP = 2 * len(_HUGE_NUMBER)  # longer than any number _odd_numbers looks for
# JSON puts a digit before every exponent; searching from it is 2x faster than from "e".
_BIG_EXPONENT = re.compile(rb"0e\+?000+[:_]")
_PAGE_DECODERS: dict[
    tuple[tuple[str, ...], str, tuple[str, ...]], tuple[Any, Any, list[Callable[[Any], Any]]]
] = {}


def split_page(
    raw: bytes,
    counters: tuple[str, ...],
    items_key: str,
    head: tuple[str, ...],
    *,
    slice_items: int | None = None,
) -> Generator[None, None, tuple[dict[str, Any], list[bytes], list[list[Any]]] | None]:
    """A list page split in C (msgspec): its envelope, and each item as its own bytes.

    A generator that yields between steps of a few milliseconds (each page-wide check,
    each decode; ``slice_items`` is accepted for compatibility and no longer changes the
    result), so an async caller can give the event loop a turn, and returns the result.
    ``raw`` must be one JSON object with exactly the keys ``counters`` and ``items_key``
    (an array of objects). The result is ``({counter: value}, items, columns)``, where the
    counters are decoded by :func:`loads`, each of ``items`` is a copy of one item's JSON
    as ``bytes`` (so the page's buffer is not kept alive by its items) and ``columns``
    holds one list per key of ``head``: the items' values of that key in item order,
    decoded by msgspec (``msgspec.UNSET`` for a missing key; the caller checks their
    types). The whole page is decoded twice in C, once into the items' slices and once
    into their heads, with no Python work per item but the copy.

    The result is ``None`` (the caller decodes the page the normal way, which gives the
    one canonical value or error) for anything it cannot vouch for: msgspec missing,
    another envelope (an error body, unknown or missing keys), an item that is not an
    object, and whatever :func:`loads` might read differently from msgspec or refuse:
    text that is not UTF-8, ``\\ud800``-style escapes that do not pair, numbers that may
    overflow a float or Python's integer limit (``1e400``, 309 digits in a row; see
    ``_odd_numbers``), nesting beyond msgspec's limit (below :data:`MAX_DEPTH`). So every
    item's bytes decode by :func:`loads` to exactly the object a whole-page decode gives.

    >>> def run(steps):
    ...     try:
    ...         while True:
    ...             next(steps)
    ...     except StopIteration as done:
    ...         return done.value
    >>> run(split_page(b'{"n": 1, "xs": [{"id": 7, "a": "b"}]}', ("n",), "xs", ("id",)))
    ({'n': 1}, [b'{"id": 7, "a": "b"}'], [[7]])
    >>> run(split_page(b'{"error_message": "Invalid"}', ("n",), "xs", ("id",))) is None
    True
    """
    if slice_items is not None and slice_items < 1:
        raise ValueError(f"slice_items must be >= 1, got {slice_items!r}")
    if msgspec is None or raw[:1] != b"{":
        return None
    # Each check is one C pass over the page: a few ms each for 4 MB, so one per step.
    if not raw.isascii():
        yield
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if _SURROGATE_BYTES.search(raw) is not None:
        yield
        if not _surrogates_pair(raw):
            return None
    for begin in range(0, len(raw), _CHECK_BYTES):
        yield
        # Overlapping pieces: a number that could overflow is found whole in one of them.
        if _odd_numbers(raw[begin : begin + _CHECK_BYTES + _CHECK_OVERLAP]):
            return None
    envelope_decoder, heads_decoder, getters = _page_decoders(counters, items_key, head)
    yield
    try:
        envelope = envelope_decoder.decode(raw)
        counted = {key: loads(bytes(getattr(envelope, key))) for key in counters}
        pieces = getattr(envelope, items_key)
        del envelope
        yield
        # One C call for every item's head (the id and timestamps of 2,500 leads), not
        # one call per item: msgspec skips the other keys without building them.
        heads = getattr(heads_decoder.decode(raw), items_key)
        if len(heads) != len(pieces):  # the same array read twice: cannot differ
            return None
        columns = [list(map(getter, heads)) for getter in getters]
        del heads
        yield
        items: list[bytes] = list(map(bytes, pieces))
    except (msgspec.DecodeError, InvalidJSONError, RecursionError):
        return None
    return counted, items, columns


_SURROGATE_BYTES = re.compile(rb"\\u[dD]")


def _surrogates_pair(raw: bytes) -> bool:
    try:
        _refuse_lone_surrogates(raw.decode("utf-8"))
    except InvalidJSONError:
        return False
    return True


def _odd_numbers(raw: bytes) -> bool:
    """Whether ``raw`` may hold a number that :func:`loads` refuses and msgspec, skipping
    over it, does not: a float too large (``1e400``, or 309 digits before the point) or an
    integer beyond Python's digit limit. Conservative: 309 digits in a row, or an "e"
    followed by 3 digits or more and the end of a token (what a hex id inside a string
    lacks), anywhere, answers True, which only costs the bytes path for that page."""
    shape = raw.translate(_NUMBER_SHAPE)
    return _HUGE_NUMBER in shape or _BIG_EXPONENT.search(shape) is not None


def _page_decoders(
    counters: tuple[str, ...], items_key: str, head: tuple[str, ...]
) -> tuple[Any, Any, list[Callable[[Any], Any]]]:
    key = (counters, items_key, head)
    decoders = _PAGE_DECODERS.get(key)
    if decoders is None:
        # gc=False: neither the envelope nor the heads hold containers that could form a
        # cycle, and untracked they add nothing to a collector pass.
        envelope = msgspec.defstruct(
            "Envelope",
            [(name, msgspec.Raw) for name in counters] + [(items_key, list[msgspec.Raw])],
            forbid_unknown_fields=True,
            gc=False,
        )
        heads = msgspec.defstruct("Head", [(name, Any, msgspec.UNSET) for name in head], gc=False)
        # The other keys of the envelope are checked by the first decoder; here they are
        # skipped.
        head_list: Any = list[heads]  # type: ignore[valid-type]
        page_heads = msgspec.defstruct("HeadPage", [(items_key, head_list)], gc=False)
        decoders = (
            msgspec.json.Decoder(envelope),
            msgspec.json.Decoder(page_heads),
            [operator.attrgetter(name) for name in heads.__struct_fields__],
        )
        _PAGE_DECODERS[key] = decoders
    return decoders
