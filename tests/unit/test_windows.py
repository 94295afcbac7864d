"""Window splitting: any range is covered exactly by disjoint windows of < 400 days."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatconverts_async.scan import MAX_WINDOW, count_windows, split_windows

UTC = timezone.utc
SECOND = timedelta(seconds=1)

moments = st.datetimes(
    min_value=datetime(2005, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(start=moments, length=st.integers(min_value=0, max_value=20 * 366 * 86400))
def test_windows_cover_range_exactly(start: datetime, length: int) -> None:
    end = start + timedelta(seconds=length)
    windows = split_windows(start, end)
    s, e = start.replace(microsecond=0), end.replace(microsecond=0)
    assert windows, "a non-empty range needs at least one window"
    assert windows[0].start == s
    assert windows[-1].end == e
    for window in windows:
        assert window.start <= window.end
        assert window.end - window.start < MAX_WINDOW
        assert window.start.microsecond == 0 and window.end.microsecond == 0
    for before, after in itertools.pairwise(windows):
        # consecutive: no gap and no shared second at the boundary
        assert after.start == before.end + SECOND
    # minimal: every window but the last is full
    for window in windows[:-1]:
        assert window.end - window.start == MAX_WINDOW - SECOND
    assert count_windows(start, end) == len(windows)


@given(start=moments, length=st.integers(min_value=0, max_value=5 * 366 * 86400))
def test_desc_is_the_same_windows_reversed(start: datetime, length: int) -> None:
    end = start + timedelta(seconds=length)
    assert split_windows(start, end, order="desc") == list(reversed(split_windows(start, end)))


def test_known_boundaries() -> None:
    windows = split_windows(datetime(2015, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
    assert len(windows) == 9
    assert windows[0].end == datetime(2016, 2, 4, 23, 59, 59, tzinfo=UTC)
    assert windows[1].start == datetime(2016, 2, 5, tzinfo=UTC)


def test_empty_and_single_second() -> None:
    t = datetime(2020, 5, 5, 12, 0, 0, tzinfo=UTC)
    assert split_windows(t, t - SECOND) == []
    (only,) = split_windows(t, t)
    assert only.start == only.end == t


def test_naive_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="start"):
        split_windows(datetime(2020, 1, 1), datetime(2021, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="order"):
        split_windows(
            datetime(2020, 1, 1, tzinfo=UTC),
            datetime(2021, 1, 1, tzinfo=UTC),
            order="up",  # type: ignore[arg-type]
        )


def test_other_offsets_are_converted_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    (window,) = split_windows(
        datetime(2020, 1, 1, 2, tzinfo=plus2), datetime(2020, 1, 2, tzinfo=plus2)
    )
    assert window.start == datetime(2020, 1, 1, tzinfo=UTC)
    assert window.end == datetime(2020, 1, 1, 22, tzinfo=UTC)
