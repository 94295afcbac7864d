"""Exceptions raised by the client, and the pure mapping from a response to one of them.

The tree::

    WhatConvertsError
    ├── InvalidParameterError (also a ValueError)   bad argument, raised before any request
    ├── QuotaExhaustedError                          the local daily budget is spent
    ├── UpdateNotAppliedError                        an edit did not show in the lead
    ├── APIConnectionError                           the request got no HTTP answer
    │   └── APITimeoutError                          ... because it took too long
    └── APIError                                     the API answered with an error
        ├── BadRequestError          400
        ├── AuthenticationError      401
        ├── PermissionDeniedError    403 (e.g. a profile key on an agency-only resource)
        ├── NotFoundError            404, or 400 "Invalid ... ID."
        ├── RateLimitError           429
        ├── ServerError              5xx
        └── MalformedResponseError   a 2xx answer we cannot read (HTML, bad JSON, ...)

Every error carries what is needed to act on it (status, the API's ``error_message``,
method and URL) and never the API secret or the ``Authorization`` header: the client
builds URLs without credentials and nothing here reads request headers.

Example::

    try:
        lead = await wc.leads.get(123)
    except NotFoundError:
        ...
    except RateLimitError as exc:
        print("retry after", exc.retry_after)
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "InvalidJSONError",
    "InvalidParameterError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ServerError",
    "UpdateNotAppliedError",
    "WhatConvertsError",
    "error_for_status",
    "parse_retry_after",
]

# How much of an unreadable body is quoted in an error: enough to recognise a proxy's
# HTML page, not enough to flood a log.
_SNIPPET = 200
_INVALID_ID = re.compile(r"\binvalid\b.*\bid\b", re.IGNORECASE)


class WhatConvertsError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidParameterError(WhatConvertsError, ValueError):
    """An argument is invalid; raised before anything is sent.

    ``parameter`` names the offending argument.

    >>> InvalidParameterError("leads_per_page", "must be 1..2500, got 5000")
    InvalidParameterError('leads_per_page must be 1..2500, got 5000')
    """

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter} {problem}")


class QuotaExhaustedError(WhatConvertsError):
    """The daily request budget is spent; nothing was sent.

    ``resets_at`` is the next UTC midnight (when the budget refills), ``limit`` the
    daily budget.
    """

    def __init__(self, limit: int, resets_at: datetime, message: str | None = None) -> None:
        self.limit = limit
        self.resets_at = resets_at
        super().__init__(
            message
            or f"daily request budget of {limit} is spent; it resets at {resets_at.isoformat()}"
        )


class UpdateNotAppliedError(WhatConvertsError):
    """An edit was accepted, but the lead read back does not show it.

    ``lead_id`` and ``fields`` (the names that differ) say what to look at; the API may
    have changed how it takes that field.
    """

    def __init__(self, lead_id: int, fields: list[str]) -> None:
        self.lead_id = lead_id
        self.fields = fields
        super().__init__(f"lead {lead_id} was edited but reads back without: {', '.join(fields)}")


class APIConnectionError(WhatConvertsError):
    """No HTTP answer: the connection failed, was dropped, or timed out.

    ``request_sent`` is False only when the request provably never reached the server
    (the connection could not be opened), which is what makes retrying a create safe.
    """

    def __init__(self, message: str, *, method: str, url: str, request_sent: bool = True) -> None:
        self.method = method
        self.url = url
        self.request_sent = request_sent
        super().__init__(f"{message} ({method} {url})")


class APITimeoutError(APIConnectionError):
    """The request did not complete within the configured timeout."""


class APIError(WhatConvertsError):
    """The API answered with an error.

    Attributes: ``status`` (HTTP status), ``error_message`` (the API's own
    ``error_message`` field when present), ``method``, ``url``, ``body`` (a short,
    truncated excerpt of the body when it was not the usual JSON).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        error_message: str | None = None,
        body: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.error_message = error_message
        self.body = body
        super().__init__(message)


class BadRequestError(APIError):
    """HTTP 400: the API rejected the parameters."""


class AuthenticationError(APIError):
    """HTTP 401: the API token or secret is wrong."""


class PermissionDeniedError(APIError):
    """HTTP 403: this key may not use this resource (e.g. a profile key on accounts)."""


class NotFoundError(APIError):
    """The id does not exist: HTTP 404, or the API's 400 ``Invalid ... ID.``."""


class RateLimitError(APIError):
    """HTTP 429: throttled by the API. ``retry_after`` is its wait in seconds, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(APIError):
    """HTTP 5xx: the API failed."""


class MalformedResponseError(APIError):
    """The API answered, but not with something this client can read."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds, fractional, or HTTP date).

    Returns None when absent or unreadable; never negative.

    >>> parse_retry_after("1.5")
    1.5
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc))
    30.0
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _snippet(body: bytes) -> str:
    text = body[:_SNIPPET].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text + ("…" if len(body) > _SNIPPET else "")


def _error_message_of(payload: Any) -> str | None:
    if isinstance(payload, dict):
        message = payload.get("error_message")
        if message is not None:
            return str(message)
    return None


def error_for_status(
    status: int,
    body: bytes,
    *,
    method: str,
    url: str,
    retry_after: str | None = None,
    payload: Any = None,
) -> APIError:
    """Build the exception for an error answer (pure; no I/O).

    ``payload`` is the decoded JSON body when the caller already has it; otherwise the
    body is decoded here if it is JSON. A 2xx status is accepted too, for the API's
    habit of answering 200 with ``{"error_message": ...}``.

    >>> e = error_for_status(400, b'{"error_message": "Invalid lead ID."}',
    ...                      method="GET", url="https://x/api/v1/leads/1")
    >>> type(e).__name__, e.status, e.error_message
    ('NotFoundError', 400, 'Invalid lead ID.')
    """
    if payload is None and body:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
    message = _error_message_of(payload)
    excerpt = None if message is not None or not body else _snippet(body)

    cls: type[APIError]
    if message is not None and _INVALID_ID.search(message) and status in (200, 400, 404):
        cls = NotFoundError
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    elif status < 400:
        cls = BadRequestError
    else:
        cls = APIError

    detail = message if message is not None else (excerpt or "no body")
    text = f"{status} from {method} {url}: {detail}"
    kwargs: dict[str, Any] = dict(
        status=status, method=method, url=url, error_message=message, body=excerpt
    )
    if cls is RateLimitError:
        seconds = parse_retry_after(retry_after)
        if seconds is not None:
            text += f" (retry after {seconds:g} s)"
        return RateLimitError(text, retry_after=seconds, **kwargs)
    return cls(text, **kwargs)


def malformed(
    status: int, body: bytes, *, method: str, url: str, why: str
) -> MalformedResponseError:
    """A :class:`MalformedResponseError` quoting a short excerpt of the body."""
    excerpt = _snippet(body) if body else "empty body"
    return MalformedResponseError(
        f"unreadable response to {method} {url} (status {status}): {why}; body: {excerpt}",
        status=status,
        method=method,
        url=url,
        body=excerpt,
    )


class InvalidJSONError(WhatConvertsError, ValueError):
    """Bytes or text that are not one JSON document this library reads.

    Raised by the package's one JSON decoder (``whatconverts_async._json.loads``) with the same
    message whether or not orjson is installed; callers wrap it (a webhook body becomes
    ``WebhookError``, an API answer ``MalformedResponseError``). ``position`` is the character
    offset of the problem in the text when known, else ``None``. The message never quotes the
    document.

    >>> InvalidJSONError("NaN is not valid JSON")
    InvalidJSONError('invalid JSON: NaN is not valid JSON')
    """

    def __init__(self, reason: str, position: int | None = None) -> None:
        super().__init__(f"invalid JSON: {reason}")
        self.reason = reason
        self.position = position
