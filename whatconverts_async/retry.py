"""What is retried, and how long to wait: the retry rules in one place, built on tenacity.

Retried (transient): connection errors and timeouts, HTTP 429, and 500/502/503/504.
Never retried: 400, 401, 403, 404, a malformed answer (HTML, bad JSON, a body whose
gzip cannot be decoded, ...), a TLS certificate that fails verification, an exhausted
budget, a cancellation. A request that is not idempotent (creating a lead, account,
profile or user) is retried only when it provably never reached the server (the
connection, DNS lookup or TLS handshake failed) or the server refused it with 429, so a
create is never duplicated.

An answer that says the key's daily limit is reached (:func:`is_daily_limit`, replaceable
per policy) is not a transient failure: it is never retried; the client marks its budget
spent until the next UTC midnight and raises
:class:`~whatconverts_async.errors.QuotaExhaustedError` or, in ``"wait"`` mode, waits for
the reset.

Waits, for retry number ``n`` (1-based):

* backoff: exponential with full jitter, ``uniform(0, min(max_wait, base_wait * 2**(n-1)))``;
* a ``Retry-After`` (on any retryable status, 503 as well as 429) of at least
  ``base_wait`` seconds is waited as asked; a shorter one (``0``, a date in the past)
  is raised to the backoff, so a server that says "now" does not get a burst;
* a ``Retry-After`` longer than ``max_retry_after`` (``inf``, ``1e400``, a far date) is
  not slept through: the error is raised at once, carrying the wait (``retry_after``).

Caps: at most ``max_retries`` retries, and ``max_total`` seconds of retrying in all: a
retry whose wait would end past ``max_total`` is not made (the last error is raised
before that wait). Time spent waiting for budget (the daily reset in ``"wait"`` mode,
the in-flight cap, spacing) is not retrying and does not count against ``max_total``.

A fresh :class:`tenacity.AsyncRetrying` is built for every request, because one shared
object would mix attempt counts of concurrent tasks.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from typing import Any

import attrs
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
)

from ._validators import seconds, whole
from .errors import (
    APIConnectionError,
    APIError,
    CertificateError,
    InvalidParameterError,
    RateLimitError,
    ServerError,
)

__all__ = ["DailyLimitRule", "RetryPolicy", "is_daily_limit", "is_retryable"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

logger = logging.getLogger("whatconverts_async")

DailyLimitRule = Callable[[int, "str | None", "float | None"], bool]
"""``(status, error_message, retry_after) -> bool``: whether an error answer means the
key's daily limit is reached (see :func:`is_daily_limit`)."""

# "Daily request limit reached.", "API daily limit exceeded", "limit of 1000 requests per
# day", "quota for today is used up": a word for the day and a word for the limit.
_DAY = r"(?:daily|per[ -]day|a day|today|24[ -]hours?)"
_LIMIT = r"(?:limit|quota|allowance)"
DAILY_LIMIT_MESSAGE = re.compile(
    rf"\b{_DAY}\b.{{0,60}}\b{_LIMIT}|\b{_LIMIT}.{{0,60}}\b{_DAY}\b", re.IGNORECASE | re.DOTALL
)
"""The default recogniser's pattern for an ``error_message`` about the daily limit."""


def is_daily_limit(status: int, error_message: str | None, retry_after: float | None) -> bool:
    """Whether an error answer says the key's daily request limit is reached (pure).

    How WhatConverts answers a spent key is not documented (429, 403, 401, or 200 with
    an ``error_message`` are all plausible), so the message decides, whatever the
    status: a message naming a daily limit (``"Daily request limit reached."``) is the
    daily limit. So is a 429 that says nothing at all: no ``error_message`` and no
    usable ``Retry-After`` (with budget left locally, a silent refusal is the server
    counting the key's day as spent, e.g. by another user of the key).

    Arguments: the HTTP ``status`` (200 when the API put the error in a 200), the API's
    ``error_message`` (None when the body had none), and ``Retry-After`` in seconds
    (None when absent or unreadable). To change the rule, pass your own function as
    ``RetryPolicy(is_daily_limit=...)``.

    >>> is_daily_limit(403, "Daily request limit reached.", None)
    True
    >>> is_daily_limit(429, None, None), is_daily_limit(429, "Rate limit exceeded.", None)
    (True, False)
    >>> is_daily_limit(429, None, 2.0), is_daily_limit(400, "Invalid lead ID.", None)
    (False, False)
    """
    if error_message is not None and DAILY_LIMIT_MESSAGE.search(error_message):
        return True
    return status == 429 and not error_message and retry_after is None


def _callable(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        raise InvalidParameterError(attribute.name, f"must be callable, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How transient failures are retried (the rules are in the module docstring).

    Args:
        max_retries: retries after the first attempt (default 5).
        base_wait: seconds of the first backoff step (default 0.5); also the shortest
            ``Retry-After`` taken as asked (a shorter one waits the backoff).
        max_wait: the longest backoff step in seconds (default 30).
        max_total: seconds of retrying in all for one request (default 300); a retry
            whose wait would end past it is not made. Waiting for budget is not counted.
        max_retry_after: the longest ``Retry-After`` slept through (default 120 s); a
            longer one raises the error at once, carrying the wait.
        is_daily_limit: the rule that recognises an answer saying the key's daily limit
            is reached, ``(status, error_message, retry_after) -> bool`` (default
            :func:`is_daily_limit`). Such an answer is never retried.

    Bad values raise :class:`~whatconverts_async.errors.InvalidParameterError` naming
    the field.

    >>> RetryPolicy(max_retries=3).max_retries
    3
    >>> strict = RetryPolicy(is_daily_limit=lambda status, message, wait: status == 429)
    """

    max_retries: int = attrs.field(default=5, validator=whole(0))
    base_wait: float = attrs.field(default=0.5, validator=seconds())
    max_wait: float = attrs.field(default=30.0, validator=seconds())
    max_total: float = attrs.field(default=300.0, validator=seconds())
    max_retry_after: float = attrs.field(default=120.0, validator=seconds())
    is_daily_limit: DailyLimitRule = attrs.field(default=is_daily_limit, validator=_callable)

    def backoff(self, attempt: int) -> float:
        """The full-jitter wait in seconds before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_wait, self.base_wait * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)

    def wait_for(self, exc: BaseException | None, attempt: int) -> float:
        """The wait in seconds after ``exc`` before retry number ``attempt``: its
        ``Retry-After`` when it sent one of at least ``base_wait``, else the backoff."""
        retry_after = exc.retry_after if isinstance(exc, APIError) else None
        if retry_after is not None and retry_after >= self.base_wait:
            return retry_after
        backoff = self.backoff(attempt)
        return backoff if retry_after is None else max(retry_after, backoff)

    def retrying(
        self,
        *,
        idempotent: bool,
        describe: Callable[[], str],
        refused_statuses: frozenset[int] = frozenset(),
        not_retrying: Callable[[], float] = lambda: 0.0,
    ) -> AsyncRetrying:
        """A fresh tenacity controller for one request.

        ``refused_statuses`` are 5xx statuses that, for this endpoint, mean the request was
        refused before any processing, so even a non-idempotent request may be repeated.
        ``not_retrying()`` returns the seconds of this request spent so far waiting for
        something other than a retry (budget, spacing, the in-flight cap); they are left
        out of ``max_total``.
        """

        def should_retry(exc: BaseException) -> bool:
            return is_retryable(
                exc,
                idempotent=idempotent,
                max_retry_after=self.max_retry_after,
                refused_statuses=refused_statuses,
            )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait_for(exc, state.attempt_number)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number > self.max_retries:
                return True
            # tenacity computes the wait before asking to stop, so a wait that would end
            # past the cap is never begun.
            retrying_for = (state.seconds_since_start or 0.0) - not_retrying()
            return retrying_for + state.upcoming_sleep > self.max_total

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            pause = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "retrying %s after attempt %d: %s; waiting %.2f s",
                describe(),
                state.attempt_number,
                _reason(exc),
                pause,
            )

        return AsyncRetrying(
            retry=retry_if_exception(should_retry),
            stop=stop,
            wait=wait,
            before_sleep=before_sleep,
            reraise=True,
        )


def is_retryable(
    exc: BaseException,
    *,
    idempotent: bool,
    max_retry_after: float,
    refused_statuses: frozenset[int] = frozenset(),
) -> bool:
    """Whether ``exc`` is a transient failure worth another attempt (pure).

    An answer whose ``Retry-After`` exceeds ``max_retry_after`` is not retried, whatever
    its status. Daily-limit answers are set apart before this by the client.

    >>> is_retryable(APIConnectionError("x", method="POST", url="u", request_sent=False),
    ...              idempotent=False, max_retry_after=120)
    True
    """
    if isinstance(exc, CertificateError):
        return False
    if isinstance(exc, APIConnectionError):
        return idempotent or not exc.request_sent
    if (
        isinstance(exc, APIError)
        and exc.retry_after is not None
        and exc.retry_after > max_retry_after
    ):
        return False
    if isinstance(exc, RateLimitError):
        # A 429 is a refusal before any processing, so even a create is safe to repeat.
        return True
    if isinstance(exc, ServerError) and exc.status in refused_statuses:
        return True
    if not idempotent:
        return False
    if isinstance(exc, ServerError):
        return exc.status in RETRY_STATUSES
    return False


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown"
    if isinstance(exc, (RateLimitError, ServerError)):
        return f"HTTP {exc.status}"
    return type(exc).__name__
