"""A refresh costs what its plan says, whatever the shape of the lead rate.

The plan used to cost a widened window at the rate of the last 35 days: with no recent
leads it widened the hourly tier to 400 days and priced it at one request, while each pass
read every lead in those 400 days (and one more window for the 400th day's last second).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from whatconverts_async import WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror.plan import LeadCounts, RefreshPlan, Tier
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW, MovableClock

SHAPES = {
    # No lead in the last two months, a busy year before: the old plan said 1 per pass.
    "none recent": dict(leads=9000, start=NOW - timedelta(days=393), end=NOW - timedelta(days=59)),
    # A few leads a week: the widened window holds them all in one page.
    "sparse": dict(leads=300, start=NOW - timedelta(days=600), end=NOW),
    # Many a day: the widened window is short, the 35-day tier several pages.
    "dense": dict(leads=9000, start=NOW - timedelta(days=60), end=NOW),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_refresh_requests_equal_the_plan(shape: str, db_url: str) -> None:
    spec = SHAPES[shape]
    clock = MovableClock(NOW)
    async with (
        FakeWhatConverts(seed=11, **spec) as fake,  # type: ignore[arg-type]
        WhatConverts(fake.token, fake.secret, base_url=fake.url, max_retries=0) as wc,
        LeadMirror(wc, db_url, clock=clock) as mirror,
    ):
        await mirror.backfill(start_date=NOW - timedelta(days=700))
        for _ in range(2):
            clock.at += timedelta(hours=1)
            status = await mirror.status()
            widest = max((c for c in status.plan if c.covered_by is None), key=lambda c: c.days)
            served = fake.request_count
            report = await mirror.refresh(force=True)
            scan_requests = report.requests - report.confirm_requests
            assert report.planned_requests == widest.requests_per_pass, shape
            assert scan_requests == report.planned_requests, shape
            assert fake.request_count - served == report.requests, shape
            # The formula by hand: leads in the window read, per page of 2,500.
            window_leads = report.unchanged + report.updated + report.inserted
            assert scan_requests == max(1, -(-window_leads // 2500)), shape
        if shape == "none recent":
            # Widened only as far as the leads fit in one page, not to all 400 days.
            assert 59 < widest.days < 400 and widest.requests_per_pass == 1
            assert "reads 400" not in status.render()


def test_widening_stops_where_one_page_ends() -> None:
    plan = RefreshPlan()
    quiet = LeadCounts((0,) * 60 + (100,) * 340)
    hot = plan.costs(0.0, quiet)[0]
    # 0.8 · 2,500 = 2,000 leads fit: the 20 busy days after 60 quiet ones.
    assert (hot.days, hot.requests_per_pass, hot.requests_per_day) == (80, 1, 24.0)
    # Without counts a rate of 0 widens to one whole API window, one request.
    assert plan.costs(0.0)[0].days == 400
    # 400 days are one API window; 401 are two.
    assert plan.pass_requests(400, None, LeadCounts((1,) * 400)) == 1
    assert plan.pass_requests(401, None, LeadCounts((1,) * 401)) == 2
    wide = RefreshPlan(tiers=(Tier("year", 800, timedelta(days=1)),))
    counts = LeadCounts((3000,) + (0,) * 399 + (10,) * 400)
    # Newest window: 3,000 leads (2 pages); the older one 4,000 leads (2 pages).
    assert wide.pass_requests(800, None, counts) == 2 + 2
    assert RefreshPlan(page_size=1000).pass_requests(2, None, LeadCounts((1500, 600))) == 3
