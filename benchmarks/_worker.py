"""Client-side benchmark tasks, one per fresh interpreter: ``python -m benchmarks._worker SPEC``.

``SPEC`` is a JSON object with a ``task`` and its arguments; the result is printed as one
JSON line. With ``"block_orjson": true`` the module ``orjson`` is made unimportable before
the library is imported, so the client decodes with the standard ``json`` module;
``"block_msgspec": true`` does the same for msgspec (large pages are then decoded in one
call, not a slice at a time). Blocking both is an installation without the ``[fast]`` extra.

Tasks:

* ``fetch``: the baseline, a plain aiohttp loop reading pages sequentially (Basic auth
  header built by hand) and decoding them with ``json`` (or ``orjson``, or not at all).
* ``library``: ``wc.leads.iterate`` to typed ``Lead`` objects, with RSS figures.
* ``export_baseline``: the demo export done by hand: an in-process simulator with the
  demo's data, the plain loop, and ``json.dumps`` per line into a file.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

Json = dict[str, Any]


def _status_kb(field: str) -> int:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") <= _status_kb("VmRSS") + 64


def _peak_kb() -> int:
    hwm = _status_kb("VmHWM")
    if hwm:
        return hwm
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _auth(token: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{token}:{secret}".encode()).decode("ascii")


def _decoder(name: str) -> Callable[[bytes], Any] | None:
    if name == "none":
        return None
    if name == "orjson":
        import orjson

        loads: Callable[[bytes], Any] = orjson.loads
        return loads
    return json.loads


async def _fetch_pages(
    url: str,
    auth: str,
    windows: Sequence[Sequence[str]],
    per_page: int,
    decode: Callable[[bytes], Any] | None,
    pages: Sequence[int] | None,
    sink: Callable[[list[dict[str, Any]]], None] | None = None,
) -> tuple[int, int, int]:
    """Read every page of every window in order; returns (leads, requests, bytes)."""
    import aiohttp

    leads = requests = size = 0
    headers = {"Authorization": auth, "Accept": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for index, (start, end) in enumerate(windows):
            page, last = 1, (pages[index] if pages is not None else 1)
            while page <= last:
                params = {
                    "start_date": start,
                    "end_date": end,
                    "order": "asc",
                    "leads_per_page": str(per_page),
                    "page_number": str(page),
                }
                async with session.get(url + "leads", params=params) as response:
                    response.raise_for_status()
                    body = await response.read()
                requests += 1
                size += len(body)
                if decode is not None:
                    payload = decode(body)
                    items = payload["leads"]
                    leads += len(items)
                    if pages is None and page == 1:
                        last = int(payload["total_pages"])
                    if sink is not None:
                        sink(items)
                else:
                    leads += per_page  # the ceiling run is given full pages only
                page += 1
    return leads, requests, size


async def _task_fetch(spec: Json) -> Json:
    decode = _decoder(spec["decoder"])
    auth = _auth(spec["token"], spec["secret"])
    started = time.perf_counter()
    leads, requests, size = await _fetch_pages(
        spec["url"], auth, spec["windows"], spec["per_page"], decode, spec.get("pages")
    )
    seconds = time.perf_counter() - started
    return {"leads": leads, "requests": requests, "bytes": size, "seconds": seconds}


def _pause_gc_per_page() -> None:
    """Diagnostic: the proposed library patch, applied from outside (see README.md).

    Decoding and structuring one page create tens of thousands of container objects and
    no reference cycles; pausing the cyclic collector for that span removes the repeated
    collections they trigger.
    """
    import gc

    from whatconverts_async import _json
    from whatconverts_async.resources import _base

    def paused(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            enabled = gc.isenabled()
            gc.disable()
            try:
                return fn(*args, **kwargs)
            finally:
                if enabled:
                    gc.enable()

        return call

    _json.loads = paused(_json.loads)
    _base.structure_page = paused(_base.structure_page)  # type: ignore[attr-defined]


async def _task_library(spec: Json) -> Json:
    from whatconverts_async import WhatConverts, _json
    from whatconverts_async.models import Lead

    experiment = spec.get("experiment")
    if experiment == "gc_pause_page":
        _pause_gc_per_page()
    elif experiment == "no_seen":
        # Diagnostic: no per-window set of yielded ids (drops the no-repeat guarantee).
        from whatconverts_async.resources import leads as leads_module

        leads_module._lead_key = None  # type: ignore[assignment]
    elif experiment == "gc_off":
        import gc

        gc.disable()

    profile = spec.get("profile")
    async with WhatConverts(
        spec["token"], spec["secret"], base_url=spec["url"], daily_limit=10**9
    ) as wc:
        stream = wc.leads.iterate(
            start_date=spec["start"],
            end_date=spec["end"],
            prefetch=spec["prefetch"],
            per_page=spec.get("per_page"),
        )
        reset = _reset_peak()
        start_kb = _status_kb("VmRSS")
        profiler: Any = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        count = 0
        typed = True
        started = time.perf_counter()
        async for lead in stream:
            if count == 0:
                typed = isinstance(lead, Lead)
            count += 1
        seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        peak_kb = _peak_kb()
        requests = wc.throttle.requests_sent
    return {
        "leads": count,
        "requests": requests,
        "seconds": seconds,
        "typed": typed,
        "decoder": _json.decoder_name,
        "splitter": _json.splitter_name,
        "start_rss_kb": start_kb,
        "peak_rss_kb": peak_kb,
        "peak_reset": reset,
    }


async def _task_export_baseline(spec: Json) -> Json:
    from datetime import datetime, timezone

    from whatconverts_async import split_windows
    from whatconverts_async.cli import DEMO_END, DEMO_START
    from whatconverts_async.testing import FakeWhatConverts

    started = time.perf_counter()
    fake = FakeWhatConverts(leads=spec["leads"], seed=0, start=DEMO_START, end=DEMO_END)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    begin = datetime.fromisoformat(spec["start"]).replace(tzinfo=timezone.utc)
    windows = [
        (f"{w.start:%Y-%m-%dT%H:%M:%SZ}", f"{w.end:%Y-%m-%dT%H:%M:%SZ}")
        for w in split_windows(begin, now)
    ]
    out = Path(spec["out"])
    async with fake:
        # Blocking local writes, one page at a time, like the export itself.
        with out.open("wb") as handle:  # noqa: ASYNC230

            def write(items: list[dict[str, Any]]) -> None:
                handle.write(
                    b"".join(
                        (
                            json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"
                        ).encode()
                        for item in items
                    )
                )

            leads, requests, _ = await _fetch_pages(
                fake.url, _auth(fake.token, fake.secret), windows, 2500, json.loads, None, write
            )
    return {"leads": leads, "requests": requests, "seconds": time.perf_counter() - started}


TASKS = {
    "fetch": _task_fetch,
    "library": _task_library,
    "export_baseline": _task_export_baseline,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the task described by the JSON in ``argv[0]`` and print its result."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec: Json = json.loads(args[0])
    if spec.get("block_orjson"):
        # A None entry makes "import orjson" raise ImportError: the library falls back to json.
        sys.modules["orjson"] = None  # type: ignore[assignment]
    if spec.get("block_msgspec"):
        # The same for msgspec: large pages are then decoded in one call.
        sys.modules["msgspec"] = None  # type: ignore[assignment]
    result = asyncio.run(TASKS[spec["task"]](spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
