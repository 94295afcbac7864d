"""Records: lazy leads against eagerly built ones, mirror rows, and the window's id set.

All in this process, CPU time per lead (``time.process_time``, best of interleaved
rounds, the garbage collector paused as the page reader pauses it), on the simulator's
realistic leads decoded fresh for every round:

* ``eager``: the generated eager reader (what every lead cost before lazy leads), then
  reading every field; ``lazy``: the lazy reader, then reading every field (target: at
  most 1.5x eager), a few fields, or none; ``to_dict`` of each;
* mirror rows: the row the mirror writes, built as before (eager lead, ``getattr`` per
  column, the eager writer, ``json.dumps`` with options per call) against ``lead_row``
  on a lazy lead now (one pass over the wire object, one shared encoder);
* the window's set of yielded ids: bytes per id for ``CompactKeys`` against a ``set``
  (``tracemalloc``; target at most 16).
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from ._result import Result

__all__ = ["run"]


def _best_us(
    cases: dict[str, Callable[[list[dict[str, Any]]], object]], text: str, rounds: int
) -> dict[str, float]:
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():  # interleaved: a busy moment hits every case
            data = json.loads(text)
            gc.disable()
            try:
                began = time.process_time()
                case(data)
                spent = time.process_time() - began
            finally:
                gc.enable()
            best[name] = min(best[name], spent / len(data) * 1e6)
    return best


def _bytes_per_id(build: Callable[[range], object], ids: range) -> float:
    tracemalloc.start()
    try:
        held = build(ids)
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del held
    return size / len(ids)


def run(quick: bool) -> Result:
    """CPU per lead of lazy and eager leads and of mirror rows; bytes per id of id sets."""
    import attrs

    from whatconverts_async._codec import lazy_reader, reader, writer
    from whatconverts_async.models import Lead
    from whatconverts_async.pagination import CompactKeys
    from whatconverts_async.testing.data import generate

    leads = 200 if quick else 2_500
    rounds = 3 if quick else 15
    result = Result(
        "records",
        "Records: lazy vs eager leads, mirror rows, id sets (CPU µs per lead)",
        params={"leads": leads, "rounds": rounds},
    )
    text = json.dumps(list(generate(leads=leads, seed=5).iter_leads()))
    names = [field.name for field in attrs.fields(Lead)]
    eager, lazy, write = reader(Lead), lazy_reader(Lead), writer(Lead)

    def eager_all(data: list[dict[str, Any]]) -> None:
        for d in data:
            lead = eager(d)
            for name in names:
                getattr(lead, name)

    def lazy_all(data: list[dict[str, Any]]) -> None:
        for d in data:
            lead = lazy(d)
            for name in names:
                getattr(lead, name)

    def lazy_three(data: list[dict[str, Any]]) -> None:
        for d in data:
            lead = lazy(d)
            lead.lead_type, lead.quote_value, lead.profile_id  # noqa: B018

    cases: dict[str, Callable[[list[dict[str, Any]]], object]] = {
        "eager_build": lambda data: [eager(d) for d in data],
        "lazy_build": lambda data: [lazy(d) for d in data],
        "eager_all": eager_all,
        "lazy_all": lazy_all,
        "lazy_three": lazy_three,
        "eager_to_dict": lambda data: [write(eager(d)) for d in data],
        "lazy_to_dict": lambda data: [lazy(d).to_dict() for d in data],
    }
    try:
        from whatconverts_async.mirror.records import lead_row
        from whatconverts_async.mirror.schema import ENUM_COLUMNS, LEAD_COLUMNS
    except ImportError:  # the [mirror] extra is not installed
        result.notes.append("mirror rows skipped: install the [mirror] extra")
    else:

        def old_row(data: list[dict[str, Any]]) -> None:
            # lead_row as it was: every column by getattr, the eager writer, dumps per call.
            for d in data:
                lead = eager(d)
                record = write(lead)
                row = {name: getattr(lead, name) for name in LEAD_COLUMNS}
                for name in ENUM_COLUMNS:
                    if row[name] is not None:
                        row[name] = str(row[name])
                text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                row["record"] = text
                row["content_hash"] = hashlib.sha256(text.encode()).hexdigest()

        cases["row_before"] = old_row
        cases["row_now"] = lambda data: [lead_row(lazy(d)) for d in data]
    best = _best_us(cases, text, rounds)
    labels = {
        "eager_build": "eager build (before)",
        "lazy_build": "lazy build",
        "eager_all": "eager build + read every field",
        "lazy_all": "lazy build + read every field",
        "lazy_three": "lazy build + read 3 fields",
        "eager_to_dict": "eager build + to_dict",
        "lazy_to_dict": "lazy build + to_dict",
        "row_before": "mirror row, as before",
        "row_now": "mirror row, now",
    }
    for name, label in labels.items():
        if name in best:
            result.add(f"{name}_us", label, best[name], "µs/lead")
    ratio = best["lazy_all"] / best["eager_all"]
    result.add("lazy_all_vs_eager_all", "read every field: lazy / eager", ratio, "x")
    result.target("lazy lead, every field read, vs eager", ratio, "<=", 1.5)
    result.add(
        "lazy_build_speedup",
        "eager build / lazy build",
        best["eager_build"] / best["lazy_build"],
        "x",
    )
    if "row_now" in best:
        result.add(
            "row_speedup", "mirror row: before / now", best["row_before"] / best["row_now"], "x"
        )
    ids = range(10**9, 10**9 + 3 * (20_000 if quick else 200_000), 3)
    compact = _bytes_per_id(CompactKeys, ids)
    plain = _bytes_per_id(set, ids)
    result.add("compact_bytes_per_id", f"CompactKeys, {len(ids):,} ids", compact, "B/id")
    result.add("set_bytes_per_id", f"set, {len(ids):,} ids", plain, "B/id")
    result.target("window id set bytes per id", compact, "<=", 16)
    return result


if __name__ == "__main__":  # pragma: no cover
    import sys

    outcome = run("--quick" in sys.argv[1:])
    for row in outcome.rows:
        print(f"{row.label:42} {row.value:10,.2f} {row.unit:8} {row.note}")
    for target in outcome.targets:
        print(
            f"target {target.name}: {target.value:.3g} {target.op} {target.limit} -> {target.met}"
        )
