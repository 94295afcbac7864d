"""Sharded backfill: N worker processes, one daily budget shared through Redis.

Each worker exports every N-th 400-day window (``shard=(i, n)``) to its own file, taking
each request from one Redis counter, so together they never overrun the key's daily
limit. When all are done, ``merge_jsonl`` joins their files (every lead once, in order).

    export WHATCONVERTS_API_TOKEN=... WHATCONVERTS_API_SECRET=... WHATCONVERTS_KEY_TYPE=master
    python examples/sharded_workers.py --workers 4 --redis-url redis://localhost:6379/0

Demo against the simulator (needs a Redis server; ``--redis-url`` or
``WHATCONVERTS_QUOTA_REDIS``, default ``redis://127.0.0.1:6379/0``)::

    python examples/sharded_workers.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

from whatconverts_async import QuotaExhaustedError, WhatConverts
from whatconverts_async.budget import RedisQuota
from whatconverts_async.export import export_leads, merge_jsonl
from whatconverts_async.testing import FakeWhatConverts

START = date(2015, 1, 1)


async def worker(
    shard: int, shards: int, out: Path, end_date: date, redis_url: str, key_id: str
) -> int:
    """One worker process: its shard of the windows, budget taken from Redis."""
    quota = RedisQuota(redis_url, key_id=key_id)
    async with quota, WhatConverts.from_env(quota=quota) as wc:
        try:
            result = await export_leads(
                wc,
                out,
                start_date=START,
                end_date=end_date,  # the same fixed range in every worker
                shard=(shard, shards),
                resume=out.exists(),
            )
        except QuotaExhaustedError:
            print(f"worker {shard}: the shared budget is spent; run again after the reset")
            return 3
    print(f"worker {shard}: {result.leads_written} leads, {result.requests_used} requests")
    return 0


async def run_workers(shards: int, folder: Path, redis_url: str, key_id: str) -> Path:
    """Start the workers as separate processes, wait for all, merge their files."""
    # Every worker must split the very same range: fix its end once, here.
    end_date = datetime.now(timezone.utc).date()
    parts = [folder / f"shard{i}.jsonl" for i in range(shards)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            f"{i}/{shards}",
            "--out",
            str(part),
            "--end-date",
            end_date.isoformat(),
            "--redis-url",
            redis_url,
            "--key-id",
            key_id,
        )
        for i, part in enumerate(parts)
    ]
    codes = [await proc.wait() for proc in procs]
    if any(codes):
        raise SystemExit(max(codes))
    merged = folder / "leads.jsonl"
    merge_jsonl(parts, merged, force=True)
    return merged


async def demo(redis_url: str) -> None:
    async with FakeWhatConverts(leads=4_000, seed=3, key_type="master") as fake:
        # The workers are other processes: they find the simulator through the environment.
        os.environ.update(
            WHATCONVERTS_API_TOKEN=fake.token,
            WHATCONVERTS_API_SECRET=fake.secret,
            WHATCONVERTS_KEY_TYPE="master",
            WHATCONVERTS_BASE_URL=fake.url,
        )
        with tempfile.TemporaryDirectory() as tmp:
            # A fresh budget name, so the demo never meets the count of a real key.
            merged = await run_workers(3, Path(tmp), redis_url, f"demo-{uuid.uuid4().hex}")
            ids = [json.loads(line)["lead_id"] for line in merged.read_text().splitlines()]
        assert sorted(ids) == sorted(fake.data.lead_ids()), "leads lost or repeated"
        print(f"{len(ids)} leads from 3 workers, {fake.request_count} requests in all")
    print("demo ok")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run against the simulator")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out-dir", type=Path, default=Path("."))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("WHATCONVERTS_QUOTA_REDIS", "redis://127.0.0.1:6379/0"),
    )
    parser.add_argument("--key-id", default="main", help="names the key's budget in Redis")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # I/N, set for the children
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--end-date", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        shard, shards = (int(part) for part in args.worker.split("/"))
        return asyncio.run(
            worker(shard, shards, args.out, args.end_date, args.redis_url, args.key_id)
        )
    if args.demo:
        asyncio.run(demo(args.redis_url))
        return 0
    merged = asyncio.run(run_workers(args.workers, args.out_dir, args.redis_url, args.key_id))
    print(f"merged into {merged}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
