"""Event-loop stalls: the longest time a scan of 2,500-lead pages holds the loop.

The simulator runs in its own process; this process scans with ``wc.leads.iterate``
(pages of 2,500, the default prefetch) while a ticker task asks for a 1 ms sleep over and
over. A stall is how much later than asked the ticker wakes: the time some step of the
scan kept the loop. Reported: the longest and the 99th percentile (target: longest at
most 25 ms), and, for the same pages in this process, the CPU time of the two steps that
run per page on their own: decoding the body (the transport's one decoder) and
structuring one slice of leads (``convert.PAGE_SLICE``), against structuring the whole
page in one go as before.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import statistics
import time
from typing import Any

from ._common import SimulatorProcess
from ._result import Result

__all__ = ["run"]

START = "2024-01-01T00:00:00Z"
END = "2024-12-31T23:59:59Z"
PER_PAGE = 2_500
TICK = 0.001
CLOCK = time.process_time  # the per-page steps: CPU the loop is held, whatever the load


async def _scan_with_ticker(sim: SimulatorProcess) -> tuple[int, list[float]]:
    from whatconverts_async import WhatConverts

    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(TICK)
            gaps.append(max(0.0, time.perf_counter() - asked - TICK))

    async with WhatConverts(sim.token, sim.secret, base_url=sim.url, daily_limit=10**9) as wc:
        task = asyncio.ensure_future(ticker())
        count = 0
        try:
            async for _lead in wc.leads.iterate(start_date=START, end_date=END, per_page=PER_PAGE):
                count += 1
        finally:
            done.set()
            await task
    return count, gaps


async def _raw_page(sim: SimulatorProcess) -> bytes:
    import aiohttp

    auth = base64.b64encode(f"{sim.token}:{sim.secret}".encode()).decode("ascii")
    params = {
        "start_date": START,
        "end_date": END,
        "leads_per_page": str(PER_PAGE),
        "page_number": "1",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            sim.url + "leads", params=params, headers={"Authorization": f"Basic {auth}"}
        ) as response,
    ):
        return await response.read()


def _steps_ms(body: bytes, rounds: int) -> dict[str, float]:
    from whatconverts_async import _json
    from whatconverts_async.convert import structure_page, structure_page_steps
    from whatconverts_async.models import Lead

    best = {"decode": float("inf"), "slice": float("inf"), "whole": float("inf")}
    for _ in range(rounds):
        began = CLOCK()
        payload: Any = _json.loads(body)
        best["decode"] = min(best["decode"], CLOCK() - began)
        steps = structure_page_steps(payload, Lead, consume=True)
        longest = 0.0
        while True:
            began = CLOCK()
            try:
                next(steps)
            except StopIteration:
                longest = max(longest, CLOCK() - began)
                break
            longest = max(longest, CLOCK() - began)
        best["slice"] = min(best["slice"], longest)
        payload = _json.loads(body)
        gc.collect()
        began = CLOCK()
        structure_page(payload, Lead, consume=True)
        best["whole"] = min(best["whole"], CLOCK() - began)
    return {name: value * 1000 for name, value in best.items()}


def run(quick: bool) -> Result:
    """The longest event-loop stall of a scan, and the per-page steps that make it."""
    leads = 5_000 if quick else 50_000
    result = Result(
        "stall",
        "Event loop: longest stall while scanning 2,500-lead pages",
        params={"leads": leads, "per_page": PER_PAGE, "tick_ms": TICK * 1000},
    )
    with SimulatorProcess(
        leads=leads, start="2024-01-01", end="2025-01-01", cache=leads + 1, warm=True
    ) as sim:
        count, gaps = asyncio.run(_scan_with_ticker(sim))
        if count != leads:
            raise AssertionError(f"scan gave {count} leads, expected {leads}")
        body = asyncio.run(_raw_page(sim))
    gaps.sort()
    longest = gaps[-1] * 1000
    p99 = gaps[int(len(gaps) * 0.99) - 1] * 1000 if len(gaps) >= 100 else longest
    result.add("longest_stall_ms", "longest stall during the scan", longest, "ms")
    result.add("p99_stall_ms", "99th percentile stall", p99, "ms")
    result.add("median_stall_ms", "median stall", statistics.median(gaps) * 1000, "ms")
    result.target("longest event-loop stall", longest, "<=", 25)
    steps = _steps_ms(body, 2 if quick else 5)
    size = len(body) / 1e6
    result.add("decode_ms", f"decode one page ({size:.1f} MB), CPU", steps["decode"], "ms")
    result.add("slice_ms", "longest slice of structuring (now), CPU", steps["slice"], "ms")
    result.add("whole_page_ms", "structuring the page in one go, CPU", steps["whole"], "ms")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    result.add("load_average", "1-minute load average at the end", load, "")
    result.notes.append(
        "stalls are wall time (they include time the OS gave other processes); the steps "
        "are CPU time. Decoding a page is one call into the JSON decoder in the transport: "
        "the longest single step left when it exceeds the slices"
    )
    return result


if __name__ == "__main__":  # pragma: no cover
    import sys

    outcome = run("--quick" in sys.argv[1:])
    for row in outcome.rows:
        print(f"{row.label:45} {row.value:10,.2f} {row.unit:8} {row.note}")
    for target in outcome.targets:
        print(
            f"target {target.name}: {target.value:.3g} {target.op} {target.limit} -> {target.met}"
        )
    for note in outcome.notes:
        print(note)
