"""The plan of a lead scan: windows and their wire parameters, made once (pure, no I/O).

The lead list accepts at most 400 days between ``start_date`` and ``end_date``. A long
scan is therefore a sequence of windows that cover the range exactly: inclusive bounds
at second precision (what the wire carries), each window ending one second before the
next begins, so no instant is in two windows and none is in none.

:func:`plan_scan` reads the user's arguments once (dates parsed here, "now" given by the
caller's clock), checks them, and returns a :class:`ScanPlan`: every window, per scope
(account or profile) when a master key scans several, with the exact request parameters
except ``page_number``. ``leads.iterate``, ``export_leads`` and the CLI's estimate all
read the same plan.

>>> from datetime import datetime, timezone
>>> ws = split_windows(datetime(2015, 1, 1, tzinfo=timezone.utc),
...                    datetime(2016, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
>>> [(w.start.date().isoformat(), w.end.isoformat()) for w in ws]
[('2015-01-01', '2016-02-04T23:59:59+00:00'), ('2016-02-05', '2016-12-31T23:59:59+00:00')]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Literal

import attrs

from .errors import InvalidParameterError
from .models import Lead
from .pagination import PaginationError
from .params import (
    check_int_range,
    check_lead_filters,
    check_order,
    date_range,
    format_datetime,
)
from .vocab import MAX_LEADS_PER_PAGE, MAX_WINDOW

__all__ = [
    "MAX_WINDOW",
    "ScanPlan",
    "ScanWindow",
    "Window",
    "count_windows",
    "plan_scan",
    "split_windows",
]

_SECOND = timedelta(seconds=1)


def _aware(_: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{attribute.name} must be timezone-aware")


_MOMENT = [attrs.validators.instance_of(datetime), _aware]


@attrs.frozen
class Window:
    """An inclusive ``[start, end]`` range of whole UTC seconds (``ValueError`` if naive)."""

    start: datetime = attrs.field(validator=_MOMENT)
    end: datetime = attrs.field(validator=_MOMENT)

    @property
    def span(self) -> timedelta:
        """``end - start`` (a full 400-day window spans 400 days minus one second)."""
        return self.end - self.start


def _whole_seconds(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(timezone.utc).replace(microsecond=0)


def split_windows(
    start: datetime,
    end: datetime,
    *,
    max_span: timedelta = MAX_WINDOW,
    order: Literal["asc", "desc"] = "asc",
) -> list[Window]:
    """Windows covering ``[start, end]`` exactly, each spanning less than ``max_span``.

    Sub-second parts are dropped (the wire has second precision). ``order="desc"``
    returns the same windows newest first. ``start > end`` gives no window.
    Raises ``ValueError`` for a naive datetime, ``max_span`` under two seconds or an
    unknown ``order``.
    """
    start = _whole_seconds(start, "start")
    end = _whole_seconds(end, "end")
    if max_span < 2 * _SECOND:
        raise ValueError("max_span must be at least two seconds")
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    windows: list[Window] = []
    cursor = start
    step = max_span - _SECOND
    while cursor <= end:
        stop = min(cursor + step, end)
        windows.append(Window(cursor, stop))
        cursor = stop + _SECOND
    if order == "desc":
        windows.reverse()
    return windows


def count_windows(start: datetime, end: datetime, *, max_span: timedelta = MAX_WINDOW) -> int:
    """How many windows :func:`split_windows` makes (the minimum requests of a scan)."""
    return len(split_windows(start, end, max_span=max_span))


@attrs.frozen
class ScanWindow:
    """One window of one scope, and the request parameters that read it.

    ``params`` holds checked values (datetimes, bools, ints), encoded only at the wire;
    add ``page_number`` to ask for a page. ``scope`` is ``{}`` or the one
    ``account_id``/``profile_id`` this window is read for.
    """

    window: Window
    params: Mapping[str, Any]
    scope: Mapping[str, int] = attrs.field(factory=dict)
    # Shared by every window of one plan: lead id -> label of the window that returned it
    # without a date_created (such a lead cannot be checked against its window).
    undated: dict[Hashable, str] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def start(self) -> datetime:
        """The window's first second (UTC)."""
        return self.window.start

    @property
    def end(self) -> datetime:
        """The window's last second (UTC)."""
        return self.window.end

    @property
    def label(self) -> str:
        """``leads <start>..<end>`` plus the scope, for messages and progress."""
        text = f"leads {format_datetime(self.start)}..{format_datetime(self.end)}"
        if self.scope:
            text += " " + ", ".join(f"{k}={v}" for k, v in self.scope.items())
        return text

    def check_leads(self, leads: Iterable[Lead]) -> None:
        """Raise :class:`~whatconverts_async.PaginationError` if a lead was created outside
        this window.

        How the API reads ``start_date``/``end_date`` is not documented beyond ISO 8601 UTC.
        If it ever read them differently (whole days, exclusive ends), windows would
        overlap or leave gaps and leads would repeat or vanish at the edges: every lead is
        checked against the window asked for, to stop loudly instead.
        """
        leads = leads if isinstance(leads, list) else list(leads)
        dates = list(map(_date_created, leads))
        if None not in dates and (
            not dates or (self.start <= min(dates) and max(dates) <= self.end)
        ):
            return  # the usual page, checked in C; otherwise find the lead to name below
        for lead in leads:
            created = lead.date_created
            if created is None:
                self._check_undated(lead.lead_id)
            elif not self.start <= created <= self.end:
                raise PaginationError(
                    f"lead {lead.lead_id} created {format_datetime(created)} came back for "
                    f"the window {format_datetime(self.start)}..{format_datetime(self.end)}: "
                    "the API reads the date filters differently than this client assumes"
                )

    def _check_undated(self, lead_id: Hashable) -> None:
        # A lead without a date belongs to no window by its date: if the API returns it
        # for two windows, yielding it each time would duplicate it, dropping it would
        # rest on a guess about what the API does. Neither is silent: stop.
        first = self.undated.setdefault(lead_id, self.label)
        if first != self.label:
            raise PaginationError(
                f"lead {lead_id} has no date_created and came back for two windows "
                f"({first} and {self.label}): the API returns leads outside the date "
                "filters this client assumes"
            )


_date_created = attrgetter("date_created")


@attrs.frozen
class ScanPlan:
    """Every window of a scan, in the order they are read.

    ``start``/``end`` are the range (``end`` fixed when the plan was made, so leads
    arriving during the scan cannot shift pages under it); ``windows`` lists each scope's
    windows in ``order``, scope after scope.
    """

    start: datetime
    end: datetime
    order: Literal["asc", "desc"]
    per_page: int
    windows: tuple[ScanWindow, ...]

    def shard(self, index: int, count: int) -> ScanPlan:
        """Only windows ``index, index + count, ...``: one of ``count`` workers' share."""
        return attrs.evolve(self, windows=self.windows[index::count])


def plan_scan(
    *,
    start_date: Any,
    end_date: Any = None,
    now: datetime,
    order: Any = "asc",
    per_page: Any = None,
    account_ids: Sequence[int] | None = None,
    profile_ids: Sequence[int] | None = None,
    filters: Mapping[str, Any] | None = None,
    master: bool = False,
) -> ScanPlan:
    """Check a scan's arguments and plan its windows.

    ``start_date`` is required; ``end_date`` None means ``now`` (an aware datetime read
    from the client's clock). Dates are what :func:`~whatconverts_async.params.to_utc_datetime`
    accepts (a bare ``end_date`` covers its day). ``per_page`` None is the API's largest
    page, 2,500. ``filters`` are lead-list filters; agency-only ones and
    ``account_ids``/``profile_ids`` (one scope per id, read in turn) need ``master``.

    Windows that begin after ``now`` are left out (they cannot hold a lead yet, and each
    would cost a request): a range wholly in the future plans no window. ``end`` stays
    the ``end_date`` asked for.
    Raises :class:`~whatconverts_async.errors.InvalidParameterError` naming the argument.

    >>> from datetime import date
    >>> plan = plan_scan(start_date=date(2024, 1, 1), end_date=date(2025, 12, 31),
    ...                  now=datetime(2026, 1, 1, tzinfo=timezone.utc), order="desc")
    >>> [w.label for w in plan.windows]
    ['leads 2025-02-04T00:00:00Z..2025-12-31T23:59:59Z', \
'leads 2024-01-01T00:00:00Z..2025-02-03T23:59:59Z']
    >>> plan.windows[0].params["leads_per_page"]
    2500
    """
    if start_date is None:
        raise InvalidParameterError(
            "start_date", "is required: the API lists at most 400 days per request"
        )
    start, end = date_range(start_date, end_date)
    assert start is not None
    stop = end if end is not None else _whole_seconds(now, "now")
    direction = check_order(order) or "asc"
    size = (
        MAX_LEADS_PER_PAGE
        if per_page is None
        else check_int_range(per_page, "per_page", 1, MAX_LEADS_PER_PAGE)
    )
    base = check_lead_filters(filters or {}, master=master)
    scopes = _scopes(account_ids, profile_ids, base, master=master)
    # A window that begins after "now" can hold no lead yet: requesting it would spend
    # budget on a certain empty answer. The window that holds "now" keeps its planned end.
    present = _whole_seconds(now, "now")
    windows = [w for w in split_windows(start, stop, order=direction) if w.start <= present]
    undated: dict[Hashable, str] = {}
    planned = tuple(
        ScanWindow(
            window,
            {
                **base,
                **scope,
                "start_date": window.start,
                "end_date": window.end,
                "order": direction,
                "leads_per_page": size,
            },
            scope,
            undated,
        )
        for scope in scopes
        for window in windows
    )
    return ScanPlan(start, stop, direction, size, planned)


def _scopes(
    account_ids: Sequence[int] | None,
    profile_ids: Sequence[int] | None,
    filters: Mapping[str, Any],
    *,
    master: bool,
) -> list[dict[str, int]]:
    scopes: list[dict[str, int]] = [{}]
    for name, ids in (("account_ids", account_ids), ("profile_ids", profile_ids)):
        if ids is None:
            continue
        single = name[:-1]
        if single in filters:
            raise InvalidParameterError(name, f"cannot be combined with {single}")
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence) or not ids:
            raise InvalidParameterError(name, "must be a non-empty list of ids")
        if scopes != [{}]:
            raise InvalidParameterError(name, "cannot be combined with account_ids")
        checked = [check_lead_filters({single: i}, master=master)[single] for i in ids]
        if len(set(checked)) != len(checked):
            raise InvalidParameterError(name, "must not repeat an id")
        scopes = [{single: i} for i in checked]
    return scopes
