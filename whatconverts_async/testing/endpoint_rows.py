"""Inbound Endpoint rows (CSV columns or JSON keys) read into lead fields.

The simulator's ``POST /endpoints/<token>`` parses each row with
:func:`parse_endpoint_row`; a bad row raises ``ValueError`` with the message the
Endpoint answers (``Row N: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from .vocabulary import DISPLAY_TO_CODE, LEAD_TYPES, QUOTABLE_VALUES, TYPE_CODES, UTC

__all__ = [
    "ENDPOINT_ADDITIONAL_PREFIX",
    "ENDPOINT_COLUMNS",
    "EndpointRow",
    "check_endpoint_columns",
    "parse_endpoint_row",
]

#: Endpoint column → lead field, as the simulator's inbound Endpoints read them. ``Profile ID``,
#: ``Date``, ``Lead ID``, ``Lead Type`` and ``[additional_field]Name`` columns are handled apart.
ENDPOINT_COLUMNS: Final[dict[str, str]] = {
    "Email Address": "email_address",
    "Phone Number": "phone_number",
    "Source": "lead_source",
    "Medium": "lead_medium",
    "Campaign": "lead_campaign",
    "Content": "lead_content",
    "Keyword": "lead_keyword",
    "Quote Value": "quote_value",
    "Sales Value": "sales_value",
    "Spotted Keywords": "spotted_keywords",
    "Lead Score": "lead_score",
    "Quotable": "quotable",
    "IP": "ip_address",
    "GCLID": "gclid",
    "MSCLKID": "msclkid",
    "FBCLID": "facebook_click_id",
    "FBPID": "facebook_browser_id",
    "Lead Page": "lead_url",
    "Landing Page": "landing_url",
    "Operating System": "operating_system",
    "Browser": "browser",
    "Device Type": "device_type",
    "Device Make": "device_make",
    "Number Name": "phone_name",
    "Tracking Number": "tracking_number",
    "Destination Number": "destination_number",
    "Caller Name": "caller_name",
    "Caller City": "caller_city",
    "Caller Zip": "caller_zip",
    "Caller State": "caller_state",
    "Caller Country": "caller_country",
    "Duration (Seconds)": "call_duration_seconds",
    "Answer Status": "answer_status",
    "Line Type": "line_type",
    "Call Transcription": "call_transcription",
    "Voicemail Transcription": "voicemail_transcription",
    "Message": "message",
    "Form Name": "form_name",
    "Category": "category",
    "Action": "action",
    "Label": "label",
    "Order ID": "transaction_id",
    "Tax": "transaction_tax",
    "Shipping": "transaction_shipping",
    "Sender Name": "sender_name",
    "Subject": "subject",
}
ENDPOINT_ADDITIONAL_PREFIX: Final = "[additional_field]"
_ENDPOINT_SPECIAL: Final = ("Profile ID", "Date", "Lead ID", "Lead Type")
_ENDPOINT_MONEY: Final = frozenset(
    {"quote_value", "sales_value", "transaction_tax", "transaction_shipping"}
)
_ENDPOINT_INTS: Final = frozenset({"lead_score", "call_duration_seconds"})


@dataclass
class EndpointRow:
    """One parsed Endpoint row: where it goes and the lead fields it sets."""

    profile_id: int
    date_created: int
    lead_id: int | None
    lead_type: str | None
    fields: dict[str, Any]


def check_endpoint_columns(columns: Sequence[str]) -> None:
    """Raise ``ValueError`` for a header an Endpoint would refuse (missing, unknown, repeated)."""
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise ValueError(f"Duplicate column: {column}.")
        seen.add(column)
        known = column in ENDPOINT_COLUMNS or column in _ENDPOINT_SPECIAL
        custom = column.startswith(ENDPOINT_ADDITIONAL_PREFIX) and column != (
            ENDPOINT_ADDITIONAL_PREFIX
        )
        if not known and not custom:
            raise ValueError(f"Unknown column: {column}.")
    for required in ("Profile ID", "Date"):
        if required not in seen:
            raise ValueError(f"Missing required column: {required}.")


def _cell_text(value: Any, column: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{column} must be text or a number.")
    text = value if isinstance(value, str) else repr(value)
    return None if text == "" else text


def _cell_int(text: str, column: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{column} must be an integer.") from None
    if value < minimum:
        raise ValueError(f"{column} must be >= {minimum}.")
    return value


def _cell_money(text: str, column: str) -> int | float:
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{column} must be a non-negative number.")
    return int(value) if value.is_integer() and "." not in text else value


def _cell_date(text: str) -> int:
    for layout in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00"):
        try:
            moment = datetime.strptime(text.strip(), layout).replace(tzinfo=UTC)
        except ValueError:
            continue
        return math.floor(moment.timestamp())
    raise ValueError("Date must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).")


def parse_endpoint_row(row: Mapping[str, Any]) -> EndpointRow:
    """Read one Endpoint row (CSV cells or JSON values) into lead fields.

    Empty cells and ``null`` are "not given". Raises ``ValueError`` with a short message.

    >>> r = parse_endpoint_row({"Profile ID": "80022", "Date": "2026-03-10",
    ...                         "Sales Value": "1200", "[additional_field]Plan": "Pro"})
    >>> r.profile_id, r.fields["sales_value"], r.fields["additional_fields"]
    (80022, 1200, {'Plan': 'Pro'})
    """
    cells = {column: _cell_text(value, column) for column, value in row.items()}
    check_endpoint_columns(list(cells))
    profile = cells.get("Profile ID")
    if profile is None:
        raise ValueError("Profile ID is required.")
    stamp = cells.get("Date")
    if stamp is None:
        raise ValueError("Date is required.")
    lead_id_text = cells.get("Lead ID")
    type_text = cells.get("Lead Type")
    lead_type: str | None = None
    if type_text is not None:
        wanted = type_text.strip()
        if wanted in LEAD_TYPES:
            lead_type = wanted
        elif wanted in DISPLAY_TO_CODE:
            lead_type = TYPE_CODES[DISPLAY_TO_CODE[wanted]]
        else:
            raise ValueError(f"Invalid Lead Type: {type_text}.")
    fields: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for column, text in cells.items():
        if text is None or column in _ENDPOINT_SPECIAL:
            continue
        if column.startswith(ENDPOINT_ADDITIONAL_PREFIX):
            extra[column[len(ENDPOINT_ADDITIONAL_PREFIX) :]] = text
            continue
        name = ENDPOINT_COLUMNS[column]
        if name in _ENDPOINT_MONEY:
            fields[name] = _cell_money(text, column)
        elif name in _ENDPOINT_INTS:
            fields[name] = _cell_int(text, column, 0)
        elif name == "quotable":
            key = text.strip().lower().replace(" ", "_")
            if key not in QUOTABLE_VALUES:
                raise ValueError(f"Invalid Quotable: {text}.")
            fields[name] = QUOTABLE_VALUES[key]
        else:
            fields[name] = text
    if "email_address" in fields:
        fields["contact_email_address"] = fields["email_address"]
    if "phone_number" in fields:
        fields["contact_phone_number"] = fields["phone_number"]
    if "call_duration_seconds" in fields:
        fields["call_duration"] = f"{fields['call_duration_seconds']} seconds"
    if extra:
        fields["additional_fields"] = extra
    return EndpointRow(
        profile_id=_cell_int(profile, "Profile ID", 1),
        date_created=_cell_date(stamp),
        lead_id=None if lead_id_text is None else _cell_int(lead_id_text, "Lead ID", 1),
        lead_type=lead_type,
        fields=fields,
    )
