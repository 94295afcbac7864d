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
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import yarl

from .errors import InvalidParameterError
from .vocab import LEAD_FILTERS, ORDERS

__all__ = [
    "DateLike",
    "check_additional_fields",
    "check_agency_id",
    "check_bool",
    "check_choice",
    "check_id",
    "check_int_range",
    "check_lead_filters",
    "check_max_items",
    "check_money",
    "check_order",
    "check_prefetch",
    "check_text",
    "date_range",
    "encode_form",
    "encode_query",
    "format_datetime",
    "paging",
    "to_utc_datetime",
    "wire_value",
]

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
    """A finite, non-negative amount: a ``Decimal``, an ``int`` or a numeric string.

    Floats are refused: ``0.1`` is not one tenth, and money must reach the API exactly
    as meant. ``-0`` becomes ``0``.

    >>> check_money("12.50", "sales_value")
    Decimal('12.50')
    >>> check_money(0.1, "sales_value")
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.InvalidParameterError: sales_value must be a Decimal, int or \
numeric string (floats are inexact), got 0.1
    """
    if isinstance(value, (bool, float)):
        raise InvalidParameterError(
            parameter,
            f"must be a Decimal, int or numeric string (floats are inexact), got {value!r}",
        )
    amount: Any = value
    if isinstance(value, (int, str)):
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            amount = None
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidParameterError(parameter, f"must be a finite number >= 0, got {value!r}")
    return amount if amount != 0 else Decimal(0)


def check_additional_fields(
    value: Any, parameter: str = "additional_fields", *, name_each: bool = False
) -> dict[str, str]:
    """Custom fields as ``{name: text}``: names non-empty text without brackets (the wire
    writes ``additional_fields[name]``), values text, ``int`` or ``Decimal`` (written
    without exponent). ``name_each`` makes a bad value's error name the field
    (``additional_fields['Plan']``), as the Endpoint rows' columns do.

    >>> check_additional_fields({"Plan": "Pro", "Seats": 3, "Budget": Decimal("1E+3")})
    {'Plan': 'Pro', 'Seats': '3', 'Budget': '1000'}
    """
    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            parameter, f"must be a mapping of names to text, got {type(value).__name__}"
        )
    checked: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "[]"):
            raise InvalidParameterError(
                parameter, f"names must be non-empty text without brackets, got {name!r}"
            )
        if isinstance(item, bool) or not isinstance(item, (str, int, Decimal)):
            raise InvalidParameterError(
                f"{parameter}[{name!r}]" if name_each else parameter,
                f"value of {name!r} must be text or a whole or Decimal number, "
                f"got {type(item).__name__}",
            )
        checked[name] = item if isinstance(item, str) else wire_value(item)
    return checked


def check_name(value: Any, parameter: str) -> str:
    """Non-empty text (a name of an account, profile, ...)."""
    name = check_text(value, parameter)
    if not name.strip():
        raise InvalidParameterError(parameter, "must not be empty")
    return name


def check_agency_id(value: Any, parameter: str, *, master: bool) -> int:
    """An ``account_id``/``profile_id`` filter, which only a master (agency) key may use."""
    if not master:
        raise InvalidParameterError(
            parameter, "filters by account or profile only with a master (agency) key"
        )
    return check_id(value, parameter)


def check_lead_filters(filters: Mapping[str, Any], *, master: bool) -> dict[str, Any]:
    """The lead-list filters of :data:`~whatconverts_async.vocab.LEAD_FILTERS`, checked;
    ``None`` values are dropped. ``master`` says whether agency-only filters are allowed.

    >>> check_lead_filters({"lead_type": "Phone Call", "spam": True, "quotable": None},
    ...                    master=False)
    {'lead_type': 'phone_call', 'spam': True}
    """
    params: dict[str, Any] = {}
    for name, value in filters.items():
        spec = LEAD_FILTERS.get(name)
        if spec is None:
            raise InvalidParameterError(
                name, f"is not a lead filter; known filters: {', '.join(sorted(LEAD_FILTERS))}"
            )
        if value is None:
            continue
        if spec.kind == "choice":
            params[name] = check_choice(value, name, spec.allowed)
        elif spec.kind == "text":
            params[name] = check_text(value, name)
        elif spec.kind == "bool":
            params[name] = check_bool(value, name)
        else:
            params[name] = check_agency_id(value, name, master=master)
    return params


def check_order(order: Any) -> Literal["asc", "desc"] | None:
    """``order``: asc or desc (None leaves the API default)."""
    if order is None:
        return None
    return "asc" if check_choice(order, "order", ORDERS) == "asc" else "desc"


def check_prefetch(prefetch: Any) -> int:
    """``prefetch``: pages in flight at once, 1..20 (the API allows 20 in flight)."""
    return check_int_range(prefetch, "prefetch", 1, 20)


def check_max_items(max_items: Any) -> int | None:
    """``max_items``: None or >= 0."""
    return None if max_items is None else check_int_range(max_items, "max_items", 0)


def date_range(
    start_date: Any, end_date: Any, *, max_days: int | None = None, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """Check a ``start_date``/``end_date`` pair; a bare ``end_date`` date covers its whole day.

    With ``max_days``, the span (to ``now`` when ``end_date`` is None) must not exceed it.
    """
    start = None if start_date is None else to_utc_datetime(start_date, "start_date")
    end = None if end_date is None else to_utc_datetime(end_date, "end_date", end_of_day=True)
    if start is not None and end is not None and start > end:
        raise InvalidParameterError(
            "start_date", f"must not be after end_date ({start.isoformat()} > {end.isoformat()})"
        )
    if max_days is not None and start is not None:
        stop = end if end is not None else now
        if stop is not None and (stop - start).total_seconds() > max_days * 86400:
            raise InvalidParameterError(
                "end_date",
                f"must be within {max_days} days of start_date for a single page "
                "(the API's limit); use iterate() to read longer ranges in windows",
            )
    return start, end


def paging(
    per_page: Any, page_number: Any, per_page_name: str, maximum: int
) -> dict[str, int | None]:
    """Check a page size (1..maximum) and page number (>= 1)."""
    return {
        per_page_name: None
        if per_page is None
        else check_int_range(per_page, per_page_name, 1, maximum),
        "page_number": None
        if page_number is None
        else check_int_range(page_number, "page_number", 1),
    }


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
