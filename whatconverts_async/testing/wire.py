"""Reading the simulator's requests: credentials, bodies, parameters; and JSON answers.

Pure helpers of :mod:`.server`: each either returns the value read or raises
:class:`ApiError`, which the error middleware answers as
``{"error_message": ...}`` with its status.
"""

from __future__ import annotations

import base64
import binascii
import csv
import importlib
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from .data import QUOTABLE_VALUES

UTC: Final = timezone.utc


def _make_dumps() -> Callable[[Any], bytes]:
    # orjson is several times faster on 2,500-lead pages; it is optional.
    try:
        fast: Any = importlib.import_module("orjson")
    except ImportError:
        encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)

        def dumps(obj: Any) -> bytes:
            return encoder.encode(obj).encode()

        return dumps
    fast_dumps: Callable[[Any], bytes] = fast.dumps
    return fast_dumps


_dumps: Final = _make_dumps()


class ApiError(Exception):
    """An answer ``{"error_message": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_DATE_RE: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME_RE: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|\+00:00)$")
_ADDITIONAL_RE: Final = re.compile(r"^additional_fields\[(.*)\]$")
_MAPPED_RE: Final = re.compile(r"^mapped_fields\[(.*)\]$")
_TEXT_FILTERS: Final = (
    "phone_number",
    "email_address",
    "lead_source",
    "lead_medium",
    "lead_campaign",
    "lead_content",
    "lead_keyword",
    "user_id",
)
_LEAD_LIST_PARAMS: Final = (
    "leads_per_page",
    "page_number",
    "account_id",
    "profile_id",
    "lead_type",
    "lead_status",
    "start_date",
    "end_date",
    "order",
    "quotable",
    "quote_value",
    "sales_value",
    "spam",
    "duplicate",
    "customer_journey",
    *_TEXT_FILTERS,
)
_EDIT_FORM: Final = ("quotable", "quote_value", "sales_value", "lead_url", "additional_fields[]")
_USER_FORM: Final = ("email", "user_type", "role_id")
_AGENCY_ONLY: Final = frozenset({"accounts", "users", "roles"})
_LOGIN_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Log In | WhatConverts</title></head><body>"
    '<form method="post" action="/login"><input name="email"><input name="password" '
    'type="password"><button>Log In</button></form></body></html>'
)
_CREATE_TEXT_FIELDS: Final = (
    "gclid",
    "msclkid",
    "fbclid",
    "sender_name",
    "subject",
    "contact_name",
    "email_address",
    "phone_number",
    "notes",
    "lead_source",
    "lead_medium",
    "lead_campaign",
    "lead_content",
    "lead_keyword",
    "lead_url",
    "landing_url",
    "ip_address",
    "user_id",
    "message",
    "caller_name",
    "caller_number",
    "tracking_number",
    "destination_number",
    "form_name",
    "city",
    "state",
    "zip",
    "country",
)
_CREATE_FORM: Final = (
    "lead_type",
    "profile_id",
    "send_notification",
    "quotable",
    "quote_value",
    "sales_value",
    "call_duration_seconds",
    "additional_fields[]",
    "mapped_fields[]",
    "date_created",
    *_CREATE_TEXT_FIELDS,
)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_dumps(body), content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error_message": message}, status)


def _credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _token_of(header: str | None) -> str | None:
    creds = _credentials(header)
    return creds[0] if creds else None


def _parse_form(ctype: str, raw_ctype: str, body: bytes) -> dict[str, str] | None:
    if not body and ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    if ctype == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if ctype == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + raw_ctype.encode("latin-1") + b"\r\n\r\n" + body
        )
        form: dict[str, str] = {}
        if not message.is_multipart():
            return form
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                form[name] = payload.decode(charset, "replace")
        return form
    if ctype == "application/json":
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        out: dict[str, str] = {}
        for k, v in parsed.items():
            if isinstance(v, dict) and k in ("additional_fields", "mapped_fields"):
                out.update({f"{k}[{ik}]": _form_text(iv) for ik, iv in v.items()})
            else:
                out[str(k)] = _form_text(v)
        return out
    return None


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "The file must be UTF-8 text.") from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        lines = [line for line in reader if line]
    except csv.Error as exc:
        raise ApiError(400, f"Unreadable CSV: {exc}.") from None
    if not lines:
        raise ApiError(400, "The file is empty.")
    header, rows = lines[0], lines[1:]
    if not rows:
        raise ApiError(400, "The file has no rows.")
    out = []
    for number, cells in enumerate(rows, start=1):
        if len(cells) != len(header):
            raise ApiError(400, f"Row {number}: {len(cells)} cells for {len(header)} columns.")
        out.append(dict(zip(header, cells, strict=True)))
    return out


def _json_rows(body: bytes) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ApiError(400, "The body is not valid JSON.") from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list) or not parsed:
        raise ApiError(400, "The body must be a non-empty JSON array of objects.")
    for number, item in enumerate(parsed, start=1):
        if not isinstance(item, dict):
            raise ApiError(400, f"Row {number}: must be a JSON object.")
    return parsed


def _reject_unknown(given: Mapping[str, str], known: frozenset[str]) -> None:
    """400 naming the first parameter a strict simulator does not know."""
    for name in given:
        if name in known:
            continue
        if "additional_fields[]" in known and _ADDITIONAL_RE.match(name):
            continue
        if "mapped_fields[]" in known and _MAPPED_RE.match(name):
            continue
        raise ApiError(400, f"Unknown parameter: {name}.")


def _form_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _int_param(p: Mapping[str, str], name: str, default: int, lo: int, hi: int | None) -> int:
    raw = p.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if value < lo or (hi is not None and value > hi):
        limit = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise ApiError(400, f"{name} must be an integer {limit}.")
    return value


def _id_param(p: Mapping[str, str], name: str, minimum: int = 1) -> int:
    try:
        value = int(p.get(name, ""))
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ApiError(400, f"{name} must be an integer >= {minimum}.")
    return value


def _choices_error(name: str, allowed: Sequence[str] | Mapping[str, str]) -> ApiError:
    return ApiError(400, f"Invalid {name}: must be one of {', '.join(allowed)}.")


def _choice(p: Mapping[str, str], name: str, allowed: Sequence[str]) -> str | None:
    value = p.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise _choices_error(name, allowed)
    return value


def _order(p: Mapping[str, str], default: str) -> str:
    return _choice(p, "order", ("asc", "desc")) or default


def _presence(p: Mapping[str, str], name: str) -> bool | None:
    value = _choice(p, name, ("has_value", "no_value"))
    return None if value is None else value == "has_value"


def _flag(p: Mapping[str, str], name: str) -> bool:
    value = _choice(p, name, ("true", "false"))
    return value == "true"


def _bool_field(form: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ApiError(400, f"{name} must be true or false.")


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise ApiError(400, f"{name} is required.")
    return value


def _quotable_field(form: Mapping[str, str]) -> str:
    value = form["quotable"]
    if value not in QUOTABLE_VALUES:
        raise _choices_error("quotable", QUOTABLE_VALUES)
    return QUOTABLE_VALUES[value]


def _money_field(form: Mapping[str, str], name: str) -> float | int | None:
    raw = form[name].strip()
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ApiError(400, f"{name} must be a non-negative number.")
    return int(value) if value.is_integer() and "." not in raw else value


def _additional_fields(
    form: Mapping[str, str], prefix: str = "additional_fields"
) -> dict[str, str]:
    """``prefix[Name]=value`` form fields as ``{"Name": "value"}``."""
    out: dict[str, str] = {}
    pattern = _ADDITIONAL_RE if prefix == "additional_fields" else _MAPPED_RE
    for name, value in form.items():
        match = pattern.match(name)
        if match:
            out[match.group(1)] = value
    return out


def _date_param(p: Mapping[str, str], name: str, *, end: bool) -> int | None:
    raw = p.get(name)
    if raw is None:
        return None
    try:
        m = _DATE_RE.match(raw)
        if m:
            d = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
            ts = int(d.timestamp())
            return ts + 86_399 if end else ts
        m = _DATETIME_RE.match(raw)
        if m:
            y, mo, d_, hh, mm, ss = (int(m[i]) for i in range(1, 7))
            return int(datetime(y, mo, d_, hh, mm, ss, tzinfo=UTC).timestamp())
    except ValueError:
        pass
    raise ApiError(400, f"Invalid {name}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (ISO 8601, UTC).")


def _wire_ts(value: str) -> int:
    return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
