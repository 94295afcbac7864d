"""The simulator's shared vocabulary: lead types, quotable values, flag bits, time helpers.

Used by the directory, the lead generator and the lead store alike; imports nothing
from the client package.
"""

from __future__ import annotations

import math
import time
from datetime import date, datetime, timezone
from typing import Final

__all__ = ["LEAD_TYPES", "QUOTABLE_VALUES", "UTC", "format_timestamp"]

UTC: Final = timezone.utc
M64: Final = 0xFFFFFFFFFFFFFFFF

#: Wire value of the ``lead_type`` filter → display string in lead dicts, in the
#: order the API lists them.
LEAD_TYPES: Final[dict[str, str]] = {
    "phone_call": "Phone Call",
    "web_form": "Web Form",
    "chat": "Chat",
    "text_message": "Text Message",
    "email": "Email",
    "appointment": "Appointment",
    "event": "Event",
    "transaction": "Transaction",
    "other": "Other",
}
TYPE_CODES: Final = list(LEAD_TYPES)
TYPE_DISPLAY: Final = list(LEAD_TYPES.values())
DISPLAY_TO_CODE: Final = {v: i for i, v in enumerate(TYPE_DISPLAY)}

#: Wire value of ``quotable`` (filter and edit) → display string in lead dicts.
QUOTABLE_VALUES: Final[dict[str, str]] = {
    "not_set": "Not Set",
    "yes": "Yes",
    "no": "No",
    "pending": "Pending",
}
QUOTABLE_DISPLAY: Final = list(QUOTABLE_VALUES.values())

# Bits of the generated leads' flag column.
SPAM: Final = 1
DUPLICATE: Final = 2
REPEAT: Final = 4
HAS_QUOTE: Final = 32
HAS_SALES: Final = 64
QUOTABLE_SHIFT: Final = 3


def mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def format_timestamp(ts: int) -> str:
    """Format epoch seconds the way the API does: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def epoch(value: datetime | date) -> int:
    """Epoch seconds of an aware datetime, or of 00:00 UTC of a date (an ISO 8601 string
    of either is read too). Raises ``ValueError`` for a naive datetime or other values."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or datetime: {value!r}") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    if not isinstance(value, (datetime, date)):
        raise ValueError(f"expected a date or datetime, got {type(value).__name__}")
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        raise ValueError(f"datetime must be timezone-aware, got {value!r}")
    return math.floor(value.timestamp())
