"""Streaming pagination over loopback: every lead once, optimal requests, clean exits."""

from __future__ import annotations

import asyncio
import gc
import math
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest

from whatconverts_async import (
    InvalidParameterError,
    PaginationError,
    WhatConverts,
    split_windows,
)
from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for

UTC = timezone.utc
START = datetime(2017, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)


def optimal_requests(fake: FakeWhatConverts, start: datetime, end: datetime, per_page: int) -> int:
    return sum(
        max(1, math.ceil(fake.data.count_leads(w.start, w.end) / per_page))
        for w in split_windows(start, end)
    )


@pytest.fixture
async def big() -> FakeWhatConverts:  # type: ignore[misc]
    async with FakeWhatConverts(leads=30_000, seed=9, start=START, end=END) as fake:
        yield fake


async def test_nine_years_every_lead_once_with_optimal_requests(big: FakeWhatConverts) -> None:
    end = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    async with client_for(big) as wc:
        ids = [lead.lead_id async for lead in wc.leads.iterate(start_date=START, end_date=end)]
    expected = big.data.lead_ids(START, end)
    assert len(expected) == 30_000
    assert ids == expected  # every lead, once, in ascending date order
    assert big.request_count == optimal_requests(big, START, end, 2500)
    assert big.request_count == wc.quota.used
    assert all(r.params["leads_per_page"] == "2500" for r in big.requests)


async def test_open_end_is_fixed_when_the_scan_starts(big: FakeWhatConverts) -> None:
    async with client_for(big) as wc:
        stream = wc.leads.iterate(start_date=date(2025, 6, 1), per_page=500)
        first = await stream.__anext__()
        await stream.aclose()
    ends = {r.params["end_date"] for r in big.requests}
    (end,) = ends
    assert end.endswith("Z") and end[:4] == str(datetime.now(UTC).year)
    assert first.date_created is not None


async def test_descending_order_walks_windows_newest_first(big: FakeWhatConverts) -> None:
    async with client_for(big) as wc:
        leads = [
            lead
            async for lead in wc.leads.iterate(
                start_date=date(2019, 1, 1),
                end_date=date(2021, 12, 31),
                order="desc",
                per_page=1000,
            )
        ]
    stamps = [lead.date_created for lead in leads]
    assert stamps == sorted(stamps, reverse=True)
    expected = big.data.lead_ids(
        datetime(2019, 1, 1, tzinfo=UTC), datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
    )
    assert sorted(lead.lead_id for lead in leads) == sorted(expected)
    assert all(r.params["order"] == "desc" for r in big.requests)


async def test_empty_windows_cost_one_request_each() -> None:
    async with FakeWhatConverts(
        leads=50,
        seed=1,
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 2, 1, tzinfo=UTC),
    ) as fake:
        async with client_for(fake) as wc:
            leads = [
                lead
                async for lead in wc.leads.iterate(
                    start_date=date(2015, 1, 1), end_date=date(2024, 12, 31)
                )
            ]
        assert len(leads) == 50
        windows = split_windows(
            datetime(2015, 1, 1, tzinfo=UTC), datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
        )
        assert fake.request_count == len(windows)


async def test_leads_inserted_mid_scan_cause_no_duplicate_and_no_loss(
    big: FakeWhatConverts,
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
    before = set(big.data.lead_ids(start, end))
    # After the 2nd page, insert leads early in the window so later pages shift.
    big.faults.insert_leads_during_scan(2, 7, start, start + timedelta(days=10))
    async with client_for(big) as wc:
        ids = [
            lead.lead_id
            async for lead in wc.leads.iterate(start_date=start, end_date=end, per_page=200)
        ]
    counts = Counter(ids)
    assert max(counts.values()) == 1, "a lead was yielded twice"
    assert before <= set(ids), "a lead that existed at the start was lost"
    # the window was re-read once: more requests than a single clean pass
    assert big.request_count > math.ceil(len(before) / 200)


async def test_data_that_never_settles_raises_instead_of_guessing(big: FakeWhatConverts) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for k in range(2, 60, 2):
        big.faults.insert_leads_during_scan(k, 1, start, start + timedelta(days=3))
    async with client_for(big) as wc:
        with pytest.raises(PaginationError, match="kept changing"):
            async for _ in wc.leads.iterate(
                start_date=start, end_date=date(2024, 12, 31), per_page=100, prefetch=1
            ):
                pass


async def test_prefetch_keeps_order_and_overlaps_requests(big: FakeWhatConverts) -> None:
    big.faults.latency = (0.0, 0.02)  # random latency reorders completions
    start, end = date(2023, 1, 1), date(2023, 12, 31)
    async with client_for(big) as wc:
        sequential = [
            lead.lead_id
            async for lead in wc.leads.iterate(
                start_date=start, end_date=end, per_page=100, prefetch=1
            )
        ]
        assert big.max_in_flight == 1
        big.reset_records()
        prefetched = [
            lead.lead_id
            async for lead in wc.leads.iterate(
                start_date=start, end_date=end, per_page=100, prefetch=8
            )
        ]
    assert prefetched == sequential
    assert big.max_in_flight > 1


async def test_break_after_ten_items_cancels_everything(big: FakeWhatConverts) -> None:
    big.faults.latency = 0.05
    async with client_for(big) as wc:
        got = []
        async with wc.leads.iterate(
            start_date=date(2023, 1, 1), end_date=date(2023, 12, 31), per_page=50, prefetch=6
        ) as leads:
            async for lead in leads:
                got.append(lead)
                if len(got) == 10:
                    break
        await asyncio.sleep(0.1)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in others if "fetch" in repr(t.get_coro())]
        assert wc.throttle.in_flight == 0
        # the client is still usable afterwards
        page = await wc.leads.list(leads_per_page=1)
    assert len(got) == 10 and len(page.items) == 1


async def test_plain_break_without_context_manager_cleans_up(big: FakeWhatConverts) -> None:
    async with client_for(big) as wc:
        async for _lead in wc.leads.iterate(
            start_date=date(2023, 1, 1), end_date=date(2023, 12, 31), per_page=50
        ):
            break
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0.02)
        assert wc.throttle.in_flight == 0


async def test_cancelling_the_consumer_task_cancels_prefetches(big: FakeWhatConverts) -> None:
    big.faults.latency = 0.2
    async with client_for(big) as wc:

        async def consume() -> None:
            async for _ in wc.leads.iterate(start_date=date(2023, 1, 1), per_page=50, prefetch=5):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        assert wc.throttle.in_flight == 0
        used = wc.quota.used
        assert used == big.request_count  # budget and server agree


async def test_max_items_stops_without_further_pages(big: FakeWhatConverts) -> None:
    async with client_for(big) as wc:
        leads = [
            lead
            async for lead in wc.leads.iterate(
                start_date=date(2023, 1, 1),
                end_date=date(2023, 12, 31),
                per_page=10,
                prefetch=1,
                max_items=25,
            )
        ]
    assert len(leads) == 25
    assert big.request_count == 3


async def test_iterate_pages_yields_pages(big: FakeWhatConverts) -> None:
    async with client_for(big) as wc:
        pages = [
            page
            async for page in wc.leads.iterate_pages(
                start_date=date(2023, 1, 1), end_date=date(2023, 3, 31), per_page=100
            )
        ]
    total = big.data.count_leads(
        datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 3, 31, 23, 59, 59, tzinfo=UTC)
    )
    assert sum(len(p.items) for p in pages) == total
    assert [p.page_number for p in pages] == list(range(1, len(pages) + 1))
    assert all(p.total_items == total for p in pages)


async def test_filters_reach_every_window(big: FakeWhatConverts) -> None:
    async with client_for(big) as wc:
        leads = [
            lead
            async for lead in wc.leads.iterate(
                start_date=date(2020, 1, 1), end_date=date(2022, 12, 31), lead_type="phone_call"
            )
        ]
    assert leads and all(lead.lead_type == "Phone Call" for lead in leads)
    assert all(r.params["lead_type"] == "phone_call" for r in big.requests)
    assert len(big.requests) == 3


async def test_master_key_fans_out_over_profiles(
    master_fake: FakeWhatConverts, mwc: WhatConverts
) -> None:
    profiles = master_fake.data.profile_ids()
    leads = [
        lead
        async for lead in mwc.leads.iterate(
            start_date=START, end_date=END, profile_ids=profiles[:2]
        )
    ]
    expected = set()
    for pid in profiles[:2]:
        expected |= set(master_fake.data.lead_ids(START, END, profile_id=pid))
    assert {lead.lead_id for lead in leads} == expected
    assert len(leads) == len(expected)
    assert {r.params["profile_id"] for r in master_fake.requests} == {str(p) for p in profiles[:2]}


async def test_other_lists_iterate_with_pages_of_250(
    master_fake: FakeWhatConverts, mwc: WhatConverts
) -> None:
    accounts = [a async for a in mwc.accounts.iterate()]
    assert {a.account_id for a in accounts} == set(master_fake.data.account_ids())
    profiles = [p async for p in mwc.profiles.iterate(accounts[0].account_id)]
    assert {p.profile_id for p in profiles} == set(
        master_fake.data.profile_ids(accounts[0].account_id)
    )
    assert all(
        r.params.get("accounts_per_page", r.params.get("profiles_per_page")) == "250"
        for r in master_fake.requests
    )


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"start_date": None}, "start_date"),
        ({"start_date": date(2020, 1, 1), "end_date": date(2019, 1, 1)}, "start_date"),
        ({"start_date": date(2020, 1, 1), "per_page": 2501}, "per_page"),
        ({"start_date": date(2020, 1, 1), "prefetch": 0}, "prefetch"),
        ({"start_date": date(2020, 1, 1), "max_items": -1}, "max_items"),
        ({"start_date": date(2020, 1, 1), "order": "newest"}, "order"),
        ({"start_date": date(2020, 1, 1), "lead_type": "fax"}, "lead_type"),
        ({"start_date": date(2020, 1, 1), "colour": "red"}, "colour"),
        ({"start_date": date(2020, 1, 1), "profile_ids": [1]}, "profile_id"),
        ({"start_date": "last year"}, "start_date"),
    ],
)
async def test_bad_iterate_arguments_fail_before_any_request(
    wc: WhatConverts,
    fake: FakeWhatConverts,
    kwargs: dict,
    parameter: str,  # type: ignore[type-arg]
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        wc.leads.iterate(**kwargs)
    assert info.value.parameter == parameter
    assert fake.request_count == 0


async def test_next_window_loads_while_the_current_one_is_consumed() -> None:
    import time

    async with FakeWhatConverts(leads=600, seed=8, start=START, end=END) as fake:
        end = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
        windows = split_windows(START, end)
        finished: list[float] = []  # when the consumer was done with each window's page
        async with client_for(fake) as wc:
            async for page in wc.leads.iterate_pages(start_date=START, end_date=end, prefetch=2):
                assert page.items
                await asyncio.sleep(0.05)  # the consumer's own work on the page
                finished.append(time.monotonic())
        # one page per window, every window once: no request spent on the look-ahead
        assert fake.request_count == len(windows) == len(finished)
        arrivals = [r.received_at for r in fake.requests]
        # window k+1 was requested before the consumer was done with window k
        assert all(arrivals[k + 1] < finished[k] for k in range(len(windows) - 1))
        assert fake.max_in_flight <= 2


async def test_no_look_ahead_when_max_items_may_stop_the_scan() -> None:
    async with FakeWhatConverts(leads=600, seed=8, start=START, end=END) as fake:
        async with client_for(fake) as wc:
            first = [
                lead async for lead in wc.leads.iterate(start_date=START, end_date=END, max_items=1)
            ]
        assert len(first) == 1
        assert fake.request_count == 1


async def test_a_lead_outside_its_window_stops_the_scan_loudly(big: FakeWhatConverts) -> None:
    # As if the API read the date filters differently (whole days, exclusive ends): a lead
    # served for one window while dated in another must not be yielded silently.
    lead_id = big.data.lead_ids(
        datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, tzinfo=UTC)
    )[0]
    big.data.patch_lead(lead_id, {"date_created": "2031-01-01T00:00:00Z"})
    async with client_for(big) as wc:
        with pytest.raises(PaginationError, match=f"lead {lead_id} created 2031"):
            async for _ in wc.leads.iterate(
                start_date=date(2022, 6, 1), end_date=date(2023, 12, 31)
            ):
                pass
