"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAMES] [--output PATH]``.

Prints a table and writes the figures to ``benchmarks/results.json`` (or ``--output``).
``--quick`` uses tiny sizes and proves every benchmark still works; its timings mean
nothing and nothing asserts them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._result import Result

__all__ = ["BENCHMARKS", "main", "run_all"]

BENCHMARKS = (
    "throughput",
    "latency",
    "memory",
    "quota",
    "throttle",
    "export",
    "mirror",
    "records",
    "stall",
)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import orjson

        orjson_version: str | None = orjson.__version__
    except ImportError:
        orjson_version = None
    import aiohttp

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "aiohttp": aiohttp.__version__,
        "orjson": orjson_version,
    }


def _format(value: float, unit: str) -> str:
    if unit in ("req", "leads") or (unit == "leads/s" and value >= 100):
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def table(results: Sequence[Result]) -> str:
    """The results as a plain-text table, then the targets."""
    lines: list[str] = []
    width = max((len(r.label) for res in results for r in res.rows), default=20)
    for res in results:
        lines.append("")
        lines.append(res.title)
        lines.append("-" * len(res.title))
        for row in res.rows:
            lines.append(f"  {row.label:<{width}}  {_format(row.value, row.unit):>12} {row.unit}")
        for note in res.notes:
            lines.append(f"  note: {note}")
    lines.append("")
    lines.append("Targets")
    lines.append("-------")
    for res in results:
        for t in res.targets:
            status = "met" if t.met else "MISSED"
            lines.append(
                f"  [{status:>6}] {res.name}: {t.name}: {t.value:,.3g} {t.op} {t.limit:,.3g}"
            )
    return "\n".join(lines)


def run_all(
    *,
    quick: bool,
    output: Path | None = DEFAULT_OUTPUT,
    only: Sequence[str] | None = None,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run the benchmarks (all, or ``only``), write ``output`` and return its content."""
    names = list(only) if only else list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s): {', '.join(unknown)}")
    started = datetime.now(timezone.utc)
    results: list[Result] = []
    seconds: dict[str, float] = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        if echo is not None:
            echo(f"running {name} ...")
        t0 = time.perf_counter()
        result: Result = module.run(quick)
        seconds[name] = time.perf_counter() - t0
        results.append(result)
    data: dict[str, Any] = {
        "meta": {
            "mode": "quick" if quick else "full",
            "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(),
            "seconds": seconds,
        },
        "benchmarks": {res.name: res.to_json() for res in results},
        "targets_missed": [
            f"{res.name}: {t.name}" for res in results for t in res.targets if not t.met
        ],
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    if echo is not None:
        echo(table(results))
        if output is not None:
            echo(f"\nwritten to {output}")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 even if targets are missed)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}"
    )
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    try:
        run_all(quick=args.quick, output=args.output, only=only)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
