"""Pure helpers: a wire lead to a row, its content hash, webhook merges, field changes.

>>> row = lead_row({"lead_id": 7, "quote_value": 251, "date_created": "2025-06-01T14:00:00Z"})
>>> row["quote_value"], row["date_created"].isoformat()
(Decimal('251'), '2025-06-01T14:00:00+00:00')
>>> row["record"]
'{"lead_id":7,"quote_value":251,"date_created":"2025-06-01T14:00:00Z"}'
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
from .schema import LEAD_COLUMNS

__all__ = ["changed_fields", "content_hash", "dump_record", "lead_row", "merge_webhook"]


def dump_record(record: Mapping[str, Any]) -> str:
    """The record as compact JSON text in its own key order (as the API serialises it)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def content_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the record with sorted keys: equal for equal content, whatever the
    key order."""
    canonical = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _column_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return str(value)
    return value


def lead_row(record: Mapping[str, Any], lead: Lead | None = None) -> dict[str, Any]:
    """The typed columns, ``record`` and ``content_hash`` of one wire lead.

    ``lead`` is the record already read into a :class:`Lead` (saves reading it again).
    Raises ``ValueError``/``TypeError`` for a record that is not a lead.
    """
    if lead is None:
        lead = Lead.from_dict(record)
    row = {name: _column_value(getattr(lead, name)) for name in LEAD_COLUMNS}
    for name in ("lead_analysis", "additional_fields", "mapped_fields"):
        # ``[]`` for an empty map on the wire is ``{}`` in the model: store the model's view,
        # the record keeps the original.
        if not row[name] and name not in record:
            row[name] = None
    row["record"] = dump_record(record)
    row["content_hash"] = content_hash(record)
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
