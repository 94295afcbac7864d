"""Export: ``whatconverts export leads --demo`` end to end, as a subprocess.

The demo exports 200,000 leads (2019-2025) from an in-process simulator to JSONL, with
an fsync and an atomic checkpoint after every page. The baseline is the same job done by
hand in one process: the same simulator in-process, the plain aiohttp loop with ``json``
over the same windows, and ``json.dumps`` per line (no fsync, no checkpoint). Both are
timed as whole processes (start-up and data generation included); peak RSS comes from
``os.wait4`` for that very process.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

from ._common import run_measured, run_worker
from ._result import Result

__all__ = ["run"]

MB = 1024 * 1024


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def run(quick: bool) -> Result:
    """Leads/s and peak RSS of the export and of the baseline, and their ratio."""
    leads = 5_000 if quick else 200_000
    result = Result(
        "export",
        f"Export: whatconverts export leads --demo ({leads:,} leads to JSONL)",
        params={"leads": leads, "start_date": "2019-01-01"},
    )
    with tempfile.TemporaryDirectory(prefix="wc-bench-") as tmp:
        out = Path(tmp) / "leads.jsonl"
        args = [
            sys.executable,
            "-m",
            "whatconverts_async",
            "export",
            "leads",
            "--demo",
            "--demo-leads",
            str(leads),
            "--start-date",
            "2019-01-01",
            "--out",
            str(out),
            "--force",
            "--quiet",
        ]
        _, wall, peak = run_measured(args, timeout=1800)
        written = _lines(out)
        base_out = Path(tmp) / "baseline.jsonl"
        base = run_worker(
            {
                "task": "export_baseline",
                "leads": leads,
                "start": "2019-01-01",
                "out": str(base_out),
            },
            timeout=1800,
        )
        base_written = _lines(base_out)
    if written != leads or base_written != leads:
        raise AssertionError(f"export wrote {written}, baseline {base_written}, expected {leads}")
    rate = result.add(
        "export_leads_per_s", "export: leads/s (whole process)", leads / wall, "leads/s"
    )
    result.add("export_wall_s", "export: wall time", wall, "s")
    result.add("export_peak_rss_mb", "export: peak RSS", peak / MB, "MB")
    base_wall = base["process_wall_s"]
    base_rate = result.add(
        "baseline_leads_per_s", "baseline: leads/s (whole process)", leads / base_wall, "leads/s"
    )
    result.add("baseline_wall_s", "baseline: wall time", base_wall, "s")
    result.add(
        "baseline_peak_rss_mb", "baseline: peak RSS", base["process_peak_rss_bytes"] / MB, "MB"
    )
    result.add("ratio", "export / baseline (leads/s)", rate / base_rate, "x")
    # The targets: >= 1.0x the hand-written export, >= 1.5x with the [fast] extra.
    fast = all(importlib.util.find_spec(name) is not None for name in ("orjson", "msgspec"))
    label = "export / baseline" + (" ([fast] installed)" if fast else " (without [fast])")
    result.target(label, rate / base_rate, ">=", 1.5 if fast else 1.0)
    return result
