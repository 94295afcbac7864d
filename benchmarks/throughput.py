"""Throughput: 250,000 leads (100 full pages of 2,500) as typed ``Lead`` objects.

The simulator runs in its own process with every lead pre-rendered (so it serves pages
from memory), over one 366-day window of 2024. Each variant runs in a fresh interpreter:

* ``ceiling``: the plain aiohttp loop reading the bytes and decoding nothing: what the
  simulator and loopback can deliver (if a variant gets close, the simulator is the limit).
* ``baseline``: the plain aiohttp loop (hand-built Basic auth header, the same URLs as the
  library, pages one after another) decoding to dicts with the standard ``json`` module;
  ``baseline_orjson`` the same with orjson.
* ``library``: ``wc.leads.iterate`` producing ``Lead`` objects with ``prefetch=1`` and the
  default prefetch, without the ``[fast]`` extra (orjson and msgspec blocked: the client
  decodes each page with one ``json`` call) and with it (pages split by msgspec, decoded
  by orjson a slice at a time). Targets (issue
  15): >= 1.0x the baseline at prefetch=1 and >= 1.2x at the default without ``[fast]``;
  >= 1.2x and >= 1.5x with it.
"""

from __future__ import annotations

from typing import Any

from ._common import SimulatorProcess, median, run_worker
from ._result import Result

__all__ = ["run"]

START = "2024-01-01T00:00:00Z"
END = "2024-12-31T23:59:59Z"
PER_PAGE = 2_500
DEFAULT_PREFETCH = 4
# An installation without the [fast] extra: neither orjson nor msgspec.
WITHOUT_FAST = {"block_orjson": True, "block_msgspec": True}


def run(quick: bool) -> Result:
    """Measure leads/s of every variant (median of the repeats) and the ratios."""
    leads = 5_000 if quick else 250_000
    repeats = 1 if quick else 3
    pages = leads // PER_PAGE
    result = Result(
        "throughput",
        "Throughput: streaming leads, library vs plain aiohttp + json",
        params={"leads": leads, "pages": pages, "per_page": PER_PAGE, "repeats": repeats},
    )
    variants: dict[str, dict[str, Any]] = {
        "ceiling": {"task": "fetch", "decoder": "none", "pages": [pages]},
        "baseline": {"task": "fetch", "decoder": "json"},
        "baseline_orjson": {"task": "fetch", "decoder": "orjson"},
        "library_prefetch1_json": {"task": "library", "prefetch": 1, **WITHOUT_FAST},
        "library_default_json": {"task": "library", "prefetch": DEFAULT_PREFETCH, **WITHOUT_FAST},
        "library_prefetch1_orjson": {"task": "library", "prefetch": 1},
        "library_default_orjson": {"task": "library", "prefetch": DEFAULT_PREFETCH},
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    with SimulatorProcess(
        leads=leads, start="2024-01-01", end="2025-01-01", cache=leads + 1, warm=True
    ) as sim:
        common = {
            **sim.client,
            "windows": [[START, END]],
            "per_page": PER_PAGE,
            "start": START,
            "end": END,
        }
        for _ in range(repeats):
            # Interleaved, so a slow moment of the machine does not hit one variant only.
            for name, spec in variants.items():
                out = run_worker({**common, **spec})
                if out["leads"] != leads:
                    raise AssertionError(f"{name}: {out['leads']} leads, expected {leads}")
                if spec["task"] == "library":
                    want = "json" if spec.get("block_orjson") else "orjson"
                    split = "none" if spec.get("block_msgspec") else "msgspec"
                    if (
                        out["decoder"] != want
                        or out["splitter"] != split
                        or not out["typed"]
                        or out["requests"] != pages
                    ):
                        raise AssertionError(f"{name}: unexpected run {out}")
                rates[name].append(out["leads"] / out["seconds"])
    rate = {name: median(values) for name, values in rates.items()}
    labels = {
        "ceiling": "ceiling: fetch only, no decoding",
        "baseline": "baseline: aiohttp + json, sequential",
        "baseline_orjson": "baseline with orjson",
        "library_prefetch1_json": "library prefetch=1, without [fast] (json)",
        "library_default_json": f"library prefetch={DEFAULT_PREFETCH} (default), without [fast]",
        "library_prefetch1_orjson": "library prefetch=1, [fast] (orjson + msgspec)",
        "library_default_orjson": f"library prefetch={DEFAULT_PREFETCH} (default), [fast]",
    }
    for name, label in labels.items():
        result.add(f"{name}_leads_per_s", label, rate[name], "leads/s")
    base = rate["baseline"]
    result.add("baseline_vs_ceiling", "baseline / ceiling", base / rate["ceiling"], "x")
    for name in labels:
        if name.startswith("library"):
            ratio = rate[name] / base
            result.add(f"{name}_ratio", f"{labels[name]} / baseline", ratio, "x")
            # The targets: >= 1.0x / 1.2x without [fast], >= 1.2x / 1.5x with it.
            fast = "orjson" in name
            goal = (1.2 if fast else 1.0) if "prefetch1" in name else (1.5 if fast else 1.2)
            result.target(f"{name} vs baseline", ratio, ">=", goal)
    result.add(
        "library_default_orjson_vs_baseline_orjson",
        "library default, orjson / baseline with orjson",
        rate["library_default_orjson"] / rate["baseline_orjson"],
        "x",
    )
    return result
