"""Memory: peak RSS above the starting RSS while streaming 100,000 vs 1,000,000 leads.

Each size gets its own simulator process (leads spread over 2017-2025, nine 400-day
windows) and its own client process, which resets its peak (``/proc/self/clear_refs``)
once the client is open, streams every lead with the default prefetch and reads
``VmHWM`` at the end: the growth is VmHWM minus the RSS at the start.
"""

from __future__ import annotations

from ._common import SimulatorProcess, run_worker
from ._result import Result

__all__ = ["run"]

START = "2017-01-01T00:00:00Z"
END = "2025-12-31T23:59:59Z"
MB = 1024 * 1024
LIMIT_MB = 60.0  # issue 15: peak above start <= 60 MB at 1,000,000 leads (150 before)


def run(quick: bool) -> Result:
    """Peak RSS growth of a small and a ten times larger scan, and their ratio."""
    sizes = (10_000, 20_000) if quick else (100_000, 1_000_000)
    result = Result(
        "memory",
        f"Memory: peak RSS growth streaming {sizes[0]:,} vs {sizes[1]:,} leads",
        params={"sizes": list(sizes), "start": START, "end": END, "prefetch": 4},
    )
    growth: dict[int, float] = {}
    for size in sizes:
        with SimulatorProcess(leads=size) as sim:
            out = run_worker(
                {**sim.client, "task": "library", "start": START, "end": END, "prefetch": 4},
                timeout=1800,
            )
        if out["leads"] != size:
            raise AssertionError(f"{out['leads']} leads streamed, expected {size}")
        start_mb = out["start_rss_kb"] / 1024
        peak_mb = out["peak_rss_kb"] / 1024
        growth[size] = peak_mb - start_mb
        result.add(f"start_rss_mb_{size}", f"{size:,} leads: RSS at start", start_mb, "MB")
        result.add(f"peak_rss_mb_{size}", f"{size:,} leads: peak RSS", peak_mb, "MB")
        result.add(f"growth_mb_{size}", f"{size:,} leads: peak above start", growth[size], "MB")
        result.add(
            f"leads_per_s_{size}", f"{size:,} leads: rate", out["leads"] / out["seconds"], "leads/s"
        )
        result.target(f"peak above start, {size:,} leads (MB)", growth[size], "<=", LIMIT_MB)
        if not out["peak_reset"]:
            result.notes.append("VmHWM could not be reset: the peak includes start-up")
    small, large = sizes
    ratio = growth[large] / growth[small]
    result.add("growth_ratio", f"growth {large:,} / growth {small:,}", ratio, "x")
    result.target("growth ratio (flat)", ratio, "<=", 1.2)
    return result
