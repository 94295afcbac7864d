"""Split a date range into consecutive windows of at most 400 days (pure).

The lead list accepts at most 400 days between ``start_date`` and ``end_date``. A long
scan is therefore a sequence of windows that cover the range exactly: inclusive bounds
at second precision (what the wire carries), each window ending one second before the
next begins, so no instant is in two windows and none is in none.

>>> from datetime import datetime, timezone
>>> ws = split_windows(datetime(2015, 1, 1, tzinfo=timezone.utc),
...                    datetime(2016, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
>>> [(w.start.date().isoformat(), w.end.isoformat()) for w in ws]
[('2015-01-01', '2016-02-04T23:59:59+00:00'), ('2016-02-05', '2016-12-31T23:59:59+00:00')]
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

import attrs

__all__ = ["MAX_WINDOW", "Window", "count_windows", "split_windows"]

MAX_WINDOW = timedelta(days=400)
_SECOND = timedelta(seconds=1)


@attrs.frozen
class Window:
    """An inclusive ``[start, end]`` range of whole UTC seconds."""

    start: datetime
    end: datetime

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
