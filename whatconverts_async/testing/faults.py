"""Fault injection for the simulator: errors, 429s, dropped connections, delays.

Every :class:`~whatconverts_async.testing.FakeWhatConverts` has a :class:`Faults`
controller at ``fake.faults``. Switch faults on inside a test and they apply to the
next requests; :meth:`Faults.clear` switches everything off. Random faults draw from
a generator seeded at construction, so a run with the same seed and the same request
order sees the same faults.

Faults apply after authentication and the daily-quota check (one middleware of the
server), so a faulted request still counts against the key's daily limit, as a real
one would. Requests that need no key (inbound Endpoints, signed recording storage)
get the same faults.

Example::

    async with FakeWhatConverts(leads=100) as fake:
        fake.faults.fail_next(2, 503, retry_after=1)      # two 503s, then normal
        fake.faults.rate_limit_next(1)                    # then one 429
        fake.faults.drop_next(1, path_prefix="leads")     # then one dropped connection
        fake.faults.latency = (0.01, 0.05)                # jitter on every request
        fake.faults.error_in_200_next(1, "Invalid lead ID.")
        ...
        fake.faults.clear()

``path_prefix`` is matched against the path below ``/api/v1/`` (``"leads"`` matches
``leads`` and ``leads/123``) unless it starts with ``/``, in which case it is matched
against the full request path.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

__all__ = ["DEFAULT_MESSAGES", "FaultAction", "Faults", "ScanInsertion"]

#: ``error_message`` sent with an injected status when no body is given.
DEFAULT_MESSAGES: Final[dict[int, str]] = {
    400: "Bad request.",
    401: "Invalid API credentials.",
    403: "Forbidden.",
    404: "Not found.",
    429: "Rate limit exceeded.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}

_API_ROOT: Final = "/api/v1/"


@dataclass(frozen=True)
class FaultAction:
    """What the server does instead of (or before) answering normally.

    ``kind`` is ``"respond"`` (send ``status``/``body``/``headers``), ``"drop"``
    (close the connection without an answer) or ``"stall"`` (sleep ``delay``
    seconds, then answer normally).
    """

    kind: Literal["respond", "drop", "stall"]
    status: int = 200
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


@dataclass
class _Rule:
    remaining: int
    action: FaultAction
    path_prefix: str | None


@dataclass
class _Rate:
    fraction: float
    statuses: tuple[int, ...]
    retry_after: str | None
    path_prefix: str | None


@dataclass
class ScanInsertion:
    """A pending :meth:`Faults.insert_leads_during_scan` request."""

    after_requests: int
    count: int
    start: datetime
    end: datetime
    profile_id: int | None = None
    seen: int = 0
    done: bool = field(default=False)


def _retry_after(value: str | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _error_body(status: int, body: bytes | str | None, message: str | None = None) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    import json

    text = message or DEFAULT_MESSAGES.get(status, f"Simulated error {status}.")
    return json.dumps({"error_message": text}).encode()


class Faults:
    """Switchable, deterministic faults; one instance per simulator (``fake.faults``).

    Queued faults (``*_next``) are consumed in the order they were added; the first
    queued fault whose ``path_prefix`` matches a request applies to it. When no
    queued fault applies, the rate-based faults are tried: drops, then failures,
    then 429s.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[_Rule] = []
        self._drop_rate = 0.0
        self._fail: _Rate | None = None
        self._limit: _Rate | None = None
        self._latency: float | tuple[float, float] = 0.0
        self.scan_insertions: list[ScanInsertion] = []
        self.injected = 0
        """How many requests were answered, dropped or stalled by a fault so far."""

    # --- configuration -------------------------------------------------------------

    @property
    def latency(self) -> float | tuple[float, float]:
        """Delay added to every request: seconds, or a ``(min, max)`` uniform range."""
        return self._latency

    @latency.setter
    def latency(self, value: float | tuple[float, float] | None) -> None:
        if value is None:
            value = 0.0
        if isinstance(value, tuple):
            lo, hi = value
            if lo < 0 or hi < lo:
                raise ValueError(f"latency range must satisfy 0 <= min <= max, got {value}")
            self._latency = (float(lo), float(hi))
        else:
            if value < 0:
                raise ValueError(f"latency must be >= 0, got {value}")
            self._latency = float(value)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        retry_after: str | float | None = None,
        body: bytes | str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status``.

        The body is ``{"error_message": ...}`` unless ``body`` is given (bytes or
        text sent as is, e.g. an HTML page from a proxy). ``retry_after`` adds a
        ``Retry-After`` header (seconds or an HTTP date, sent as given).
        """
        _check_n(n)
        headers: list[tuple[str, str]] = []
        ra = _retry_after(retry_after)
        if ra is not None:
            headers.append(("Retry-After", ra))
        ctype = "application/json" if body is None else "text/html; charset=utf-8"
        if isinstance(body, (bytes, str)) and body[:1] in ("{", b"{"):
            ctype = "application/json"
        headers.append(("Content-Type", ctype))
        action = FaultAction(
            "respond", status=status, body=_error_body(status, body), headers=tuple(headers)
        )
        self._rules.append(_Rule(n, action, path_prefix))

    def rate_limit_next(
        self, n: int = 1, retry_after: str | float | None = None, *, path_prefix: str | None = None
    ) -> None:
        """Answer the next ``n`` matching requests with 429 (optionally with ``Retry-After``)."""
        self.fail_next(n, 429, retry_after=retry_after, path_prefix=path_prefix)

    def error_in_200_next(
        self, n: int = 1, message: str = "Internal error.", *, path_prefix: str | None = None
    ) -> None:
        """Answer the next ``n`` matching requests with ``200`` and ``{"error_message": message}``.

        The live API has been seen reporting errors this way.
        """
        _check_n(n)
        action = FaultAction(
            "respond",
            status=200,
            body=_error_body(200, None, message),
            headers=(("Content-Type", "application/json"),),
        )
        self._rules.append(_Rule(n, action, path_prefix))

    def drop_next(self, n: int = 1, *, path_prefix: str | None = None) -> None:
        """Close the connection of the next ``n`` matching requests without answering."""
        _check_n(n)
        self._rules.append(_Rule(n, FaultAction("drop"), path_prefix))

    def stall_next(
        self, n: int = 1, seconds: float = 30.0, *, path_prefix: str | None = None
    ) -> None:
        """Sleep ``seconds`` before answering the next ``n`` matching requests.

        Meant for client-timeout tests; a stalled request is released at once when
        the simulator closes.
        """
        _check_n(n)
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._rules.append(_Rule(n, FaultAction("stall", delay=float(seconds)), path_prefix))

    def fail_rate(
        self,
        fraction: float,
        statuses: Sequence[int] = (500, 502, 503, 504),
        *,
        path_prefix: str | None = None,
    ) -> None:
        """Fail each request with probability ``fraction``, a status drawn from ``statuses``."""
        _check_fraction(fraction)
        if not statuses:
            raise ValueError("statuses must not be empty")
        self._fail = _Rate(fraction, tuple(statuses), None, path_prefix)

    def rate_limit_rate(
        self,
        fraction: float,
        retry_after: str | float | None = None,
        *,
        path_prefix: str | None = None,
    ) -> None:
        """Answer each request with 429 with probability ``fraction``."""
        _check_fraction(fraction)
        self._limit = _Rate(fraction, (429,), _retry_after(retry_after), path_prefix)

    def drop_rate(self, fraction: float) -> None:
        """Drop each request's connection with probability ``fraction``."""
        _check_fraction(fraction)
        self._drop_rate = fraction

    def insert_leads_during_scan(
        self,
        after_requests: int,
        count: int,
        start: datetime,
        end: datetime,
        *,
        profile_id: int | None = None,
    ) -> None:
        """After the ``after_requests``-th ``GET leads`` list answer, insert ``count`` leads.

        The new leads get new (highest) lead ids and ``date_created`` within
        ``[start, end]``, so a client paginating that window sees ``total_leads``
        grow between pages. Only list requests that reach the handler are counted
        (not ones answered by another fault). ``profile_id`` defaults to the
        profile of the simulator's profile key.
        """
        if after_requests < 1 or count < 0:
            raise ValueError("after_requests must be >= 1 and count >= 0")
        if end < start:
            raise ValueError("end must not be before start")
        self.scan_insertions.append(ScanInsertion(after_requests, count, start, end, profile_id))

    def clear(self) -> None:
        """Switch every fault off (latency included) and reset the random generator."""
        self._rules.clear()
        self._drop_rate = 0.0
        self._fail = None
        self._limit = None
        self._latency = 0.0
        self.scan_insertions.clear()
        self._rng = random.Random(self._seed)

    @property
    def active(self) -> bool:
        """Whether any fault or latency is switched on."""
        return bool(
            self._rules
            or self._drop_rate
            or self._fail
            or self._limit
            or self._latency
            or self.scan_insertions
        )

    # --- used by the server ----------------------------------------------------------

    def delay(self) -> float:
        """The latency to add to the current request."""
        lat = self._latency
        if isinstance(lat, tuple):
            return self._rng.uniform(*lat)
        return lat

    def decide(self, path: str) -> FaultAction | None:
        """Consume and return the fault for a request to ``path``, if any."""
        for rule in self._rules:
            if _matches(rule.path_prefix, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                self.injected += 1
                return rule.action
        if self._drop_rate and self._rng.random() < self._drop_rate:
            self.injected += 1
            return FaultAction("drop")
        for rate in (self._fail, self._limit):
            if (
                rate is not None
                and _matches(rate.path_prefix, path)
                and self._rng.random() < rate.fraction
            ):
                status = self._rng.choice(rate.statuses)
                headers = [("Content-Type", "application/json")]
                if rate.retry_after is not None:
                    headers.append(("Retry-After", rate.retry_after))
                self.injected += 1
                return FaultAction(
                    "respond", status=status, body=_error_body(status, None), headers=tuple(headers)
                )
        return None

    def lead_list_served(self) -> list[ScanInsertion]:
        """Count one served ``GET leads`` list; return the insertions now due."""
        due = []
        for ins in self.scan_insertions:
            if ins.done:
                continue
            ins.seen += 1
            if ins.seen >= ins.after_requests:
                ins.done = True
                due.append(ins)
        return due

    def random_between(self, lo: int, hi: int) -> int:
        """A deterministic integer in ``[lo, hi]`` from the fault generator."""
        return self._rng.randint(lo, hi)


def _matches(prefix: str | None, path: str) -> bool:
    if prefix is None:
        return True
    if prefix.startswith("/"):
        return path.startswith(prefix)
    rel = path[len(_API_ROOT) :] if path.startswith(_API_ROOT) else path.lstrip("/")
    return rel.startswith(prefix.lstrip("/"))


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
