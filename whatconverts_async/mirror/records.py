"""Pure helpers: a wire lead to a row, its content hash, webhook merges, field changes.

>>> wire = {"quote_value": 251, "lead_id": 7, "date_created": "2025-06-01T14:00:00Z"}
>>> lead = Lead.from_dict(wire)
>>> row = lead_row(lead)
>>> row["quote_value"], row["date_created"].isoformat()
(Decimal('251'), '2025-06-01T14:00:00+00:00')
>>> row["record"]
'{"lead_id":7,"date_created":"2025-06-01T14:00:00Z","quote_value":251}'
>>> merge_webhook({"lead_id": 7, "notes": "call back"}, {"lead_id": 7, "notes": None})
{'lead_id': 7, 'notes': 'call back'}
>>> changed_fields({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4})
{'b': [2, 3], 'c': [None, 4]}
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..models import Lead
from .schema import ENUM_COLUMNS, LEAD_COLUMNS

__all__ = ["changed_fields", "content_hash", "dump_record", "lead_row", "merge_webhook"]


def dump_record(record: Mapping[str, Any]) -> str:
    """The record as compact JSON text, keys in the order given."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def content_hash(text: str) -> str:
    """SHA-256 (hex) of a record's JSON text."""
    return hashlib.sha256(text.encode()).hexdigest()


_EMPTY_MAPS = ("lead_analysis", "additional_fields", "mapped_fields")


def lead_row(lead: Lead) -> dict[str, Any]:
    """The typed columns, ``record`` and ``content_hash`` of one lead.

    ``record`` is ``lead.to_dict()``: the wire object, every key and value as received, keys
    in the model's order (``lead_id`` first, unknown keys last). One order for one content
    makes the hash depend on the content only, whichever path (a page, a webhook merge)
    produced the record.
    """
    record = lead.to_dict()
    row = {name: getattr(lead, name) for name in LEAD_COLUMNS}
    for name in ENUM_COLUMNS:
        value = row[name]
        if isinstance(value, enum.Enum):
            row[name] = str(value)
    for name in _EMPTY_MAPS:
        # Absent on the wire: NULL, not the model's empty default.
        if not row[name] and name not in record:
            row[name] = None
    text = dump_record(record)
    row["record"] = text
    row["content_hash"] = content_hash(text)
    return row


def merge_webhook(stored: Mapping[str, Any] | None, body: Mapping[str, Any]) -> dict[str, Any]:
    """The record after a webhook delivery: the stored record updated with ``body``'s fields.

    Fields the body does not carry keep their stored values, and a ``null`` in the body never
    replaces a stored value: an "update" delivery carries only the changed fields plus the
    common ones, so its ``null`` means "not sent", not "cleared". Only a full API read
    replaces a record wholesale.
    """
    if stored is None:
        return dict(body)
    merged = dict(stored)
    for name, value in body.items():
        if value is None and merged.get(name) is not None:
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
