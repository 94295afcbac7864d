"""Quota efficiency: requests a 9-year backfill costs, against the optimum.

In-process simulator (only requests are counted here, not time). The optimum is
Σ over the scan's 400-day windows of max(1, ⌈leads in window / 2,500⌉), with the windows
from ``whatconverts_async.windows.split_windows`` and the counts from the simulator's data.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone

from ._result import Result

__all__ = ["run"]

UTC = timezone.utc
PER_PAGE = 2_500
CASES = {
    # All nine years hold leads (the simulator's data covers 2017-2025).
    "dense": (datetime(2017, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)),
    # The first four years are empty: every empty window still costs one request.
    "sparse_start": (
        datetime(2013, 1, 1, tzinfo=UTC),
        datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC),
    ),
}


async def _measure(leads: int) -> dict[str, tuple[int, int, int, int]]:
    from whatconverts_async import WhatConverts, split_windows
    from whatconverts_async.testing import FakeWhatConverts

    out: dict[str, tuple[int, int, int, int]] = {}
    async with FakeWhatConverts(leads=leads, seed=0, daily_limit=10**9) as fake:
        for name, (start, end) in CASES.items():
            windows = split_windows(start, end)
            optimum = sum(
                max(1, math.ceil(fake.data.count_leads(w.start, w.end) / PER_PAGE)) for w in windows
            )
            fake.reset_records()
            async with WhatConverts(
                fake.token, fake.secret, base_url=fake.url, daily_limit=10**9
            ) as wc:
                count = 0
                async for _ in wc.leads.iterate(start_date=start, end_date=end):
                    count += 1
            out[name] = (fake.request_count, optimum, count, len(windows))
    return out


def run(quick: bool) -> Result:
    """Requests counted at the simulator vs the optimum, per case."""
    leads = 5_000 if quick else 200_000
    result = Result(
        "quota",
        "Quota efficiency: requests for a 9-year backfill vs the optimum",
        params={"leads": leads, "cases": {k: [str(v[0]), str(v[1])] for k, v in CASES.items()}},
    )
    for name, (requests, optimum, count, windows) in asyncio.run(_measure(leads)).items():
        result.add(f"{name}_requests", f"{name}: requests at the simulator", requests, "req")
        result.add(f"{name}_optimum", f"{name}: optimum ({windows} windows)", optimum, "req")
        result.add(f"{name}_leads", f"{name}: leads streamed", count, "leads")
        result.add(f"{name}_ratio", f"{name}: requests / optimum", requests / optimum, "x")
        result.target(f"{name}: requests == optimum", requests, "==", optimum)
    return result
