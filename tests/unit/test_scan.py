"""The scan plan: any range covered exactly by disjoint windows of < 400 days, and the
request parameters of every window, from the arguments alone (no network)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatconverts_async.errors import InvalidParameterError
from whatconverts_async.models import Lead
from whatconverts_async.pagination import PaginationError
from whatconverts_async.scan import (
    MAX_WINDOW,
    ScanWindow,
    Window,
    count_windows,
    plan_scan,
    split_windows,
)
from whatconverts_async.vocab import LeadType

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


NOW = datetime(2026, 1, 1, 12, 30, 45, 123456, tzinfo=UTC)


def test_plan_fixes_an_open_end_at_now_in_whole_seconds() -> None:
    plan = plan_scan(start_date=date(2025, 6, 1), now=NOW)
    assert plan.start == datetime(2025, 6, 1, tzinfo=UTC)
    assert plan.end == datetime(2026, 1, 1, 12, 30, 45, tzinfo=UTC)
    (window,) = plan.windows
    assert window.params == {
        "start_date": plan.start,
        "end_date": plan.end,
        "order": "asc",
        "leads_per_page": 2500,
    }
    assert window.scope == {}
    assert window.label == "leads 2025-06-01T00:00:00Z..2026-01-01T12:30:45Z"


def test_plan_parses_dates_once_and_a_bare_end_date_covers_its_day() -> None:
    plan = plan_scan(
        start_date="2020-01-01T06:00:00+02:00", end_date="2021-12-31", now=NOW, order="desc"
    )
    assert plan.start == datetime(2020, 1, 1, 4, tzinfo=UTC)
    assert plan.end == datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert [w.window for w in plan.windows] == split_windows(plan.start, plan.end, order="desc")
    assert plan.order == "desc"
    assert all(w.params["order"] == "desc" for w in plan.windows)


def test_plan_checks_filters_and_keeps_them_in_every_window() -> None:
    plan = plan_scan(
        start_date=date(2015, 1, 1),
        end_date=date(2017, 1, 1),
        now=NOW,
        per_page=100,
        filters={
            "lead_type": LeadType.PHONE_CALL,
            "spam": True,
            "user_id": "5-x",
            "quotable": None,
        },
    )
    assert len(plan.windows) == 2 and plan.per_page == 100
    for window in plan.windows:
        assert window.params["lead_type"] == "phone_call"
        assert window.params["spam"] is True and window.params["user_id"] == "5-x"
        assert "quotable" not in window.params
        assert window.params["leads_per_page"] == 100


def test_scopes_repeat_every_window_per_id_in_the_order_given() -> None:
    plan = plan_scan(
        start_date=date(2015, 1, 1),
        end_date=date(2017, 1, 1),
        now=NOW,
        profile_ids=[7, 3],
        master=True,
    )
    assert [w.scope for w in plan.windows] == [{"profile_id": 7}] * 2 + [{"profile_id": 3}] * 2
    assert plan.windows[2].params["profile_id"] == 3
    assert plan.windows[2].label.endswith(" profile_id=3")


def test_shard_takes_every_nth_window() -> None:
    plan = plan_scan(start_date=date(2010, 1, 1), end_date=date(2020, 1, 1), now=NOW)
    assert len(plan.windows) == 10
    shard = plan.shard(1, 3)
    assert shard.windows == plan.windows[1::3] and shard.end == plan.end


def test_start_after_end_plans_nothing_only_with_an_open_end() -> None:
    assert plan_scan(start_date=date(2027, 1, 1), now=NOW).windows == ()
    with pytest.raises(InvalidParameterError, match="start_date must not be after end_date"):
        plan_scan(start_date=date(2027, 1, 1), end_date=date(2026, 1, 1), now=NOW)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"start_date": None}, "start_date"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": 5}, "end_date"),
        ({"order": "up"}, "order"),
        ({"per_page": 2501}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"filters": {"lead_typ": "chat"}}, "lead_typ"),
        ({"filters": {"lead_type": "fax"}}, "lead_type"),
        ({"filters": {"spam": "yes"}}, "spam"),
        ({"filters": {"account_id": 5}}, "account_id"),  # needs a master key
        ({"profile_ids": [1]}, "profile_id"),  # needs a master key
        ({"profile_ids": [1], "master": True, "filters": {"profile_id": 2}}, "profile_ids"),
        ({"profile_ids": [], "master": True}, "profile_ids"),
        ({"profile_ids": "12", "master": True}, "profile_ids"),
        ({"profile_ids": [1, 1], "master": True}, "profile_ids"),
        ({"profile_ids": [0], "master": True}, "profile_id"),
        ({"account_ids": [1], "profile_ids": [2], "master": True}, "profile_ids"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments: dict[str, Any], parameter: str) -> None:
    given: dict[str, Any] = {"start_date": date(2020, 1, 1), "now": NOW, **arguments}
    with pytest.raises(InvalidParameterError) as info:
        plan_scan(**given)
    assert info.value.parameter == parameter


@settings(max_examples=100, deadline=None)
@given(
    start=moments,
    length=st.integers(min_value=0, max_value=6 * 366 * 86400),
    ids=st.lists(st.integers(1, 10**6), min_size=1, max_size=3, unique=True),
    order=st.sampled_from(["asc", "desc"]),
)
def test_each_scope_covers_the_range_exactly(
    start: datetime, length: int, ids: list[int], order: str
) -> None:
    end = start + timedelta(seconds=length)
    # "now" after the range: windows after "now" are left out (see the test below).
    plan = plan_scan(
        start_date=start, end_date=end, now=max(NOW, end), order=order, account_ids=ids, master=True
    )
    per_scope = len(plan.windows) // len(ids)
    assert per_scope == count_windows(start, end)
    for index, account in enumerate(ids):
        mine = plan.windows[index * per_scope : (index + 1) * per_scope]
        assert all(w.scope == {"account_id": account} for w in mine)
        assert [w.window for w in mine] == split_windows(start, end, order=order)  # type: ignore[arg-type]
        for w in mine:
            assert (w.params["start_date"], w.params["end_date"]) == (w.start, w.end)


@settings(max_examples=100, deadline=None)
@given(start=moments, length=st.integers(min_value=0, max_value=6 * 366 * 86400), now=moments)
def test_windows_after_now_are_never_planned(start: datetime, length: int, now: datetime) -> None:
    end = start + timedelta(seconds=length)
    plan = plan_scan(start_date=start, end_date=end, now=now)
    whole = split_windows(start, end)
    present = now.replace(microsecond=0)
    # Exactly the windows that begin by "now", unchanged: the one holding "now" keeps its end.
    assert [w.window for w in plan.windows] == [w for w in whole if w.start <= present]
    assert plan.end == end.replace(microsecond=0)


def _lead(lead_id: int, created: str | None) -> Lead:
    return Lead.from_dict({"lead_id": lead_id, "date_created": created})


def test_leads_outside_their_window_fail_loudly() -> None:
    window = ScanWindow(
        Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC)),
        {},
    )
    window.check_leads(
        [_lead(1, "2024-01-01T00:00:00Z"), _lead(2, "2024-01-31T23:59:59Z"), _lead(3, None)]
    )
    with pytest.raises(PaginationError, match="lead 4 created 2024-02-01T00:00:00Z"):
        window.check_leads([_lead(4, "2024-02-01T00:00:00Z")])
    with pytest.raises(PaginationError, match="lead 5 created 2023-12-31T23:59:59Z"):
        window.check_leads([_lead(5, "2023-12-31T23:59:59Z")])


def test_a_window_refuses_naive_bounds() -> None:
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        Window(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2))


def test_a_page_checked_at_once_still_names_the_lead_outside_its_window() -> None:
    window = ScanWindow(
        Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC)),
        {},
    )
    inside = [_lead(i, f"2024-01-{i:02d}T12:00:00Z") for i in range(1, 29)]
    edges = [_lead(100, "2024-01-01T00:00:00Z"), _lead(101, "2024-01-31T23:59:59Z")]
    window.check_leads(inside + edges)  # both bounds belong to the window
    window.check_leads(iter(inside))  # any iterable, read once
    late = _lead(200, "2024-02-01T00:00:00Z")
    with pytest.raises(PaginationError, match="lead 200 created 2024-02-01T00:00:00Z"):
        window.check_leads([*inside[:10], late, *inside[10:]])
    early = _lead(201, "2023-12-31T23:59:59Z")
    with pytest.raises(PaginationError, match="lead 201 created"):
        window.check_leads([*inside, early, _lead(3, None)])
