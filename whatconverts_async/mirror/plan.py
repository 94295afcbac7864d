"""The refresh plan: which recent windows to re-read, how often, and what that costs.

The API cannot list leads "updated since": it selects by creation date only. So edits made
days after a lead arrived (quotable, values, status, notes) are found by reading the recent
past again. Reading the last ``N`` days costs ``max(1, ⌈N · leads_per_day / 2500⌉)``
requests per 400-day window, so a plan is a few tiers, each a window and a period:

>>> plan = RefreshPlan()
>>> [(t.name, t.days, t.every.total_seconds() / 3600) for t in plan.tiers]
[('hot', 2, 1.0), ('warm', 7, 6.0), ('cold', 35, 24.0)]
>>> plan.requests_per_pass(35, leads_per_day=200)   # 7,000 leads: 3 pages
3
>>> plan.daily_requests(leads_per_day=200)   # hot (widened to 10 days) covers warm
27.0

A window that fits in one page costs one request however wide it is, so a tier is widened
for free (up to ``headroom`` of a page at the measured rate, at most 400 days); a widened
tier that reaches a wider one covers it, and that one then costs nothing:

>>> [(c.tier.name, c.days, c.requests_per_day) for c in plan.costs(leads_per_day=20)]
[('hot', 100, 24.0), ('warm', 100, 0.0), ('cold', 100, 0.0)]

A rate is an average: leads are rarely spread evenly (none in the last month, a busy
season a year ago). Given the leads actually held per day (:class:`LeadCounts`, what
:class:`~whatconverts_async.mirror.LeadMirror` passes), the cost of a window is computed
from the leads in it, per 400-day window, and a tier is widened only as far as those
leads fit in ``headroom`` of one page:

>>> quiet_then_busy = LeadCounts((0,) * 60 + (120,) * 300)   # none in the last 60 days
>>> [(c.tier.name, c.days, c.requests_per_pass) for c in plan.costs(None, quiet_then_busy)]
[('hot', 76, 1), ('warm', 76, 0), ('cold', 76, 0)]

When the day's budget is short, :meth:`RefreshPlan.fit` drops the narrowest tier first
(the most frequent one), whose window the wider tiers also read (so only freshness is lost, never
coverage):

>>> [t.name for t in plan.fit(leads_per_day=2000, daily_budget=90).tiers]
['warm', 'cold']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from ..errors import InvalidParameterError

__all__ = [
    "DEFAULT_TIERS",
    "PAGE_SIZE",
    "WINDOW_DAYS",
    "LeadCounts",
    "PassChoice",
    "RefreshPlan",
    "Tier",
    "TierCost",
]

PAGE_SIZE = 2500
"""The API's largest page of leads."""

WINDOW_DAYS = 400
"""The API's widest date range per request."""


def _check_tier(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if attribute.name == "name" and (not isinstance(value, str) or not value.strip()):
        raise InvalidParameterError("tier name", f"must be non-empty text, got {value!r}")
    if attribute.name == "days" and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36_500
    ):
        raise InvalidParameterError("tier days", f"must be an integer 1..36500, got {value!r}")
    if attribute.name == "every" and (
        not isinstance(value, timedelta) or value < timedelta(minutes=1)
    ):
        raise InvalidParameterError("tier every", f"must be a timedelta >= 1 minute, got {value!r}")


@attrs.frozen
class Tier:
    """Re-read the last ``days`` days (by creation date) every ``every``.

    >>> Tier("hot", 2, timedelta(hours=1)).days
    2
    """

    name: str = attrs.field(validator=_check_tier)
    days: int = attrs.field(validator=_check_tier)
    every: timedelta = attrs.field(validator=_check_tier)


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("hot", 2, timedelta(hours=1)),
    Tier("warm", 7, timedelta(hours=6)),
    Tier("cold", 35, timedelta(days=1)),
)
"""The last 2 days hourly, the last week four times a day, the last 35 days daily."""


def _as_tuple(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _check_counts(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value
    ):
        raise InvalidParameterError("by_day", "must be a sequence of integers >= 0")


@attrs.frozen
class LeadCounts:
    """Leads created per day back from now: ``by_day[i]`` counts those created ``i`` to
    ``i + 1`` days before now (``by_day[0]`` also those dated after now); days beyond the
    end count none.

    A pass over the last ``days`` days reads from ``days`` days before now plus one second
    up to now, so it holds exactly ``by_day[0:days]``:

    >>> LeadCounts((5, 0, 7)).leads(0, 2), LeadCounts((5, 0, 7)).leads(1, 10)
    (5, 7)
    """

    by_day: tuple[int, ...] = attrs.field(converter=_as_tuple, validator=_check_counts)
    _sums: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        sums = [0]
        for n in self.by_day:
            sums.append(sums[-1] + n)
        object.__setattr__(self, "_sums", tuple(sums))

    def leads(self, newest: int, oldest: int) -> int:
        """Leads created ``newest`` to ``oldest`` days before now (days ``newest`` up to,
        not including, ``oldest``)."""
        top = len(self._sums) - 1
        lo, hi = min(max(newest, 0), top), min(max(oldest, 0), top)
        return self._sums[hi] - self._sums[lo] if hi > lo else 0


@attrs.frozen
class TierCost:
    """What one tier costs at a lead rate: the window actually read (``days``, after
    widening), requests per pass, passes and requests per day, and ``covered_by`` (the name
    of a more frequent tier whose widened window already reads this one, or ``None``)."""

    tier: Tier
    days: int
    requests_per_pass: int
    passes_per_day: float
    requests_per_day: float
    covered_by: str | None


@attrs.frozen
class PassChoice:
    """The pass a refresh runs now: ``days`` back from now, satisfying the tiers ``covers``."""

    days: int
    covers: tuple[str, ...]
    requests: int


def _check_tiers(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(t, Tier) for t in value):
        raise InvalidParameterError("tiers", "must be a sequence of Tier")
    names = [t.name for t in value]
    if len(set(names)) != len(names):
        raise InvalidParameterError("tiers", f"names must be unique, got {names}")


def _check_headroom(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise InvalidParameterError("headroom", f"must be a fraction in (0, 1], got {value!r}")


def _check_page_size(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= PAGE_SIZE:
        raise InvalidParameterError(
            "page_size", f"must be an integer 1..{PAGE_SIZE}, got {value!r}"
        )


def _tiers(value: Sequence[Tier]) -> tuple[Tier, ...]:
    return tuple(sorted(value, key=lambda t: (t.days, t.every))) if value else ()


@attrs.frozen
class RefreshPlan:
    """Tiers (kept sorted narrowest first), widening on or off, and the widening headroom.

    ``headroom`` is the share of one page a widened window may fill at the measured rate,
    so that a rate a little above the measured one still fits in one request.
    """

    tiers: tuple[Tier, ...] = attrs.field(
        default=DEFAULT_TIERS, converter=_tiers, validator=_check_tiers
    )
    widen: bool = True
    headroom: float = attrs.field(default=0.8, validator=_check_headroom)
    page_size: int = attrs.field(default=PAGE_SIZE, validator=_check_page_size)
    """Leads per request the scans ask for (the mirror's ``page_size``)."""

    @staticmethod
    def requests_per_pass(days: int, leads_per_day: float | None) -> int:
        """Requests to read the last ``days`` days once: per 400-day window,
        ``max(1, ⌈days_in_window · leads_per_day / 2500⌉)``. Unknown rate: one per window."""
        total = 0
        left = days
        while left > 0:
            span = min(left, WINDOW_DAYS)
            leads = 0.0 if leads_per_day is None else span * leads_per_day
            total += max(1, math.ceil(leads / PAGE_SIZE - 1e-9))
            left -= span
        return total

    def pass_requests(
        self, days: int, leads_per_day: float | None, counts: LeadCounts | None = None
    ) -> int:
        """Requests to read the last ``days`` days once. With ``counts``: per 400-day window
        (the oldest first, as the scan reads them), ``max(1, ⌈leads in it / page_size⌉)``;
        else :meth:`requests_per_pass` at ``leads_per_day`` (for this plan's page size)."""
        if counts is None:
            if self.page_size == PAGE_SIZE:
                return self.requests_per_pass(days, leads_per_day)
            total, left = 0, days
            while left > 0:
                span = min(left, WINDOW_DAYS)
                leads = 0.0 if leads_per_day is None else span * leads_per_day
                total += max(1, math.ceil(leads / self.page_size - 1e-9))
                left -= span
            return total
        total, oldest = 0, days
        while oldest > 0:
            newest = max(0, oldest - WINDOW_DAYS)
            total += max(1, math.ceil(counts.leads(newest, oldest) / self.page_size))
            oldest = newest
        return total

    def effective_days(
        self, tier: Tier, leads_per_day: float | None, counts: LeadCounts | None = None
    ) -> int:
        """The tier's window after widening, never fewer than ``tier.days``, at most 400
        (one API window): with ``counts``, the most days whose leads fit in ``headroom`` of
        one page; else as many days as fit at the measured rate."""
        if not self.widen or tier.days >= WINDOW_DAYS:
            return tier.days
        room = self.headroom * self.page_size
        if counts is not None:
            days = tier.days
            while days < WINDOW_DAYS and counts.leads(0, days + 1) <= room:
                days += 1
            return days
        if leads_per_day is None:
            return tier.days
        if leads_per_day <= 0:
            return WINDOW_DAYS
        fit = math.floor(room / leads_per_day)
        return max(tier.days, min(fit, WINDOW_DAYS))

    def costs(
        self, leads_per_day: float | None, counts: LeadCounts | None = None
    ) -> list[TierCost]:
        """Each tier's cost per pass and per day at ``leads_per_day`` (``None``: unknown),
        or from the leads in its window when ``counts`` is given."""
        out: list[TierCost] = []
        for tier in self.tiers:
            passes = timedelta(days=1) / tier.every
            cover = next(
                (
                    c
                    for c in out
                    if c.covered_by is None and c.days >= tier.days and c.tier.every <= tier.every
                ),
                None,
            )
            if cover is not None:
                out.append(TierCost(tier, cover.days, 0, passes, 0.0, cover.tier.name))
                continue
            days = self.effective_days(tier, leads_per_day, counts)
            per_pass = self.pass_requests(days, leads_per_day, counts)
            out.append(TierCost(tier, days, per_pass, passes, passes * per_pass, None))
        return out

    def daily_requests(
        self, leads_per_day: float | None, counts: LeadCounts | None = None
    ) -> float:
        """Total requests per day of the plan (see :meth:`costs`)."""
        return sum(c.requests_per_day for c in self.costs(leads_per_day, counts))

    def fit(
        self,
        leads_per_day: float | None,
        daily_budget: float,
        counts: LeadCounts | None = None,
    ) -> RefreshPlan:
        """This plan without its narrowest tiers, narrowest first, until it costs at most
        ``daily_budget`` requests a day (possibly no tier at all)."""
        tiers = list(self.tiers)
        while (
            tiers
            and attrs.evolve(self, tiers=tuple(tiers)).daily_requests(leads_per_day, counts)
            > daily_budget
        ):
            tiers.pop(0)
        return attrs.evolve(self, tiers=tuple(tiers))

    def choose(
        self,
        last_done: Mapping[str, datetime | None],
        now: datetime,
        leads_per_day: float | None,
        counts: LeadCounts | None = None,
    ) -> PassChoice | None:
        """The one pass to run now, or ``None`` when no tier is due.

        A tier is due when it never ran or its last pass ended ``every`` or more ago. Of the
        due tiers, the widest (after widening) is read; every tier whose window that read
        covers counts as done, due or not.
        """
        due = [
            t
            for t in self.tiers
            if last_done.get(t.name) is None or now - last_done[t.name] >= t.every  # type: ignore[operator]
        ]
        if not due:
            return None
        days = max(self.effective_days(t, leads_per_day, counts) for t in due)
        covers = tuple(t.name for t in self.tiers if t.days <= days)
        return PassChoice(
            days=days, covers=covers, requests=self.pass_requests(days, leads_per_day, counts)
        )
