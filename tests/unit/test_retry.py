"""The retry policy, driven by scripted failures (no network): what is retried, how often,
how long it waits, and what the caller sees when it gives up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from whatconverts_async import (
    APIConnectionError,
    BadRequestError,
    InvalidParameterError,
    MalformedResponseError,
    QuotaExhaustedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from whatconverts_async._transport import error_for_status
from whatconverts_async.retry import RETRY_STATUSES, is_retryable

URL = "https://app.whatconverts.com/api/v1/leads"
NO_WAIT = RetryPolicy(max_retries=3, base_wait=0, max_wait=0)


def _status(status: int, retry_after: str | None = None) -> Exception:
    return error_for_status(status, b"", method="GET", url=URL, retry_after=retry_after)


def _script(*outcomes: BaseException | str) -> tuple[Callable[[], object], list[int]]:
    """A coroutine function that raises the scripted errors in turn, then returns."""
    calls: list[int] = []

    async def call() -> object:
        calls.append(len(calls) + 1)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return call, calls


async def _run(
    policy: RetryPolicy, call: Callable[[], object], *, idempotent: bool = True, **kw: object
) -> object:
    retrying = policy.retrying(idempotent=idempotent, describe=lambda: "GET /leads", **kw)  # type: ignore[arg-type]
    return await retrying(call)  # type: ignore[type-var]


async def test_transient_failures_are_retried_until_success() -> None:
    call, calls = _script(
        _status(503), _status(502), APIConnectionError("x", method="GET", url=URL), "ok"
    )
    assert await _run(NO_WAIT, call) == "ok"
    assert calls == [1, 2, 3, 4]


async def test_giving_up_raises_the_last_error_itself_not_a_retry_error() -> None:
    call, calls = _script(_status(500))
    with pytest.raises(ServerError) as info:
        await _run(NO_WAIT, call)
    assert info.value.status == 500
    assert len(calls) == NO_WAIT.max_retries + 1


@pytest.mark.parametrize(
    "error",
    [
        _status(400),
        _status(401),
        _status(403),
        _status(404),
        _status(501),
        MalformedResponseError("x", status=200, method="GET", url=URL),
        InvalidParameterError("x", "y"),
        ValueError("a bug"),
    ],
    ids=lambda e: type(e).__name__ + str(getattr(e, "status", "")),
)
async def test_permanent_failures_are_raised_at_once(error: Exception) -> None:
    call, calls = _script(error, "ok")
    with pytest.raises(type(error)):
        await _run(NO_WAIT, call)
    assert calls == [1]


async def test_an_exhausted_budget_is_not_retried() -> None:
    from datetime import datetime, timezone

    call, calls = _script(QuotaExhaustedError(3, datetime(2030, 1, 1, tzinfo=timezone.utc)))
    with pytest.raises(QuotaExhaustedError):
        await _run(NO_WAIT, call)
    assert calls == [1]


async def test_a_cancellation_is_never_retried() -> None:
    call, calls = _script(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await _run(NO_WAIT, call)
    assert calls == [1]


async def test_a_create_is_repeated_only_when_it_never_arrived_or_was_refused() -> None:
    never_left = APIConnectionError("x", method="POST", url=URL, request_sent=False)
    call, calls = _script(never_left, _status(429), "created")
    assert await _run(NO_WAIT, call, idempotent=False) == "created"
    assert calls == [1, 2, 3]

    for maybe_arrived in (
        APIConnectionError("x", method="POST", url=URL),
        _status(500),
        _status(503),
    ):
        call, calls = _script(maybe_arrived, "created twice")
        with pytest.raises(type(maybe_arrived)):
            await _run(NO_WAIT, call, idempotent=False)
        assert calls == [1]


async def test_refused_statuses_make_a_5xx_safe_to_repeat() -> None:
    call, calls = _script(_status(503), "sent")
    assert await _run(NO_WAIT, call, idempotent=False, refused_statuses=frozenset({503})) == "sent"
    assert calls == [1, 2]


async def test_each_request_gets_its_own_attempt_count() -> None:
    """One policy serves concurrent requests; a shared controller would mix their counts."""
    policy = RetryPolicy(max_retries=2, base_wait=0.001, max_wait=0.001)
    scripts = [_script(_status(503), _status(503), f"ok {i}") for i in range(10)]
    results = await asyncio.gather(*(_run(policy, call) for call, _ in scripts))
    assert results == [f"ok {i}" for i in range(10)]
    assert all(calls == [1, 2, 3] for _, calls in scripts)


async def test_total_time_is_capped() -> None:
    policy = RetryPolicy(max_retries=1000, base_wait=0.01, max_wait=0.01, max_total=0.05)
    call, calls = _script(_status(503))
    with pytest.raises(ServerError):
        await _run(policy, call)
    assert 2 <= len(calls) < 50


def test_retry_after_is_the_wait_and_over_the_cap_it_is_raised() -> None:
    policy = RetryPolicy(base_wait=1.0, max_wait=5.0, max_retry_after=120)
    assert policy.wait_for(_status(429, "7"), 1) == 7.0
    assert 0 <= policy.wait_for(_status(429), 1) <= 1.0  # no header: backoff
    assert is_retryable(_status(429, "120"), idempotent=True, max_retry_after=120)
    assert not is_retryable(_status(429, "121"), idempotent=True, max_retry_after=120)


def test_backoff_grows_exponentially_with_full_jitter_up_to_max_wait() -> None:
    policy = RetryPolicy(base_wait=0.5, max_wait=3.0)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (30, 3.0)):
        waits = [policy.backoff(attempt) for _ in range(300)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # the whole range is used, not only its bottom


def test_which_statuses_are_transient() -> None:
    assert frozenset({429, 500, 502, 503, 504}) == RETRY_STATUSES
    for status in range(400, 600):
        error = _status(status)
        expected = status in RETRY_STATUSES and (status != 429 or isinstance(error, RateLimitError))
        assert is_retryable(error, idempotent=True, max_retry_after=120) is expected, status
    assert not is_retryable(
        BadRequestError("x", status=400, method="GET", url=URL), idempotent=True, max_retry_after=1
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_retries", -1), ("max_retries", True), ("base_wait", float("nan")), ("max_total", "5")],
)
def test_bad_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        RetryPolicy(**{field: value})  # type: ignore[arg-type]
    assert info.value.parameter == field


# --- the daily limit, Retry-After and the time cap (issue 13) ------------------------------


@pytest.mark.parametrize(
    ("status", "message", "retry_after", "daily"),
    [
        (429, "Daily request limit reached.", None, True),
        (429, "Daily request limit reached.", 30.0, True),  # the message decides
        (403, "Daily request limit reached.", None, True),
        (401, "API daily limit exceeded", None, True),
        (200, "You have reached your limit of 1000 requests per day.", None, True),
        (429, "Quota for today is used up", None, True),
        (429, None, None, True),  # a silent 429 with nothing to wait for
        (429, "", None, True),
        (429, None, 2.0, False),  # a silent 429 that says how long: a rate limit
        (429, "Rate limit exceeded.", None, False),
        (403, "Agency Key is required to access this resource.", None, False),
        (400, "Invalid lead ID.", None, False),
        (503, None, None, False),
        (500, "Daily backup running, try again later", None, False),  # no limit named
    ],
)
def test_the_default_daily_limit_rule(
    status: int, message: str | None, retry_after: float | None, daily: bool
) -> None:
    from whatconverts_async.retry import is_daily_limit

    assert is_daily_limit(status, message, retry_after) is daily
    assert RetryPolicy().is_daily_limit(status, message, retry_after) is daily


def test_the_daily_limit_rule_can_be_replaced_and_must_be_callable() -> None:
    strict = RetryPolicy(is_daily_limit=lambda status, message, wait: status == 429)
    assert strict.is_daily_limit(429, "Rate limit exceeded.", None)
    with pytest.raises(InvalidParameterError) as info:
        RetryPolicy(is_daily_limit="daily")  # type: ignore[arg-type]
    assert info.value.parameter == "is_daily_limit"


def test_retry_after_is_honoured_on_503_as_on_429() -> None:
    policy = RetryPolicy(base_wait=0.01, max_wait=0.05)
    assert policy.wait_for(_status(503, "3"), 1) == 3.0
    assert policy.wait_for(_status(429, "3"), 1) == 3.0
    assert is_retryable(_status(503, "120"), idempotent=True, max_retry_after=120)


@pytest.mark.parametrize("header", ["0", "0.001", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_retry_after_of_now_waits_at_least_the_backoff(header: str) -> None:
    import random

    policy = RetryPolicy(base_wait=1.0, max_wait=30.0)
    for attempt in (1, 3, 5):
        error = error_for_status(503, b"", method="GET", url=URL, retry_after=header)
        random.seed(attempt)
        waited = policy.wait_for(error, attempt)
        random.seed(attempt)
        assert waited == max(policy.backoff(attempt), error.retry_after or 0)
        assert waited > 0.001


@pytest.mark.parametrize("header", ["inf", "1e400", "9" * 400, "Fri, 31 Dec 99999 23:59:59 GMT"])
@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_beyond_the_cap_is_raised_at_once(header: str, status: int) -> None:
    call, calls = _script(_status(status, header), "ok")
    with pytest.raises(RateLimitError if status == 429 else ServerError) as info:
        await _run(NO_WAIT, call)
    assert calls == [1]
    assert info.value.retry_after == float("inf")
    assert "retry after inf s" in str(info.value)


async def test_no_retry_starts_a_wait_that_would_cross_the_total_cap() -> None:
    import time

    # Waits of 0.4 s: attempts at 0, 0.4 and 0.8 s; a fourth would start at 1.2 s.
    policy = RetryPolicy(max_retries=100, base_wait=0.01, max_total=1.0)
    call, calls = _script(_status(503, "0.4"))
    started = time.monotonic()
    with pytest.raises(ServerError):
        await _run(policy, call)
    assert len(calls) == 3
    # A fourth attempt would start at 1.2 s: below that, no wait overran the cap
    # (the slack is for a loaded machine's slow answers, not for a wait).
    assert time.monotonic() - started < 1.2


async def test_time_spent_waiting_for_budget_is_not_retry_time() -> None:
    """A request that waits for the daily reset between two attempts keeps its retries."""
    waited = [0.0]
    calls: list[int] = []

    async def call() -> str:
        calls.append(len(calls) + 1)
        if len(calls) == 2:  # this attempt first waited 0.3 s for budget
            await asyncio.sleep(0.3)
            waited[0] += 0.3
        if len(calls) < 4:
            raise _status(503)
        return "ok"

    policy = RetryPolicy(max_retries=5, base_wait=0.001, max_wait=0.001, max_total=0.2)
    retrying = policy.retrying(
        idempotent=True, describe=lambda: "GET /leads", not_retrying=lambda: waited[0]
    )
    assert await retrying(call) == "ok"
    assert calls == [1, 2, 3, 4]
    # Without leaving the budget wait out, the same request stops after attempt 2.
    calls.clear()
    waited[0] = 0.0
    counted = policy.retrying(idempotent=True, describe=lambda: "GET /leads")
    with pytest.raises(ServerError):
        await counted(call)
    assert calls == [1, 2]


def test_a_certificate_error_is_never_retried() -> None:
    from whatconverts_async import CertificateError

    error = CertificateError("self-signed", method="POST", url=URL, request_sent=False)
    assert not is_retryable(error, idempotent=True, max_retry_after=120)
    assert not is_retryable(error, idempotent=False, max_retry_after=120)
