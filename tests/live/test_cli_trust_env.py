"""``whatconverts --trust-env``: the command's requests go through ``HTTP_PROXY``; without
the flag the environment's proxy is ignored. A loopback forward proxy records the
absolute-form request line of each request and forwards it to the simulator."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests._loopback import forward_proxy
from whatconverts_async.testing import FakeWhatConverts

from ._support import run_cli


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP forward proxy on loopback: records ``METHOD absolute-URL`` per request."""
    async with forward_proxy() as served:
        yield served


def proxied_env(proxy_url: str, fake: FakeWhatConverts, tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WHATCONVERTS_")
        and k.lower() not in ("http_proxy", "https_proxy")
        and k.lower() not in ("all_proxy", "no_proxy")
    }
    return {
        **env,
        "HTTP_PROXY": proxy_url,
        # Many machines' NO_PROXY names 127.0.0.1, which would bypass the proxy.
        "NO_PROXY": "",
        "no_proxy": "",
        "WHATCONVERTS_API_TOKEN": fake.token,
        "WHATCONVERTS_API_SECRET": fake.secret,
        "WHATCONVERTS_BASE_URL": fake.url,
        "WHATCONVERTS_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.mark.parametrize("where", ["before the command", "after the command"])
async def test_trust_env_sends_the_commands_requests_through_the_proxy(
    proxy: tuple[str, list[str]], tmp_path: Path, where: str
) -> None:
    proxy_url, seen = proxy
    async with FakeWhatConverts(leads=20, seed=4) as fake:
        lead_id = next(iter(fake.data.lead_ids()))
        env = proxied_env(proxy_url, fake, tmp_path)
        command = ["leads", "get", str(lead_id)]
        args = (
            ["--trust-env", *command]
            if where == "before the command"
            else [*command, "--trust-env"]
        )
        code, out, err = await run_cli(*args, env=env)
        assert code == 0, err
        assert json.loads(out)["lead_id"] == lead_id
        assert seen == [f"GET {fake.url}leads/{lead_id}"]
        assert len(fake.requests) == 1


async def test_without_the_flag_the_environment_proxy_is_ignored(
    proxy: tuple[str, list[str]], tmp_path: Path
) -> None:
    proxy_url, seen = proxy
    async with FakeWhatConverts(leads=20, seed=4) as fake:
        lead_id = next(iter(fake.data.lead_ids()))
        code, out, err = await run_cli(
            "leads", "get", str(lead_id), env=proxied_env(proxy_url, fake, tmp_path)
        )
        assert code == 0, err
        assert json.loads(out)["lead_id"] == lead_id
        assert seen == []
        assert len(fake.requests) == 1


async def test_an_export_with_trust_env_goes_through_the_proxy(
    proxy: tuple[str, list[str]], tmp_path: Path
) -> None:
    proxy_url, seen = proxy
    async with FakeWhatConverts(leads=30, seed=4) as fake:
        out_file = tmp_path / "leads.jsonl"
        code, _, err = await run_cli(
            "export",
            "leads",
            "--start-date",
            "2025-01-01",
            "--end-date",
            "2025-12-31",
            "--out",
            str(out_file),
            "--quiet",
            "--trust-env",
            env=proxied_env(proxy_url, fake, tmp_path),
        )
        assert code == 0, err
        assert seen and all(line.startswith(f"GET {fake.url}leads?") for line in seen), seen
        assert len(seen) == len(fake.requests)
