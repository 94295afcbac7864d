"""What a new user ran into with the ``whatconverts`` command, each pinned as it was seen.

The command runs as a subprocess (as the user runs it) against the simulator on loopback.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from whatconverts_async.testing import FakeWhatConverts

from ._support import client_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``whatconverts ARGS`` in a subprocess; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whatconverts_async",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def fake_env(fake: FakeWhatConverts, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATCONVERTS_")}
    return {
        **env,
        "WHATCONVERTS_API_TOKEN": fake.token,
        "WHATCONVERTS_API_SECRET": fake.secret,
        "WHATCONVERTS_BASE_URL": fake.url,
        "WHATCONVERTS_STATE_DIR": str(tmp_path / "state"),
        **extra,
    }


# --- 1. --quota-fallback on the command line, and what the fallback share reports -------


async def test_quota_fallback_flag_runs_on_the_local_share(tmp_path: Path) -> None:
    pytest.importorskip("redis.asyncio")
    down = f"redis://127.0.0.1:{_free_port()}/0"
    async with FakeWhatConverts(leads=50, seed=1) as fake:
        lead_id = next(iter(fake.data.lead_ids(datetime(2017, 1, 1, tzinfo=timezone.utc), None)))
        env = fake_env(fake, tmp_path)
        code, out, err = await run_cli(
            "leads", "get", str(lead_id), "--quota-redis", down, "--quota-fallback", "0.1", env=env
        )
        assert code == 0, err
        assert f'"lead_id": {lead_id}' in out
        assert "local share" in err  # the switch to the share is said once, as a warning
        assert fake.request_count == 1
        # Without the flag it still fails closed, naming the flag to pass.
        code, out, err = await run_cli("leads", "get", str(lead_id), "--quota-redis", down, env=env)
        assert code == 1 and "--quota-fallback" in err and "fallback_fraction" not in err
        assert fake.request_count == 1


async def test_fallback_share_use_shows_in_remaining_and_used(tmp_path: Path) -> None:
    pytest.importorskip("redis.asyncio")
    from whatconverts_async.budget import RedisQuota

    url = f"redis://127.0.0.1:{_free_port()}/0"
    async with FakeWhatConverts(leads=20) as fake:
        quota = RedisQuota(
            url,
            key_id="down",
            limit=100,
            fallback_fraction=0.1,
            fallback_state=tmp_path / "ledger.json",
            socket_timeout=0.5,
        )
        async with quota, client_for(fake, quota=quota) as wc:
            assert await quota.refresh() == 10  # the share, not the whole day
            assert (wc.quota.used, wc.quota.remaining) == (0, 10)
            await wc.leads.list(leads_per_page=1)
            await wc.leads.list(leads_per_page=1)
            assert (wc.quota.used, wc.quota.remaining) == (2, 8)
