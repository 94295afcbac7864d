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
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import yarl

from .errors import InvalidParameterError
from .vocab import LEAD_FILTERS, MAX_ID, ORDERS

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
    "check_path",
    "check_phone_number",
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

EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The earliest date argument accepted (the Unix epoch, long before any WhatConverts data)."""
LATEST = datetime(9000, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
"""The latest date argument accepted: far enough from ``datetime.max`` that windows of a
scan (400 days each) and end-of-day bounds can never overflow."""

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Wire numbers stay short: an amount or a custom-field number longer than this is an
# accident (``Decimal("1e100000")`` would be a 100 kB form field), not a value.
_MAX_NUMBER_CHARS = 40


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
    result: datetime | None = None
    if isinstance(value, datetime):
        moment_: datetime = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        try:
            result = moment_.astimezone(timezone.utc).replace(microsecond=0)
        except OverflowError:
            # Raised below, outside this block: the OverflowError is no use to anyone.
            result = None
    elif isinstance(value, date):
        moment = time(23, 59, 59) if end_of_day else time(0, 0, 0)
        result = datetime.combine(value, moment, tzinfo=timezone.utc)
    else:
        raise InvalidParameterError(
            parameter, f"must be a date, datetime or ISO 8601 string, got {type(value).__name__}"
        )
    if result is None or not EARLIEST <= result <= LATEST:
        raise InvalidParameterError(
            parameter,
            f"must lie between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()} "
            f"(UTC), got {value!r}",
        )
    return result


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
        raise InvalidParameterError(parameter, f"must be {allowed}, got {_shown(value)}")
    return value


def check_id(value: Any, parameter: str) -> int:
    """A positive integer id, at most :data:`~whatconverts_async.vocab.MAX_ID` (2**63 - 1)."""
    return check_int_range(value, parameter, 1, MAX_ID)


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


def check_text(value: Any, parameter: str, *, empty: bool = True) -> str:
    """A string; with ``empty=False`` it must hold more than white space (an empty filter
    would match nothing, or everything, depending on the server: never what was meant).
    A NUL character is refused: no API field carries one, and servers cut text at it."""
    if not isinstance(value, str):
        raise InvalidParameterError(parameter, f"must be a string, got {type(value).__name__}")
    if not empty and not value.strip():
        raise InvalidParameterError(parameter, f"must not be empty, got {value!r}")
    if "\x00" in value:
        raise InvalidParameterError(parameter, "must not contain a NUL character")
    return value


def check_phone_number(value: Any, parameter: str = "phone_number") -> str:
    """A phone number in E.164 form (``+17045550100``), as the lead list's filter needs it.

    Any other form finds nothing at the API, silently, so it is refused here with the
    E.164 form in the message when the digits allow one.

    >>> check_phone_number("+17045550100")
    '+17045550100'
    >>> check_phone_number("+1 704 555 0100")
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.InvalidParameterError: phone_number must be in E.164 form ('+', \
country code, number, digits only), e.g. '+17045550100'; got '+1 704 555 0100'
    """
    text = check_text(value, parameter, empty=False)
    if _E164.match(text):
        return text
    digits = "".join(c for c in text if c.isdigit())
    if text.lstrip().startswith("+") or (len(digits) >= 11 and not digits.startswith("0")):
        hint = f"e.g. '+{digits}'"
    elif digits:
        hint = f"e.g. '+<country code>{digits.lstrip('0')}' ('+1{digits}' in the US or Canada)"
    else:
        hint = "e.g. '+17045550100'"
    raise InvalidParameterError(
        parameter,
        f"must be in E.164 form ('+', country code, number, digits only), {hint}; got {text!r}",
    )


def check_path(value: Any, parameter: str) -> str | os.PathLike[str]:
    """A file system path: a non-empty ``str`` or ``os.PathLike`` of ``str``, without NUL."""
    raw: Any = value
    if isinstance(value, os.PathLike):
        try:
            raw = os.fspath(value)
        except TypeError:
            raw = None
    if not isinstance(raw, str) or not raw:
        raise InvalidParameterError(
            parameter, f"must be a file path (str or os.PathLike), got {type(value).__name__}"
        )
    if "\x00" in raw:
        raise InvalidParameterError(parameter, "must not contain a NUL character")
    return value  # type: ignore[no-any-return]


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
    _check_number_size(amount, parameter)
    return amount if amount != 0 else Decimal(0)


def _check_number_size(amount: Decimal | int, parameter: str) -> None:
    """Refuse a number whose wire form would exceed :data:`_MAX_NUMBER_CHARS` characters."""
    if isinstance(amount, int):
        # Compared, not converted: str() of a huge int is slow, then a ValueError.
        too_long = abs(amount) >= 10**_MAX_NUMBER_CHARS
    else:
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)  # finite: checked by the callers
        too_long = max(amount.adjusted() + 1, 1) + max(-exponent, 0) > _MAX_NUMBER_CHARS
    if too_long:
        raise InvalidParameterError(
            parameter,
            f"must be written in at most {_MAX_NUMBER_CHARS} digits, got {_shown(amount)}",
        )


def _shown(value: Any) -> str:
    """``repr(value)``, except for an int too long to print (``str()`` of one raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**60:
        return f"an integer of about {int(abs(value).bit_length() * 0.30103) + 1} digits"
    return repr(value)


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
        where = f"{parameter}[{name!r}]" if name_each else parameter
        if isinstance(item, bool) or not isinstance(item, (str, int, Decimal)):
            raise InvalidParameterError(
                where,
                f"value of {name!r} must be text or a whole or Decimal number, "
                f"got {type(item).__name__}",
            )
        if isinstance(item, Decimal) and not item.is_finite():
            raise InvalidParameterError(where, f"value of {name!r} must be finite, got {item!r}")
        if isinstance(item, str):
            check_text(item, where)
        else:
            _check_number_size(item, where)
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


_ONLY_TRUE = ("spam", "duplicate")


def check_lead_filters(filters: Mapping[str, Any], *, master: bool) -> dict[str, Any]:
    """The lead-list filters of :data:`~whatconverts_async.vocab.LEAD_FILTERS`, checked;
    ``None`` values are dropped. ``master`` says whether agency-only filters are allowed.

    Text filters must not be empty; ``phone_number`` must be E.164
    (:func:`check_phone_number`); ``spam`` and ``duplicate`` only take ``True``, the one
    value the API documents (``spam=False`` is read as "only spam" by some servers).

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
        elif name == "phone_number":
            params[name] = check_phone_number(value, name)
        elif spec.kind == "text":
            params[name] = check_text(value, name, empty=False)
        elif spec.kind == "bool":
            params[name] = check_bool(value, name)
            if not params[name] and name in _ONLY_TRUE:
                raise InvalidParameterError(
                    name,
                    f"can only be True (the API documents {name}=true: only {name} leads); "
                    f"leave {name} out for the API's default, and test lead.{name} to drop "
                    f"{name} leads yourself",
                )
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
