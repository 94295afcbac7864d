"""``mirror run`` as a service: permanent errors stop it, transient ones back off,
SIGTERM stops it cleanly, and a public webhook listener needs a secret."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sqlite3
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from whatconverts_async import AuthenticationError, WhatConverts
from whatconverts_async.mirror import LeadMirror
from whatconverts_async.mirror.core import transient
from whatconverts_async.testing import FakeWhatConverts

from .conftest import NOW


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "whatconverts_async", *args]


async def test_run_stops_at_once_on_rejected_credentials(tmp_path: Path) -> None:
    async with (
        FakeWhatConverts(leads=10, seed=1, end=NOW) as fake,
        WhatConverts(fake.token, "bad", base_url=fake.url, max_retries=0) as wc,
        LeadMirror(wc, str(tmp_path / "a.db")) as mirror,
    ):
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(mirror.run(poll_seconds=0.01), 10)
        assert fake.request_count == 1  # not one per poll
        assert (await mirror.status()).writer is None  # the lease is released


async def test_run_backs_off_on_server_errors(tmp_path: Path) -> None:
    hits: list[float] = []

    async def failing(request: web.Request) -> web.Response:
        hits.append(time.monotonic())
        return web.json_response({"error_message": "down"}, status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", failing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stop = asyncio.Event()
    try:
        async with (
            WhatConverts("t", "s", base_url=f"http://127.0.0.1:{port}", max_retries=0) as wc,
            LeadMirror(wc, str(tmp_path / "b.db")) as mirror,
        ):
            loop = asyncio.ensure_future(mirror.run(poll_seconds=0.05, max_backoff=0.4, stop=stop))
            await asyncio.sleep(1.5)
            assert not loop.done()  # still serving: a 503 may pass
            stop.set()
            await asyncio.wait_for(loop, 5)
    finally:
        await runner.cleanup()
    gaps = [b - a for a, b in itertools.pairwise(hits)]
    assert len(hits) >= 3
    # Backing off: later waits are longer than the poll, and never beyond the cap (+ slack).
    assert max(gaps) >= 0.15 and max(gaps) < 1.0, gaps
    assert len(hits) < 1.5 / 0.05 / 2


def test_which_errors_are_transient() -> None:
    from whatconverts_async import (
        APIConnectionError,
        InvalidParameterError,
        PermissionDeniedError,
        ServerError,
    )
    from whatconverts_async.mirror import MirrorBusyError, MirrorError

    where = {"method": "GET", "url": "http://127.0.0.1/leads"}
    assert transient(APIConnectionError("refused", **where))
    assert transient(ServerError("down", status=503, **where))
    assert transient(MirrorBusyError("busy"))
    assert not transient(AuthenticationError("no", status=401, **where))
    assert not transient(PermissionDeniedError("no", status=403, **where))
    assert not transient(InvalidParameterError("x", "bad"))
    assert not transient(MirrorError("schema"))


async def test_cli_run_with_a_bad_secret_exits_4(tmp_path: Path) -> None:
    async with FakeWhatConverts(leads=10, seed=1, end=NOW) as fake:
        env = {
            **os.environ,
            "WHATCONVERTS_API_TOKEN": fake.token,
            "WHATCONVERTS_API_SECRET": "bad",
            "WHATCONVERTS_BASE_URL": fake.url,
        }
        child = await asyncio.create_subprocess_exec(
            *_cli("mirror", "run", "--db", str(tmp_path / "c.db"), "--poll-seconds", "1"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(child.communicate(), 60)
        finally:
            if child.returncode is None:
                child.kill()
        assert child.returncode == 4, err
        assert b"authentication failed" in err and b"retrying" not in err
        assert b"bad" not in err.replace(b"backfill", b"")  # the secret is not echoed
        assert fake.request_count <= 2


def test_sigterm_stops_run_cleanly(tmp_path: Path) -> None:
    import subprocess

    db = tmp_path / "t.db"
    args = _cli("mirror", "run", "--demo", "--demo-leads", "100", "--db", str(db), "--quiet")
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if child.stdout.readline().startswith("refresh:"):
                break
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert "stopped (SIGTERM)" in err and "Traceback" not in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from mirror_leases").fetchone() == (0,)


async def test_run_waits_for_the_budget_reset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        # 3,000 leads in the last 30 days: two pages; the budget allows one request.
        FakeWhatConverts(leads=3000, seed=1, start=NOW - timedelta(days=30), end=NOW) as fake,
        WhatConverts(fake.token, fake.secret, base_url=fake.url, daily_limit=1) as wc,
        LeadMirror(wc, str(tmp_path / "q.db")) as mirror,
    ):
        stop = asyncio.Event()
        loop = asyncio.ensure_future(mirror.run(poll_seconds=0.02, stop=stop))
        await asyncio.sleep(0.6)
        stop.set()
        await asyncio.wait_for(loop, 5)
        assert fake.request_count == 1
    waits = [r for r in caplog.records if "budget spent" in r.getMessage()]
    # One wait for the reset (hours away), not a retry every 0.02 s.
    assert 1 <= len([r for r in waits if "reset" in r.getMessage()]) <= 2, waits
    assert len([r for r in waits if "during refresh scan" in r.getMessage()]) == 1, waits
