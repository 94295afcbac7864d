"""Event-loop stalls: the longest time a scan of 2,500-lead pages holds the loop.

The simulator runs in its own process; this process scans with ``wc.leads.iterate``
(pages of 2,500, the default prefetch) while a ticker task asks for a 1 ms sleep over and
over. A stall is how much later than asked the ticker wakes: the time some step of the
scan kept the loop. Reported: the longest and the 99th percentile (target: longest at
most 25 ms), the same in CPU time of this thread (what the loop really spent, without the
time a busy machine gave other processes), the collector's longest pass, and, for the
same pages in this process, the CPU time of the steps that run per page on their own:
the longest step of the transport's decode (``_json.loads_steps``: slices with msgspec's
splitter, one call without msgspec) against decoding the page in one call, and one slice
of structuring (``convert.PAGE_SLICE``) against structuring the whole page in one go.
Run it with and without msgspec (``python -m benchmarks.stall --no-msgspec``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

from ._common import SimulatorProcess
from ._result import Result

__all__ = ["run"]

START = "2024-01-01T00:00:00Z"
END = "2024-12-31T23:59:59Z"
PER_PAGE = 2_500
TICK = 0.001
CLOCK = time.process_time  # the per-page steps: CPU the loop is held, whatever the load


async def _scan_with_ticker(sim: SimulatorProcess) -> tuple[int, list[float], list[float]]:
    """Scan with a ticker; returns the count, the wall-time gaps and the CPU-time gaps.

    A CPU gap is the CPU time this thread used between the ticker asking for its sleep and
    waking: what the scan's steps (and the garbage collector) really held the loop for,
    without the time the OS gave other processes on a busy machine."""
    from whatconverts_async import WhatConverts

    gaps: list[float] = []
    cpu_gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            asked, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(TICK)
            gaps.append(max(0.0, time.perf_counter() - asked - TICK))
            cpu_gaps.append(time.thread_time() - cpu)

    async with WhatConverts(sim.token, sim.secret, base_url=sim.url, daily_limit=10**9) as wc:
        task = asyncio.ensure_future(ticker())
        count = 0
        try:
            async for _lead in wc.leads.iterate(start_date=START, end_date=END, per_page=PER_PAGE):
                count += 1
        finally:
            done.set()
            await task
    return count, gaps, cpu_gaps


class _Collections:
    """The cyclic garbage collector's passes during a block: the longest, and how many
    full (generation 2) passes."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.full = 0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        self.longest = max(self.longest, time.perf_counter() - self._began)
        self.full += info.get("generation") == 2

    def measure_one_if_none(self) -> bool:
        """When no pass ran (a small scan may not start one, now that a lead is one object
        for the collector), time one full pass at this point instead; whether it did."""
        if self.longest:
            return False
        gc.collect()
        return True

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


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


def _longest_step(steps: Any) -> tuple[Any, float]:
    longest = 0.0
    while True:
        began = CLOCK()
        try:
            next(steps)
        except StopIteration as done:
            return done.value, max(longest, CLOCK() - began)
        longest = max(longest, CLOCK() - began)


def _steps_ms(body: bytes, rounds: int) -> dict[str, float]:
    from whatconverts_async import _json
    from whatconverts_async.convert import lead_page_steps, structure_page, structure_page_steps
    from whatconverts_async.models import Lead

    names = ("decode", "decode_step", "slice", "whole", "bytes_step", "bytes_whole")
    best = {name: float("inf") for name in names}
    for _ in range(rounds):
        if _json.msgspec is not None:
            gc.collect()
            began = CLOCK()
            with no_gc():
                page, longest = _longest_step(lead_page_steps(body))
            if page is None:
                raise AssertionError("the simulator's page was not read from its bytes")
            best["bytes_whole"] = min(best["bytes_whole"], CLOCK() - began)
            best["bytes_step"] = min(best["bytes_step"], longest)
            del page
        began = CLOCK()
        payload: Any = _json.loads(body)
        best["decode"] = min(best["decode"], CLOCK() - began)
        gc.collect()
        with no_gc():
            best["decode_step"] = min(
                best["decode_step"], _longest_step(_json.loads_steps(body))[1]
            )
        _, longest = _longest_step(structure_page_steps(payload, Lead, consume=True))
        best["slice"] = min(best["slice"], longest)
        payload = _json.loads(body)
        gc.collect()
        began = CLOCK()
        structure_page(payload, Lead, consume=True)
        best["whole"] = min(best["whole"], CLOCK() - began)
    return {name: value * 1000 for name, value in best.items()}


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The collector paused, as the transport pauses it for each step."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _splitter() -> str:
    from whatconverts_async import _json

    return _json.splitter_name


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
        with _Collections() as collections:
            count, gaps, cpu_gaps = asyncio.run(_scan_with_ticker(sim))
            forced = collections.measure_one_if_none()
        # The same scan with the objects alive before it frozen (gc.freeze(), what a
        # service can do after start-up): full collector passes then walk only what the
        # scan itself keeps alive, which shows how much of a stall is the process's heap.
        gc.collect()
        gc.freeze()
        try:
            with _Collections() as frozen:
                frozen_count, _, frozen_cpu_gaps = asyncio.run(_scan_with_ticker(sim))
                frozen_forced = frozen.measure_one_if_none()
        finally:
            gc.unfreeze()
        if frozen_count != leads:
            raise AssertionError(f"scan gave {frozen_count} leads, expected {leads}")
        if count != leads:
            raise AssertionError(f"scan gave {count} leads, expected {leads}")
        body = asyncio.run(_raw_page(sim))
    gaps.sort()
    longest = gaps[-1] * 1000
    p99 = gaps[int(len(gaps) * 0.99) - 1] * 1000 if len(gaps) >= 100 else longest
    result.add("longest_stall_ms", "longest stall during the scan", longest, "ms")
    result.add("p99_stall_ms", "99th percentile stall", p99, "ms")
    result.add("median_stall_ms", "median stall", statistics.median(gaps) * 1000, "ms")
    cpu_longest = max(cpu_gaps) * 1000
    result.add(
        "longest_cpu_stall_ms", "longest stall in CPU time of this thread", cpu_longest, "ms"
    )
    result.add("longest_gc_ms", "longest garbage-collector pass", collections.longest * 1000, "ms")
    result.add(
        "frozen_cpu_stall_ms",
        "longest stall, CPU time, heap frozen before the scan",
        max(frozen_cpu_gaps) * 1000,
        "ms",
    )
    result.add(
        "frozen_gc_ms", "longest collector pass, heap frozen before", frozen.longest * 1000, "ms"
    )
    result.target("longest event-loop stall", longest, "<=", 25)
    result.target("longest event-loop stall, CPU time", cpu_longest, "<=", 25)
    steps = _steps_ms(body, 2 if quick else 5)
    size = len(body) / 1e6
    result.add(
        "decode_ms", f"decode one page ({size:.1f} MB) in one call, CPU", steps["decode"], "ms"
    )
    result.add(
        "decode_step_ms",
        f"longest step of the transport's decode (splitter: {_splitter()}), CPU",
        steps["decode_step"],
        "ms",
    )
    result.add("slice_ms", "longest slice of structuring (now), CPU", steps["slice"], "ms")
    if _splitter() == "msgspec":
        result.add(
            "bytes_step_ms",
            "longest step of reading a page from its bytes (lead_page_steps), CPU",
            steps["bytes_step"],
            "ms",
        )
        result.add(
            "bytes_page_ms",
            "reading a page from its bytes, all steps, CPU",
            steps["bytes_whole"],
            "ms",
        )
    result.add("whole_page_ms", "structuring the page in one go, CPU", steps["whole"], "ms")
    result.notes.append(f"full (generation 2) collector passes during the scan: {collections.full}")
    for name, was_forced in (("scan", forced), ("scan with the heap frozen", frozen_forced)):
        if was_forced:
            result.notes.append(
                f"no collector pass ran during the {name}: its figure is one full pass "
                "timed right after it"
            )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    result.add("load_average", "1-minute load average at the end", load, "")
    result.notes.append(
        "stalls are wall time (they include time the OS gave other processes); the CPU "
        "stall is this thread's CPU time between two ticks (the loop's own work, the "
        "collector's passes included); the steps are CPU time. The transport decodes a "
        "large page a slice at a time (_json.loads_steps)"
    )
    return result


if __name__ == "__main__":  # pragma: no cover
    import sys

    if "--no-msgspec" in sys.argv[1:]:
        sys.modules["msgspec"] = None  # type: ignore[assignment]
    outcome = run("--quick" in sys.argv[1:])
    for row in outcome.rows:
        print(f"{row.label:45} {row.value:10,.2f} {row.unit:8} {row.note}")
    for target in outcome.targets:
        print(
            f"target {target.name}: {target.value:.3g} {target.op} {target.limit} -> {target.met}"
        )
    for note in outcome.notes:
        print(note)
