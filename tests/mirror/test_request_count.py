"""``report.requests`` counts the mirror's own requests, not those other tasks make on the
same client meanwhile (the simulator records every request; they differ by page size)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW

MIRROR_PAGE = 20  # the mirror's leads_per_page; the other task reads pages of 7
OTHER_PAGE = 7


def _count(fake: FakeWhatConverts, since: int, per_page: int) -> int:
    return sum(
        1
        for r in fake.requests[since:]
        if r.path.rstrip("/").endswith("/leads") and r.params.get("leads_per_page") == str(per_page)
    )


async def _reader(wc: WhatConverts, stop: asyncio.Event) -> int:
    """Read leads in pages of 7 until told to stop; the number of leads read."""
    read = 0
    while not stop.is_set():
        async for _ in wc.leads.iterate(
            start_date=NOW - timedelta(days=30),
            per_page=OTHER_PAGE,
            max_items=3 * OTHER_PAGE,
            prefetch=1,  # no page asked for ahead and left unread when it stops
        ):
            read += 1
    return read


async def test_report_counts_only_the_mirrors_requests(
    db_url: str, fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    fake.faults.latency = 0.005  # both tasks' requests interleave on the wire
    async with LeadMirror(wc, db_url, page_size=MIRROR_PAGE, prefetch=2) as mirror:
        for run in ("backfill", "refresh"):
            since = len(fake.requests)
            sent_before = wc.throttle.requests_sent
            stop = asyncio.Event()
            other = asyncio.ensure_future(_reader(wc, stop))
            await asyncio.sleep(0.02)  # the reader is under way before the mirror starts
            try:
                if run == "backfill":
                    report = await mirror.backfill(start_date=NOW - timedelta(days=200))
                else:
                    report = await mirror.refresh(force=True)
            finally:
                stop.set()
                assert await other > 0
            mirror_requests = _count(fake, since, MIRROR_PAGE)
            other_requests = _count(fake, since, OTHER_PAGE)
            assert mirror_requests >= (30 if run == "backfill" else 2)
            assert other_requests > 0
            # Every request on the wire is one of the two tasks' (none is unaccounted for).
            assert len(fake.requests) - since == mirror_requests + other_requests
            assert wc.throttle.requests_sent - sent_before == mirror_requests + other_requests
            assert report.requests == mirror_requests, run


async def test_count_requests_counts_the_blocks_own_and_its_tasks(
    fake: FakeWhatConverts, wc: WhatConverts
) -> None:
    """Nested blocks each count their own; a task started inside counts, one started
    outside does not; a client derived with with_options counts with its parent."""
    ids = fake.data.lead_ids()[:6]
    outside_started = asyncio.Event()
    release = asyncio.Event()

    async def outside() -> None:
        outside_started.set()
        await release.wait()
        for lead_id in ids[:3]:
            await wc.leads.get(lead_id)

    other = asyncio.ensure_future(outside())
    await outside_started.wait()
    with wc.count_requests() as outer:
        await wc.leads.get(ids[0])
        with wc.count_requests() as inner:
            release.set()
            inside = asyncio.ensure_future(wc.leads.get(ids[1]))
            await wc.with_options(timeout=30).leads.get(ids[2])
            await inside
        await other
    assert (inner.sent, outer.sent) == (2, 3)
    assert repr(inner) == "RequestTally(sent=2)"


async def test_count_requests_gives_back_a_request_that_never_left() -> None:
    """A refused connection takes no budget (refunded): it is not counted either."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    async with WhatConverts(
        "token", "secret", base_url=f"http://127.0.0.1:{port}/api/v1/", max_retries=0
    ) as wc:
        with wc.count_requests() as tally:
            try:
                await wc.leads.get(1)
            except Exception as exc:
                assert not getattr(exc, "request_sent", True), exc
            else:
                raise AssertionError("a closed port answered")
        assert tally.sent == 0 and wc.throttle.requests_sent == 0
