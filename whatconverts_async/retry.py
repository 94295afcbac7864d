"""What is retried, and how long to wait: the retry rules in one place, built on tenacity.

Retried (transient): connection errors and timeouts, HTTP 429, and 500/502/503/504.
Never retried: 400, 401, 403, 404, a malformed answer, an exhausted local budget, a
cancellation. A request that is not idempotent (creating a lead, account, profile or
user) is retried only when it provably never reached the server (the connection could
not be opened) or the server refused it with 429, so a create is never duplicated.

Waits: exponential backoff with full jitter (``uniform(0, min(max_wait, base * 2**n))``),
or the server's ``Retry-After`` when it sends one. A ``Retry-After`` longer than
``max_retry_after`` is not slept through: the error is raised at once, carrying the wait.
The number of retries (``max_retries``) and the total time (``max_total``) are both capped.

A fresh :class:`tenacity.AsyncRetrying` is built for every request, because one shared
object would mix attempt counts of concurrent tasks.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import attrs
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from ._validators import seconds, whole
from .errors import APIConnectionError, RateLimitError, ServerError

__all__ = ["RetryPolicy", "is_retryable"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

logger = logging.getLogger("whatconverts_async")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How transient failures are retried.

    >>> RetryPolicy(max_retries=3).max_retries
    3
    """

    max_retries: int = attrs.field(default=5, validator=whole(0))
    base_wait: float = attrs.field(default=0.5, validator=seconds())
    max_wait: float = attrs.field(default=30.0, validator=seconds())
    max_total: float = attrs.field(default=300.0, validator=seconds())
    max_retry_after: float = attrs.field(default=120.0, validator=seconds())

    def backoff(self, attempt: int) -> float:
        """The full-jitter wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_wait, self.base_wait * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)

    def wait_for(self, exc: BaseException | None, attempt: int) -> float:
        """The wait after ``exc``: its ``Retry-After`` when given, else backoff."""
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            return exc.retry_after
        return self.backoff(attempt)

    def retrying(
        self,
        *,
        idempotent: bool,
        describe: Callable[[], str],
        refused_statuses: frozenset[int] = frozenset(),
    ) -> AsyncRetrying:
        """A fresh tenacity controller for one request.

        ``refused_statuses`` are 5xx statuses that, for this endpoint, mean the request was
        refused before any processing, so even a non-idempotent request may be repeated.
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
            stop=stop_after_attempt(self.max_retries + 1) | stop_after_delay(self.max_total),
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

    >>> is_retryable(APIConnectionError("x", method="POST", url="u", request_sent=False),
    ...              idempotent=False, max_retry_after=120)
    True
    """
    if isinstance(exc, APIConnectionError):
        return idempotent or not exc.request_sent
    if isinstance(exc, RateLimitError):
        # A 429 is a refusal before any processing, so even a create is safe to repeat.
        return exc.retry_after is None or exc.retry_after <= max_retry_after
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
