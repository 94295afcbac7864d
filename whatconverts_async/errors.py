"""Every exception this library raises on purpose, in one tree.

Which answer or failure becomes which error is decided in one place, the transport's
tables (:data:`whatconverts_async._transport.STATUSES` and ``FAILURES``); what is retried
is decided in :mod:`whatconverts_async.retry`.

The tree::

    WhatConvertsError
    ├── InvalidParameterError (also a ValueError)   bad argument, raised before any request
    ├── QuotaExhaustedError                          the daily budget is spent (locally, or the
    │                                                API says the key's day is used up)
    │   └── QuotaStateError                          ... its state file is unreadable (fail closed)
    ├── QuotaUnavailableError                        the shared (Redis) budget cannot be reached
    ├── UpdateNotAppliedError                        an edit did not show in the lead
    ├── PaginationError                              a list changed or lied while being read
    │   └── FilterNotAppliedError                    ... a lead does not match a filter sent
    ├── ExportError                                  an export cannot start or go on as asked
    │   └── CheckpointError                          ... its checkpoint is unreadable/mismatched
    ├── WebhookError (also a ValueError)             a webhook body that is not a lead delivery
    ├── InvalidJSONError (also a ValueError)         bytes that are not one JSON document
    ├── UsageError                                   a command-line mistake (exit code 2)
    ├── APIConnectionError                           the request got no HTTP answer
    │   ├── APITimeoutError                          ... because it took too long
    │   └── CertificateError                         ... the server's TLS certificate failed
    │                                                verification (never retried)
    └── APIError                                     the API answered with an error
        ├── BadRequestError          400
        ├── AuthenticationError      401
        ├── PermissionDeniedError    403 (e.g. a profile key on an agency-only resource)
        │   └── KeyTypeError         ... a key declared master that the API says is not
        ├── NotFoundError            404, or 400 "Invalid ... ID."
        ├── RateLimitError           429
        ├── ServerError              5xx
        └── MalformedResponseError   an answer we cannot read (HTML, bad JSON, a redirect,
                                     broken HTTP, a corrupt compressed body, a body over the
                                     size cap, ...)

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

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ._headers import NO_HEADERS, Headers
from ._redact import REDACTIONS, quoted

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CertificateError",
    "CheckpointError",
    "ExportError",
    "FilterNotAppliedError",
    "InvalidJSONError",
    "InvalidParameterError",
    "KeyTypeError",
    "MalformedResponseError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "QuotaStateError",
    "QuotaUnavailableError",
    "RateLimitError",
    "ServerError",
    "UpdateNotAppliedError",
    "UsageError",
    "WebhookError",
    "WhatConvertsError",
]


def _utc_text(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, as every time in the library's messages (a naive
    datetime is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    """The daily request budget is spent.

    ``resets_at`` is the next UTC midnight (when the budget refills), ``limit`` the
    daily budget. Raised before sending when the local budget is spent (nothing was
    sent), or after an answer that says the key's daily limit is reached (see
    :attr:`RetryPolicy.is_daily_limit <whatconverts_async.retry.RetryPolicy.is_daily_limit>`):
    then ``status`` and ``error_message`` are that answer's, and the budget has been
    marked spent until ``resets_at``. Both are None for the local budget.
    """

    def __init__(
        self,
        limit: int,
        resets_at: datetime,
        message: str | None = None,
        *,
        status: int | None = None,
        error_message: str | None = None,
    ) -> None:
        self.limit = limit
        self.resets_at = resets_at
        self.status = status
        self.error_message = error_message
        super().__init__(
            message
            or f"daily request budget of {limit} is spent; it resets at {_utc_text(resets_at)}"
        )


class UpdateNotAppliedError(WhatConvertsError):
    """An edit (or a create asked to ``verify``) was accepted, but the lead read back does
    not show it.

    ``lead_id`` and ``fields`` (the names that differ) say what to look at; the API may
    have changed how it takes that field.
    """

    def __init__(self, lead_id: int, fields: list[str], *, action: str = "edited") -> None:
        self.lead_id = lead_id
        self.fields = fields
        super().__init__(f"lead {lead_id} was {action} but reads back without: {', '.join(fields)}")


class QuotaStateError(QuotaExhaustedError):
    """A budget state file cannot be read, so the budget is treated as spent (fail closed).

    ``path`` names the file; the message says how to reset it. A subclass of
    :class:`QuotaExhaustedError` (the CLI exits 3), raised in ``"wait"`` mode too,
    because waiting for midnight does not repair a file.
    """

    def __init__(self, limit: int, resets_at: datetime, path: str, problem: str) -> None:
        self.path = path
        super().__init__(
            limit,
            resets_at,
            f"the budget state file {path} is unreadable ({problem}), so the daily budget "
            "is treated as spent. If no other process is using it, delete that file to "
            "reset the count (requests already sent today still count at the API)",
        )


class QuotaUnavailableError(WhatConvertsError):
    """The shared quota store cannot be reached, so no budget can be taken safely.

    Raised instead of spending budget nobody accounts for (fail closed). Pass
    ``fallback_fraction`` to :class:`~whatconverts_async.budget.RedisQuota` to run on a
    local share instead.
    """


class PaginationError(WhatConvertsError):
    """A list kept changing (or contradicting its own totals) while it was being read.

    Raised instead of yielding a result that might miss or repeat items.
    """


class FilterNotAppliedError(PaginationError):
    """A lead came back that does not match a filter that was sent: the server ignored
    the filter or reads it differently than documented.

    ``filter`` names the filter, ``sent`` is its wire value and ``lead_id`` the lead that
    does not match. Raised instead of handing out leads that were not asked for.
    """

    def __init__(self, filter: str, sent: str, lead_id: int, found: object) -> None:
        self.filter = filter
        self.sent = sent
        self.lead_id = lead_id
        super().__init__(
            f"the filter {filter}={sent} was not applied: lead {lead_id} came back with "
            f"{quoted(found)}; the API ignores this filter or reads it differently than this "
            "client assumes"
        )


class ExportError(WhatConvertsError):
    """The export cannot start or go on as asked (existing output, mismatched resume)."""


class CheckpointError(ExportError):
    """The checkpoint file is unreadable or does not match the output."""


class WebhookError(WhatConvertsError, ValueError):
    """A webhook body that is not a lead delivery: not JSON, not an object, a missing or
    invalid ``lead_id``, an unreadable timestamp, a non-string ``trigger``, ...

    The only exception :func:`~whatconverts_async.webhooks.parse_webhook` raises.

    >>> from whatconverts_async.webhooks import parse_webhook
    >>> parse_webhook(b"[]")
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.WebhookError: malformed webhook: expected a JSON object, got list
    """


class UsageError(WhatConvertsError):
    """A command-line mistake (the ``whatconverts`` command exits with code 2)."""


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


class CertificateError(APIConnectionError):
    """The server's TLS certificate failed verification (untrusted or self-signed,
    expired, or not valid for the host name). Never retried: it will not fix itself, and
    the request never left the machine (``request_sent`` is False)."""


class APIError(WhatConvertsError):
    """The API answered with an error.

    Attributes: ``status`` (HTTP status), ``error_message`` (the API's own
    ``error_message`` field when present), ``method``, ``url``, ``body`` (a short,
    truncated excerpt of the body when it was not the usual JSON), ``retry_after``
    (the answer's ``Retry-After`` in seconds: None when absent or unreadable,
    ``inf`` when too large to represent), ``headers`` (the answer's headers: a
    read-only, case-insensitive mapping, e.g. ``exc.headers["x-request-id"]``; empty
    when the error was not raised from an HTTP answer). The headers never carry our
    credentials: values echoing the token, the secret or the ``Authorization`` header
    are redacted, and a ``Location`` keeps no query string.
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
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.headers: Headers = (
            NO_HEADERS
            if not headers
            else headers
            if isinstance(headers, Headers)
            else Headers(headers)
        )
        self.method = method
        self.url = url
        self.error_message = None if error_message is None else REDACTIONS.scrub(error_message)
        self.body = body
        self.retry_after = retry_after
        # Messages quote server data (an excerpt, error_message, a field's value): a
        # server that echoes the credentials must not put them here.
        super().__init__(REDACTIONS.scrub(message))


class BadRequestError(APIError):
    """HTTP 400: the API rejected the parameters."""


class AuthenticationError(APIError):
    """HTTP 401: the API token or secret is wrong."""


class PermissionDeniedError(APIError):
    """HTTP 403: this key may not use this resource (e.g. a profile key on accounts)."""


class KeyTypeError(PermissionDeniedError):
    """The key is not of the type the client was told (``key_type``).

    Raised when a client built with ``key_type="master"`` is refused (403) an
    agency-only resource (accounts, profiles, users, roles) with a message saying an
    Agency (master) key is required: the key is a profile key, its daily limit is
    1,000 requests, not the 10,000 the budget assumed. Also raised by
    :meth:`WhatConverts.check_key_type <whatconverts_async.WhatConverts.check_key_type>`
    when the type it detects differs from ``key_type`` (``declared`` and ``detected``
    say which; ``status`` is then 403 or 200). A subclass of
    :class:`PermissionDeniedError`, so code catching that still does.
    """

    def __init__(self, message: str, *, declared: str, detected: str, **kwargs: Any) -> None:
        self.declared = declared
        self.detected = detected
        super().__init__(message, **kwargs)


class NotFoundError(APIError):
    """The id does not exist: HTTP 404, or the API's 400 ``Invalid ... ID.``."""


class RateLimitError(APIError):
    """HTTP 429: throttled by the API. ``retry_after`` is its wait in seconds, if it said.

    Raised at once (not slept through) when that wait is longer than
    ``RetryPolicy.max_retry_after``; a 429 that says the key's daily limit is reached
    is a :class:`QuotaExhaustedError` instead.
    """


class ServerError(APIError):
    """HTTP 5xx: the API failed."""


class MalformedResponseError(APIError):
    """The API answered, but not with something this client can read."""


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
