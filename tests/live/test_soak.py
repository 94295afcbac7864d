"""Fault soak: fifty tasks share one client over a network that keeps failing.

The simulator answers 5% of requests with a 5xx, drops 2% of connections without an
answer, throws bursts of 429 (with and without ``Retry-After``) and adds random latency.
Every task must still get exactly the simulator's data; the cap on requests in flight
must hold; every request the server saw must have gone through the client's budget;
and apart from the failed attempts, not one request may be wasted.

By default one round runs (a few seconds). ``WHATCONVERTS_SOAK_SECONDS=600 pytest -m soak``
keeps starting rounds until that many seconds have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import random
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from whatconverts_async import RetryPolicy, WhatConverts
from whatconverts_async.testing import FakeWhatConverts

pytestmark = [pytest.mark.soak, pytest.mark.filterwarnings("error")]

UTC = timezone.utc
START = datetime(2017, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
SOAK_SECONDS = float(os.environ.get("WHATCONVERTS_SOAK_SECONDS", "0") or 0)
TASKS = 50
CAP = 8
LIMIT = 1_000_000
BURST_GAP = 12  # requests at least between two bursts (each of 2-6 429s)


def _retry_after(rng: random.Random) -> str | float | None:
    choice = rng.randrange(4)
    if choice == 0:
        return None  # backoff decides
    if choice == 1:
        return 0.02  # fractional seconds
    if choice == 2:
        return "0"
    # An HTTP date already in the past: no wait at all.
    return format_datetime(datetime.now(UTC) - timedelta(seconds=5), usegmt=True)


async def _bursts(fake: FakeWhatConverts, rng: random.Random, stop: asyncio.Event) -> int:
    bursts = 0
    while not stop.is_set():
        fake.faults.rate_limit_next(rng.randint(2, 6), _retry_after(rng))
        bursts += 1
        # The next burst waits for traffic as well as time: on a slow machine, bursts timed
        # by the clock alone outnumber the requests and no retry budget gets a task through.
        seen = fake.request_count
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(0.05, 0.2))
        while not stop.is_set() and fake.request_count < seen + BURST_GAP:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.01)
    return bursts


async def _task(wc: WhatConverts, fake: FakeWhatConverts, rng: random.Random, index: int) -> int:
    """One user of the shared client; returns the requests it needed without faults."""
    kind = index % 5
    if kind == 4:
        ids = rng.sample(fake.data.lead_ids(START, END), 3)
        for lead_id in ids:
            lead = await wc.leads.get(lead_id)
            assert lead.to_dict() == fake.data.lead(lead_id)
        return len(ids)
    start = START + timedelta(days=rng.randrange(0, 3000))
    end = start + timedelta(days=rng.randrange(20, 500), seconds=-1)
    per_page = rng.choice((25, 60, 100, 250))
    prefetch = rng.randint(1, 4)
    got = [
        lead.to_dict()
        async for lead in wc.leads.iterate(
            start_date=start, end_date=end, per_page=per_page, prefetch=prefetch
        )
    ]
    expected = list(fake.data.iter_leads(start, end))
    assert [lead["lead_id"] for lead in got] == [lead["lead_id"] for lead in expected]
    assert got == expected  # every field of every lead, in order, once
    from whatconverts_async import split_windows

    return sum(
        max(1, math.ceil(fake.data.count_leads(w.start, w.end) / per_page))
        for w in split_windows(start, end)
    )


async def _round(fake: FakeWhatConverts, wc: WhatConverts, seed: int) -> None:
    fake.reset_records()
    used_before = wc.quota.used
    injected_before = fake.faults.injected
    fake.faults.clear()
    fake.faults.fail_rate(0.05)
    fake.faults.drop_rate(0.02)
    fake.faults.latency = (0.0, 0.01)
    stop = asyncio.Event()
    bursts = asyncio.create_task(_bursts(fake, random.Random(seed + 1), stop))
    try:
        needed = await asyncio.wait_for(
            asyncio.gather(
                *(_task(wc, fake, random.Random(seed * 100 + i), i) for i in range(TASKS))
            ),
            timeout=120,
        )
    finally:
        stop.set()
        burst_count = await bursts
        fake.faults.clear()
    injected = fake.faults.injected - injected_before
    sent = wc.quota.used - used_before
    assert burst_count >= 1 and injected > 0, "the faults never fired"
    assert fake.max_in_flight <= CAP and wc.throttle.peak_in_flight <= CAP
    assert fake.max_in_flight >= CAP // 2, "the tasks never overlapped"
    assert wc.throttle.in_flight == 0 and fake.in_flight == 0
    # Every request the server saw went through the client's budget, and no more did.
    assert sent == fake.request_count
    assert wc.quota.used <= LIMIT and fake.requests_today(fake.token) == wc.quota.used
    # Apart from the attempts a fault spoiled, exactly the needed requests were sent.
    assert fake.request_count - injected == sum(needed)


async def test_fifty_tasks_share_one_client_through_faults() -> None:
    unhandled: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    async with (
        FakeWhatConverts(leads=8_000, seed=11, start=START, end=END, daily_limit=LIMIT) as fake,
        WhatConverts(
            fake.token,
            fake.secret,
            base_url=fake.url,
            max_concurrency=CAP,
            # Retry-After: 0 waits the backoff, often into the same burst.
            max_retries=40,
            daily_limit=LIMIT,
            # Backoff steps short enough that the last task standing gets through the
            # bursts faster than they are injected (each 0.05-0.2 s, of 2-6 429s).
            retry_policy=RetryPolicy(base_wait=0.005, max_wait=0.02),
        ) as wc,
    ):
        deadline = time.monotonic() + SOAK_SECONDS
        rounds = 0
        while rounds == 0 or time.monotonic() < deadline:
            await _round(fake, wc, seed=rounds + 1)
            rounds += 1
    # Nothing left behind: no unclosed session, no exception nobody retrieved.
    gc.collect()
    await asyncio.sleep(0)
    gc.collect()
    assert not unhandled, unhandled
