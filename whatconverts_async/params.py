"""Pure argument checking and wire encoding (no I/O).

Every check raises :class:`~whatconverts_async.errors.InvalidParameterError` (a
``ValueError``) naming the parameter and what is allowed, before anything is sent.

Wire rules (see the API reference): query strings for GET/DELETE; form fields for POST;
booleans as ``"true"``/``"false"``; dates as ISO 8601 UTC with second precision
(``2015-11-10T00:00:00Z``); ``additional_fields`` as ``additional_fields[Name]=value``.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import yarl

from .errors import InvalidParameterError

__all__ = [
    "MAX_DATE_RANGE",
    "DateLike",
    "check_choice",
    "check_id",
    "check_int_range",
    "encode_form",
    "encode_query",
    "format_datetime",
    "to_utc_datetime",
    "wire_value",
]

MAX_DATE_RANGE = timedelta(days=400)
"""The widest ``start_date``..``end_date`` span one lead-list request may ask for."""

DateLike = date | datetime | str

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_datetime(value: datetime) -> str:
    """An aware datetime as the API writes it: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC.

    >>> format_datetime(datetime(2025, 1, 2, 3, 4, 5, 999, tzinfo=timezone.utc))
    '2025-01-02T03:04:05Z'
    """
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_utc_datetime(value: Any, parameter: str, *, end_of_day: bool = False) -> datetime:
    """Read a date argument as an aware UTC datetime truncated to whole seconds.

    Accepts a ``date`` (its first second, or with ``end_of_day`` its last second), an
    aware ``datetime`` (converted to UTC), a naive ``datetime`` (taken as UTC), or an
    ISO 8601 string of either form (``Z`` or an offset).

    >>> to_utc_datetime("2025-03-31", "end_date", end_of_day=True).isoformat()
    '2025-03-31T23:59:59+00:00'
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed: date = (
                date.fromisoformat(text)
                if _ISO_DATE.match(text)
                else datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            )
        except ValueError:
            raise InvalidParameterError(
                parameter,
                f"must be an ISO 8601 date or date-time (e.g. 2025-01-31 or "
                f"2025-01-31T12:00:00Z), got {value!r}",
            ) from None
        value = parsed
    if isinstance(value, datetime):
        moment_: datetime = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment_.astimezone(timezone.utc).replace(microsecond=0)
    if isinstance(value, date):
        moment = time(23, 59, 59) if end_of_day else time(0, 0, 0)
        return datetime.combine(value, moment, tzinfo=timezone.utc)
    raise InvalidParameterError(
        parameter, f"must be a date, datetime or ISO 8601 string, got {type(value).__name__}"
    )


def check_int_range(value: Any, parameter: str, low: int, high: int | None = None) -> int:
    """An int within ``low..high`` (bools refused).

    >>> check_int_range(5000, "leads_per_page", 1, 2500)
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.InvalidParameterError: leads_per_page must be 1..2500, got 5000
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(parameter, f"must be an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidParameterError(parameter, f"must be {allowed}, got {value}")
    return value


def check_id(value: Any, parameter: str) -> int:
    """A positive integer id."""
    return check_int_range(value, parameter, 1)


def check_choice(value: Any, parameter: str, allowed: Iterable[str]) -> str:
    """One of ``allowed`` (wire values); an enum member is read through its ``filter_value``."""
    choices = tuple(allowed)
    raw = getattr(value, "filter_value", None)
    if raw is None and isinstance(value, enum.Enum):
        raw = value.value
    if raw is None:
        raw = value
    if isinstance(raw, str):
        normal = raw.strip().lower().replace(" ", "_").replace("-", "_")
        if normal in choices:
            return normal
    raise InvalidParameterError(parameter, f"must be one of {', '.join(choices)}, got {value!r}")


def check_bool(value: Any, parameter: str) -> bool:
    """A real bool (``"yes"`` or ``1`` are refused rather than guessed)."""
    if not isinstance(value, bool):
        raise InvalidParameterError(parameter, f"must be True or False, got {value!r}")
    return value


def check_text(value: Any, parameter: str) -> str:
    """A string."""
    if not isinstance(value, str):
        raise InvalidParameterError(parameter, f"must be a string, got {type(value).__name__}")
    return value


def check_money(value: Any, parameter: str) -> Decimal:
    """A finite, non-negative amount (int, float, Decimal or numeric string)."""
    if isinstance(value, bool):
        raise InvalidParameterError(parameter, f"must be a number, got {value!r}")
    try:
        amount = Decimal(str(value)) if isinstance(value, (int, float, str)) else value
    except InvalidOperation:
        amount = None
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidParameterError(parameter, f"must be a non-negative number, got {value!r}")
    return amount


def check_name(value: Any, parameter: str) -> str:
    """Non-empty text (a name of an account, profile, ...)."""
    name = check_text(value, parameter)
    if not name.strip():
        raise InvalidParameterError(parameter, "must not be empty")
    return name


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address).

    >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("api.example.com")
    (True, True, False)
    """
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_secure_transport(
    url: yarl.URL, parameter: str, *, allow_insecure: bool, secret: str
) -> None:
    """Refuse plain ``http://`` to anything but loopback, unless ``allow_insecure``.

    ``secret`` says what would travel in clear text (it ends the error message).
    """
    if url.scheme == "http" and not allow_insecure and not is_loopback(url.host):
        raise InvalidParameterError(
            parameter,
            f"uses plain http to {url.host}: {secret} would travel in clear text; "
            "use https, or pass allow_insecure=True if you really mean it",
        )


def wire_value(value: Any) -> str:
    """One value as the API expects it in a query or form field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, enum.Enum):
        filter_value = getattr(value, "filter_value", None)
        return str(filter_value if filter_value is not None else value.value)
    return str(value)


def encode_query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query pairs in a stable order, dropping ``None``.

    >>> encode_query({"page_number": 2, "spam": True, "lead_type": None})
    [('page_number', '2'), ('spam', 'true')]
    """
    return [(name, wire_value(value)) for name, value in params.items() if value is not None]


def encode_form(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Form fields for a POST; a mapping value becomes ``name[key]=value`` fields.

    >>> encode_form({"lead_type": "web_form", "additional_fields": {"Budget": "5k"}})
    [('lead_type', 'web_form'), ('additional_fields[Budget]', '5k')]
    """
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            for key, item in value.items():
                if item is not None:
                    pairs.append((f"{name}[{key}]", wire_value(item)))
        else:
            pairs.append((name, wire_value(value)))
    return pairs
