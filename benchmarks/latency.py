"""Latency-bound scans: 40 pages at 100 ms per request, prefetch 1, 4 and 8.

The simulator (own process) adds ``--latency`` to every request; the scan is one window
of 10,000 leads read 250 per page. The ideal wall time is pages × latency / prefetch;
efficiency is ideal / measured (1.0 = the ideal speedup).

Each window's first page is read alone (its ``total_pages`` says how many more to ask
for), so the best this design can do is (1 + ⌈(pages - 1) / prefetch⌉) × latency; that
"structural" bound is reported too.

The same 40 pages are also read 25 leads per page: the client then spends almost no CPU
per page, which separates the scheduling of the prefetch from the cost of turning a
page into ``Lead`` objects (no target; a diagnostic).
"""

from __future__ import annotations

import asyncio
import math
import time

from ._common import SimulatorProcess
from ._result import Result

__all__ = ["run"]

START = "2024-01-01T00:00:00Z"
END = "2024-12-31T23:59:59Z"
PER_PAGE = 250
SMALL_PAGE = 25


async def _scan(
    url: str, token: str, secret: str, prefetch: int, per_page: int
) -> tuple[float, int, int]:
    from whatconverts_async import WhatConverts

    async with WhatConverts(token, secret, base_url=url, daily_limit=10**9) as wc:
        started = time.perf_counter()
        count = 0
        async for _ in wc.leads.iterate(
            start_date=START, end_date=END, per_page=per_page, prefetch=prefetch
        ):
            count += 1
        return time.perf_counter() - started, count, wc.throttle.requests_sent


def _measure(
    result: Result, *, pages: int, latency: float, per_page: int, prefix: str, targets: bool
) -> None:
    leads = pages * per_page
    prefetches = (1, 4, 8)
    walls: dict[int, float] = {}
    with SimulatorProcess(
        leads=leads,
        start="2024-01-01",
        end="2025-01-01",
        latency=latency,
        cache=leads + 1,
        warm=True,
    ) as sim:
        for prefetch in prefetches:
            wall, count, requests = asyncio.run(
                _scan(sim.url, sim.token, sim.secret, prefetch, per_page)
            )
            if count != leads or requests != pages:
                raise AssertionError(f"prefetch {prefetch}: {count} leads in {requests} requests")
            walls[prefetch] = wall
    tag = f"{per_page}/page"
    for prefetch in prefetches:
        ideal = pages * latency / prefetch
        structural = (1 + math.ceil((pages - 1) / prefetch)) * latency
        wall = walls[prefetch]
        key = f"{prefix}prefetch{prefetch}"
        result.add(f"{key}_wall_s", f"{tag}, prefetch={prefetch}: wall time", wall, "s")
        result.add(f"{key}_ideal_s", f"{tag}, prefetch={prefetch}: ideal", ideal, "s")
        result.add(
            f"{key}_structural_s",
            f"{tag}, prefetch={prefetch}: first page alone, then {prefetch} at a time",
            structural,
            "s",
        )
        efficiency = ideal / wall
        result.add(
            f"{key}_efficiency", f"{tag}, prefetch={prefetch}: ideal / measured", efficiency, "x"
        )
        result.add(
            f"{key}_speedup",
            f"{tag}, prefetch={prefetch}: speedup over prefetch=1",
            walls[1] / wall,
            "x",
        )
        if targets:
            result.target(f"prefetch={prefetch} speedup vs ideal", efficiency, ">=", 0.8)


def run(quick: bool) -> Result:
    """Wall time of the scan per prefetch, against the ideal."""
    pages = 5 if quick else 40
    latency = 0.02 if quick else 0.1
    result = Result(
        "latency",
        f"Latency-bound scan: {pages} pages at {latency * 1000:g} ms per request",
        params={
            "pages": pages,
            "latency_s": latency,
            "per_page": PER_PAGE,
            "small_per_page": SMALL_PAGE,
        },
    )
    _measure(result, pages=pages, latency=latency, per_page=PER_PAGE, prefix="", targets=True)
    _measure(
        result, pages=pages, latency=latency, per_page=SMALL_PAGE, prefix="small_", targets=False
    )
    return result
