"""The benchmarks still run: ``python -m benchmarks --quick`` produces every figure.

Only the presence and sign of the figures are checked, never a timing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.__main__ import BENCHMARKS, main

EXPECTED_FIGURES: dict[str, tuple[str, ...]] = {
    "throughput": (
        "ceiling_leads_per_s",
        "baseline_leads_per_s",
        "baseline_orjson_leads_per_s",
        "library_prefetch1_json_leads_per_s",
        "library_default_json_leads_per_s",
        "library_prefetch1_orjson_leads_per_s",
        "library_default_orjson_leads_per_s",
        "library_prefetch1_json_ratio",
        "library_default_json_ratio",
        "library_prefetch1_orjson_ratio",
        "library_default_orjson_ratio",
    ),
    "latency": tuple(
        f"{prefix}prefetch{p}_{what}"
        for prefix in ("", "small_")
        for p in (1, 4, 8)
        for what in ("wall_s", "ideal_s", "efficiency", "speedup")
    ),
    "memory": ("growth_mb_10000", "growth_mb_20000", "growth_ratio", "peak_rss_mb_20000"),
    "quota": ("dense_requests", "dense_optimum", "sparse_start_requests", "sparse_start_optimum"),
    "throttle": ("bare_us", "throttle_no_spacing_us", "throttle_1ms_spacing_us"),
    "export": (
        "export_leads_per_s",
        "export_peak_rss_mb",
        "baseline_leads_per_s",
        "baseline_peak_rss_mb",
        "ratio",
    ),
    "mirror": (
        "stream_rate",
        "sqlite_rate_p1",
        "sqlite_ratio_p1",
        "sqlite_rate_p2",
        "sqlite_ratio_p2",
        "refresh_requests",
        "refresh_formula",
    ),
    "records": (
        "eager_build_us",
        "lazy_build_us",
        "eager_all_us",
        "lazy_all_us",
        "lazy_three_us",
        "lazy_all_vs_eager_all",
        "compact_bytes_per_id",
        "set_bytes_per_id",
    ),
    "stall": (
        "longest_stall_ms",
        "median_stall_ms",
        "longest_cpu_stall_ms",
        "longest_gc_ms",
        "frozen_cpu_stall_ms",
        "frozen_gc_ms",
        "decode_ms",
        "decode_step_ms",
        "slice_ms",
        "whole_page_ms",
    ),
}


# A difference of two timings may round to <= 0 (checked for finiteness only), and a
# quick scan may end before the collector runs a single pass (0 ms is then the truth).
MAY_BE_ZERO = {"overhead_us", "longest_gc_ms", "frozen_gc_ms"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    output: Path = tmp_path_factory.mktemp("bench") / "results.json"
    assert main(["--quick", "--output", str(output)]) == 0
    data: dict[str, object] = json.loads(output.read_text())
    return data


def test_every_benchmark_reported(results: dict[str, object]) -> None:
    benchmarks = results["benchmarks"]
    assert isinstance(benchmarks, dict)
    assert set(benchmarks) == set(BENCHMARKS)
    meta = results["meta"]
    assert isinstance(meta, dict)
    assert meta["mode"] == "quick"
    assert meta["machine"]["nproc"] >= 1


@pytest.mark.parametrize("name", BENCHMARKS)
def test_figures_present_and_positive(results: dict[str, object], name: str) -> None:
    bench = results["benchmarks"]
    assert isinstance(bench, dict)
    figures = bench[name]["figures"]
    for key in EXPECTED_FIGURES[name]:
        assert key in figures, f"{name}: {key} missing"
    for key, value in figures.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), f"{name}.{key}"
        if key == "overhead_us":
            continue
        if key in MAY_BE_ZERO:
            assert value >= 0, f"{name}.{key} = {value}"
        else:
            assert value > 0, f"{name}.{key} = {value}"
    for target in bench[name]["targets"]:
        assert set(target) == {"name", "value", "op", "limit", "met"}


def test_unknown_benchmark_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--quick", "--only", "nope", "--output", str(tmp_path / "r.json")])
    assert exc.value.code == 2
    assert not (tmp_path / "r.json").exists()
