"""Response → exception mapping and Retry-After parsing (pure)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from whatconverts_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    WhatConvertsError,
)
from whatconverts_async._transport import error_for_status, parse_retry_after
from whatconverts_async.errors import APIConnectionError
from whatconverts_async.retry import RetryPolicy, is_retryable

URL = "https://app.whatconverts.com/api/v1/leads"


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, b'{"error_message": "Invalid lead_type."}', BadRequestError),
        (400, b'{"error_message": "Invalid lead ID."}', NotFoundError),
        (404, b'{"error_message": "Not found"}', NotFoundError),
        (200, b'{"error_message": "Invalid account ID."}', NotFoundError),
        (200, b'{"error_message": "Something odd"}', BadRequestError),
        (401, b'{"error_message": "Invalid API credentials."}', AuthenticationError),
        (403, b'{"error_message": "Agency Key is required"}', PermissionDeniedError),
        (429, b"", RateLimitError),
        (500, b"<html>oops</html>", ServerError),
        (503, b"", ServerError),
        (418, b"{}", APIError),
    ],
)
def test_status_mapping(status: int, body: bytes, cls: type[APIError]) -> None:
    exc = error_for_status(status, body, method="GET", url=URL)
    assert type(exc) is cls
    assert isinstance(exc, WhatConvertsError)
    assert exc.status == status
    assert exc.method == "GET" and exc.url == URL
    assert URL in str(exc)


def test_error_message_is_kept_and_html_is_quoted_short() -> None:
    exc = error_for_status(
        400, b'{"error_message":"Date range cannot exceed 400 days."}', method="GET", url=URL
    )
    assert exc.error_message == "Date range cannot exceed 400 days."
    html = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    exc = error_for_status(502, html, method="GET", url=URL)
    assert exc.error_message is None
    assert exc.body is not None and exc.body.startswith("<html>") and len(exc.body) < 260


def test_rate_limit_carries_retry_after() -> None:
    exc = error_for_status(429, b"{}", method="GET", url=URL, retry_after="2")
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after == 2.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0.25", 0.25),
        (" 7 ", 7.0),
        ("-5", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc)
    assert parse_retry_after(header, now=now) == expected


def _conn(sent: bool) -> APIConnectionError:
    return APIConnectionError("x", method="POST", url=URL, request_sent=sent)


@pytest.mark.parametrize(
    ("exc", "idempotent", "retry"),
    [
        (_conn(True), True, True),
        (_conn(True), False, False),  # a create that may have arrived is never repeated
        (_conn(False), False, True),  # ... unless it provably never left
        (error_for_status(500, b"", method="GET", url=URL), True, True),
        (error_for_status(502, b"", method="GET", url=URL), True, True),
        (error_for_status(501, b"", method="GET", url=URL), True, False),
        (error_for_status(500, b"", method="POST", url=URL), False, False),
        (error_for_status(429, b"", method="POST", url=URL), False, True),
        (error_for_status(429, b"", method="GET", url=URL, retry_after="600"), True, False),
        (error_for_status(400, b"", method="GET", url=URL), True, False),
        (error_for_status(401, b"", method="GET", url=URL), True, False),
        (error_for_status(403, b"", method="GET", url=URL), True, False),
        (error_for_status(404, b"", method="GET", url=URL), True, False),
        (ValueError("x"), True, False),
    ],
)
def test_what_is_retried(exc: BaseException, idempotent: bool, retry: bool) -> None:
    assert is_retryable(exc, idempotent=idempotent, max_retry_after=120) is retry


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base_wait=1.0, max_wait=5.0)
    waits = [policy.backoff(10) for _ in range(500)]
    assert all(0 <= w <= 5.0 for w in waits)
    assert max(waits) > 4.0 and min(waits) < 1.0  # spread over the whole range
    assert all(0 <= policy.backoff(1) <= 1.0 for _ in range(100))
    limited = error_for_status(429, b"", method="GET", url=URL, retry_after="1.5")
    assert policy.wait_for(limited, 3) == 1.5


def test_policy_rejects_negative_values() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


def test_a_spent_budgets_reset_time_is_written_like_every_time_in_messages() -> None:
    from datetime import timedelta

    from whatconverts_async import QuotaExhaustedError

    moment = datetime(2026, 11, 30, 0, 0, 0, 918, tzinfo=timezone(timedelta(hours=2)))
    error = QuotaExhaustedError(1000, moment)
    assert str(error).endswith("it resets at 2026-11-29T22:00:00Z")
