"""Pure helpers: a wire lead to a row, its content hash, webhook merges, field changes.

>>> wire = {"quote_value": 251, "lead_id": 7, "date_created": "2025-06-01T14:00:00Z"}
>>> lead = Lead.from_dict(wire)
>>> row = lead_row(lead)
>>> row["quote_value"], row["date_created"].isoformat()
(Decimal('251'), '2025-06-01T14:00:00+00:00')
>>> row["record"]
'{"quote_value":251,"lead_id":7,"date_created":"2025-06-01T14:00:00Z"}'
>>> merge_webhook({"lead_id": 7, "notes": "call back"}, {"lead_id": 7, "notes": None})
{'lead_id': 7, 'notes': 'call back'}
>>> changed_fields({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4})
{'b': [2, 3], 'c': [None, 4]}
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from .._codec import field_values, wire_object
from ..models import Lead
from .schema import ENUM_COLUMNS, LEAD_COLUMNS

__all__ = [
    "changed_fields",
    "content_hash",
    "dump_record",
    "lead_row",
    "merge_webhook",
    "strip_nul",
]


# One encoder for every record (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
try:
    _fast_dumps: Callable[[Any], bytes] | None = importlib.import_module("orjson").dumps
except ImportError:  # orjson is optional (the [fast] extra)
    _fast_dumps = None
_float_repr = float.__repr__  # what the standard encoder writes for a finite float


def _floats_agree(value: Any, dumps: Callable[[Any], bytes]) -> bool:
    """Whether every float in ``value`` (at any depth) is spelled alike by both encoders.

    Floats are the one kind of JSON data the two spell differently (Python: 1e-07, 1e+16;
    orjson: 1e-7, 0.00001; NaN). Walking the values costs a few microseconds a lead;
    scanning the encoded text for such spellings cost several times more (hex ids look
    like exponents).
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = item.__class__
        if kind is dict:
            for inner in item.values():
                inner_kind = inner.__class__
                if inner_kind is str or inner is None or inner_kind is int or inner_kind is bool:
                    continue  # the common case, without a push
                stack.append(inner)
        elif kind is str or item is None or kind is int or kind is bool:
            continue
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, float):
            if dumps(item) != _float_repr(item).encode():
                return False
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return True


def _record_bytes(record: Any) -> bytes:
    """:func:`dump_record`'s text as UTF-8 bytes."""
    if _fast_dumps is not None and _floats_agree(record, _fast_dumps):
        try:
            return _fast_dumps(record)
        except TypeError:  # beyond 64 bits, a lone surrogate: the standard way below
            pass
    return _ENCODER.encode(record).encode("utf-8", "surrogatepass")


def dump_record(record: Any) -> str:
    """The record as compact JSON text (UTF-8 as is, no spaces), keys in the order given.

    The text is the standard library's ``json`` with these options, with or without
    orjson installed, so a record's content hash never depends on what else is installed:
    orjson (several times faster) writes a record unless a float in it is spelled
    differently by the two (an exponent, below 1e-4, NaN), or it holds an integer beyond
    64 bits or a lone surrogate; such a record goes the standard way.

    >>> dump_record({"b": 1, "a": [0.5, "é", None], "c": 1e16})
    '{"b":1,"a":[0.5,"é",null],"c":1e+16}'
    """
    if _fast_dumps is not None and _floats_agree(record, _fast_dumps):
        try:
            return _fast_dumps(record).decode()
        except TypeError:
            pass
    return _ENCODER.encode(record)


def content_hash(text: str) -> str:
    """SHA-256 (hex) of a record's JSON text."""
    return hashlib.sha256(text.encode()).hexdigest()


_EMPTY_MAPS = ("lead_analysis", "additional_fields", "mapped_fields")


def lead_row(lead: Lead) -> dict[str, Any]:
    """The typed columns, ``record`` and ``content_hash`` of one lead.

    ``record`` is ``lead.to_dict()``: for a lead read from the API, the wire object as
    received, keys in the wire's order, so its text is the lead's slice of a compact JSON
    page (byte for byte, for the simulator's). The hash is that text's: an API page renders
    a lead's keys in one order, so a lead re-read unchanged hashes the same and is not
    rewritten; a webhook delivery is merged into the stored record and keeps its order.
    A lead first stored from a webhook whose keys come in another order than the API's is
    rewritten once, in the API's order, by the next scan that reads it; the mirror compares
    the content, so that rewrite counts as unchanged and logs no change.
    """
    # The lead's own wire object when it has one (only read here): to_dict() would copy it.
    record = wire_object(lead)
    if record is None:
        record = lead.to_dict()
    # Every typed value in one pass over the wire object (a lazy lead stays unconverted).
    row = field_values(lead)  # a fresh dict, keyed by exactly LEAD_COLUMNS (checked below)
    for name in ENUM_COLUMNS:
        value = row[name]
        if isinstance(value, enum.Enum):
            row[name] = str(value)
    for name in _EMPTY_MAPS:
        # Absent on the wire: NULL, not the model's empty default.
        if not row[name] and name not in record:
            row[name] = None
    data = _record_bytes(record)
    row["record"] = data.decode()
    row["content_hash"] = hashlib.sha256(data).hexdigest()
    return row


# lead_row hands field_values' dict on as the row: its keys must be the typed columns.
if tuple(field_values(Lead(lead_id=1))) != LEAD_COLUMNS:  # pragma: no cover - a model change
    raise ImportError("the Lead model's fields and the mirror's columns differ")


def merge_webhook(stored: Mapping[str, Any] | None, body: Mapping[str, Any]) -> dict[str, Any]:
    """The record after a webhook delivery: the stored record updated with ``body``'s fields.

    Fields the body does not carry keep their stored values, and a ``null`` in the body never
    replaces a stored value: an "update" delivery carries only the changed fields plus the
    common ones, so its ``null`` means "not sent", not "cleared". Only a full API read
    replaces a record wholesale.

    A body without ``last_updated`` for a stored record that has one cannot be ordered
    against it, so it is treated as older: it only fills fields the stored record lacks
    (absent or ``null``) and never overwrites a stored value. A late "new" delivery thus
    cannot undo an edit a refresh already stored.

    >>> merge_webhook({"lead_id": 7, "quotable": "Yes", "last_updated": "2025-06-02T10:00:00Z"},
    ...               {"lead_id": 7, "quotable": "Not Set", "notes": "hi"})
    {'lead_id': 7, 'quotable': 'Yes', 'last_updated': '2025-06-02T10:00:00Z', 'notes': 'hi'}
    """
    if stored is None:
        return dict(body)
    merged = dict(stored)
    undated = body.get("last_updated") in (None, "") and stored.get("last_updated") not in (
        None,
        "",
    )
    for name, value in body.items():
        if value is None and merged.get(name) is not None:
            continue
        if undated and merged.get(name) is not None:
            continue
        merged[name] = value
    return merged


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every wire field whose value differs (``None`` when absent)."""
    before: Mapping[str, Any] = old or {}
    out: dict[str, list[Any]] = {}
    for name in [*before, *(k for k in new if k not in before)]:
        a, b = before.get(name), new.get(name)
        if a != b:
            out[name] = [a, b]
    return out


_NUL = "\x00"


def _without_nul(value: Any) -> Any:
    """``value`` with NUL removed from every string in it (keys of maps included)."""
    if isinstance(value, str):
        return value.replace(_NUL, "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def strip_nul(row: dict[str, Any]) -> list[str]:
    """Remove NUL characters from ``row``'s typed text and JSON columns in place; returns the
    names of the columns changed (usually none).

    PostgreSQL's ``text`` cannot hold U+0000 and ``jsonb`` refuses ``\\u0000``, though both
    are valid JSON: there such a typed column holds the value with every NUL removed. The
    ``record`` column is untouched and keeps the exact wire value (JSON text escapes a NUL
    as ``\\u0000``, which ``text`` holds), so ``Lead.from_dict(json.loads(record))`` is the
    lead as received. Neither JSON encoder writes a raw control character, so a record
    without the six characters ``\\u0000`` holds no NUL and is passed over at once.

    >>> row = {"lead_id": 7, "notes": "a\\x00b", "record": '{"notes":"a\\\\u0000b"}'}
    >>> strip_nul(row), row["notes"]
    (['notes'], 'ab')
    """
    if "\\u0000" not in row["record"]:
        return []
    changed = []
    for name in LEAD_COLUMNS:
        value = row.get(name)
        if value is None or isinstance(value, (int, float)):
            continue
        clean = _without_nul(value)
        if clean != value:
            row[name] = clean
            changed.append(name)
    return changed
