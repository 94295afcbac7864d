"""A dlt pipeline: WhatConverts leads into DuckDB (or any dlt destination), incrementally.

Credentials come from dlt's secrets: ``.dlt/secrets.toml``::

    [sources.whatconverts]
    api_token = "..."
    api_secret = "..."

or the environment (``SOURCES__WHATCONVERTS__API_TOKEN``, ``..._API_SECRET``). Run it
daily: each run reads from the newest lead loaded minus three days (edits in that time are
merged on ``lead_id``), and a run that meets a spent daily budget loads what it read and
ends cleanly; the next run goes on from there.

    pip install 'whatconverts-async[dlt]' 'dlt[duckdb]'
    python examples/dlt_pipeline.py --start-date 2024-01-01

Demo against the simulator (two runs: a load, then an edit merged)::

    python examples/dlt_pipeline.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dlt

from whatconverts_async import DEFAULT_BASE_URL
from whatconverts_async.dlt import whatconverts_source
from whatconverts_async.testing import FakeWhatConverts


def make_pipeline(folder: Path) -> Any:
    return dlt.pipeline(
        pipeline_name="whatconverts",
        destination=dlt.destinations.duckdb(str(folder / "warehouse.duckdb")),
        dataset_name="whatconverts",
        pipelines_dir=str(folder / "pipelines"),
    )


def count_leads(pipeline: Any) -> tuple[int, int]:
    """(rows, distinct lead ids) in the loaded ``leads`` table."""
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select count(*), count(distinct lead_id) from leads")
    return int(rows[0][0]), int(rows[0][1])


def demo() -> None:
    # pipeline.run() blocks, so the simulator serves from a loop in another thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    now = datetime.now(timezone.utc)
    fake = FakeWhatConverts(leads=500, seed=5, start=now - timedelta(days=120), end=now)
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pipeline = make_pipeline(Path(tmp))

            def source() -> Any:
                start = now - timedelta(days=365)
                return whatconverts_source(
                    fake.token, fake.secret, start_date=start, base_url=fake.url
                )

            print(pipeline.run(source()))
            assert count_leads(pipeline) == (500, 500), count_leads(pipeline)
            newest = fake.data.lead_ids()[-1]
            fake.data.patch_lead(newest, {"contact_name": "Edited After Load"})
            pipeline.run(source())
            with pipeline.sql_client() as client:
                name = client.execute_sql(
                    "select contact_name from leads where lead_id = %s", newest
                )[0][0]
            assert name == "Edited After Load", name
            assert count_leads(pipeline) == (500, 500), "duplicates after the second run"
            print("500 leads loaded once; the edit was merged by the second run")
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
    print("demo ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run against the simulator")
    parser.add_argument("--start-date", default="2015-01-01")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    if args.demo:
        demo()
        return
    pipeline = make_pipeline(args.out)
    # WHATCONVERTS_BASE_URL points the source elsewhere, e.g. at a standalone simulator.
    base_url = os.environ.get("WHATCONVERTS_BASE_URL", DEFAULT_BASE_URL)
    print(pipeline.run(whatconverts_source(start_date=args.start_date, base_url=base_url)))


if __name__ == "__main__":
    main()
