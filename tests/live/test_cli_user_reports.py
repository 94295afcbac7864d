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

from ._support import client_for, run_cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


# --- 2. dates after today ------------------------------------------------------------------


def demo_export(out: Path, *extra: str) -> list[str]:
    return [
        "export",
        "leads",
        "--demo",
        "--demo-leads",
        "2000",
        "--out",
        str(out),
        *extra,
    ]


def plain_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATCONVERTS_")}
    return {**env, "WHATCONVERTS_STATE_DIR": str(tmp_path / "state")}


@pytest.mark.parametrize(
    ("dates", "flag"),
    [
        (["--start-date", "2025-12-01", "--end-date", "2030-01-01"], "--end-date"),
        (["--start-date", "2030-01-01"], "--start-date"),
    ],
)
async def test_export_refuses_dates_after_today(
    tmp_path: Path, dates: list[str], flag: str
) -> None:
    out = tmp_path / "o.jsonl"
    code, _, err = await run_cli(*demo_export(out, *dates), env=plain_env(tmp_path))
    assert code == 2, err
    assert err.startswith(f"whatconverts: error: {flag} is after today"), err
    assert "omit --end-date" in err and "window(s)" not in err
    assert not out.exists() and not Path(f"{out}.checkpoint").exists()


async def test_scan_never_requests_windows_after_now(tmp_path: Path) -> None:
    from whatconverts_async.scan import plan_scan

    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    plan = plan_scan(start_date="2025-06-01", end_date="2030-01-01", now=now)
    assert len(plan.windows) == 1  # 2025-06-01..2026-07-05 holds "now"; the rest is future
    assert plan.windows[0].start <= now <= plan.windows[0].end
    assert plan_scan(start_date="2027-01-01", end_date="2030-01-01", now=now).windows == ()
    async with FakeWhatConverts(leads=100, seed=2) as fake:
        async with client_for(fake) as wc:
            plan = wc.leads.plan_scan(start_date="2040-01-01", end_date="2041-01-01")
            leads = [
                lead
                async for lead in wc.leads.iterate(start_date="2040-01-01", end_date="2041-01-01")
            ]
        assert plan.windows == () and leads == []
        assert fake.request_count == 0


# --- 4. checks before anything happens, in the flags' own names ----------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--prefetch", "0"], "--prefetch must be"),
        (["--per-page", "0"], "--per-page must be 1..2500"),
        (["--resume", "--force"], "--resume cannot be combined with --force"),
        (["--daily-limit", "0"], "--daily-limit must be a positive"),
        (["--quota-fallback", "2"], "--quota-fallback must be a fraction"),
        (["--start-date", "yesterday"], "--start-date must be an ISO 8601 date"),
    ],
)
async def test_bad_flags_are_refused_first_by_their_flag_names(
    tmp_path: Path, extra: list[str], expected: str
) -> None:
    out = tmp_path / "o.jsonl"
    args = demo_export(out, "--start-date", "2019-01-01", *extra)
    code, _, err = await run_cli(*args, env=plain_env(tmp_path))
    assert code == 2, err
    assert err == f"whatconverts: error: {err.split('error: ', 1)[1]}"  # one line, no plan
    assert expected in err, err
    for python_name in ("per_page", "start_date", "fallback_fraction", "=True", "daily_limit"):
        assert python_name not in err
    assert not out.exists()


async def test_existing_output_is_refused_before_the_plan_line(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    out.write_text("keep\n")
    code, _, err = await run_cli(
        *demo_export(out, "--start-date", "2019-01-01"), env=plain_env(tmp_path)
    )
    assert code == 2 and "already exists" in err and "window(s)" not in err
    assert out.read_text() == "keep\n"


async def test_output_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "nonexistent" / "dir" / "o.jsonl"
    code, _, err = await run_cli(
        *demo_export(out, "--start-date", "2019-01-01"), env=plain_env(tmp_path)
    )
    assert code == 2, err
    assert "--out" in err and "does not exist" in err and "FileNotFoundError" not in err


# --- 5. the output format and the file name agree ------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("z.jsonl.gz", [], "compressed"),
        ("o.csv", ["--format", "jsonl"], "contradicts"),
        ("o.jsonl", ["--format", "csv"], "contradicts"),
        ("o.txt", [], "cannot tell the format"),
    ],
)
async def test_format_and_file_name_must_agree(
    tmp_path: Path, name: str, extra: list[str], expected: str
) -> None:
    out = tmp_path / name
    code, _, err = await run_cli(
        *demo_export(out, "--start-date", "2025-06-01", *extra), env=plain_env(tmp_path)
    )
    assert code == 2, err
    assert expected in err and name in err
    assert not out.exists()


@pytest.mark.parametrize(("name", "first"), [("o.ndjson", "{"), ("o.csv", "lead_id")])
async def test_format_comes_from_the_file_name(tmp_path: Path, name: str, first: str) -> None:
    out = tmp_path / name
    code, _, err = await run_cli(
        *demo_export(out, "--start-date", "2025-06-01", "--quiet"), env=plain_env(tmp_path)
    )
    assert code == 0, err
    assert out.read_text().startswith(first)


async def test_explicit_format_allows_another_name(tmp_path: Path) -> None:
    out = tmp_path / "o.gz"
    code, _, err = await run_cli(
        *demo_export(out, "--start-date", "2025-06-01", "--format", "jsonl"),
        env=plain_env(tmp_path),
    )
    assert code == 0, err
    assert out.read_text().startswith("{")


# --- 7. hints in the options of the command that was run -----------------------------------


async def test_spent_budget_hint_of_leads_get_names_no_export_option(tmp_path: Path) -> None:
    async with FakeWhatConverts(leads=50, seed=1) as fake:
        lead_id = next(iter(fake.data.lead_ids(datetime(2017, 1, 1, tzinfo=timezone.utc), None)))
        env = fake_env(fake, tmp_path)
        args = ("leads", "get", str(lead_id), "--daily-limit", "1")
        assert (await run_cli(*args, env=env))[0] == 0
        code, _, err = await run_cli(*args, env=env)
    assert code == 3, err
    assert "--resume" not in err and "--wait-for-quota" not in err
    assert "run the command again after the reset" in err
    assert fake.request_count == 1


# --- 8. a damaged budget file is reported, not shown as a spent day ------------------------


async def test_quota_command_reports_a_damaged_state_file(tmp_path: Path) -> None:
    async with FakeWhatConverts(leads=5, seed=1) as fake:
        env = fake_env(fake, tmp_path)
        code, out, err = await run_cli("quota", env=env)
        assert code == 0, err  # a fresh machine: nothing spent
        # The state file is written by the first request (lead 1 does not exist: exit 1),
        # then damaged; `quota` reads that file, whatever it is named.
        assert (await run_cli("leads", "get", "1", env=env))[0] == 1
        files = list((tmp_path / "state").glob("quota-*.json"))
        assert len(files) == 1
        files[0].write_bytes(b"\x00garbage")
        code, out, err = await run_cli("quota", env=env)
    assert code != 0
    assert out == ""
    assert str(files[0]) in err and "unreadable" in err and "delete that file" in err


# --- 9. one log handler ------------------------------------------------------------------


async def test_library_log_env_and_the_cli_print_each_line_once(tmp_path: Path) -> None:
    env = {**plain_env(tmp_path), "WHATCONVERTS_LOG": "debug"}
    code, _, err = await run_cli("leads", "get", "1", "--demo", "--demo-leads", "10", env=env)
    assert code == 1  # lead 1 does not exist in the demo
    lines = [line.removeprefix("whatconverts: ") for line in err.splitlines()]
    requests = [line for line in lines if line.startswith("GET ")]
    assert len(requests) == 1, err  # the debug line of the one request, once
    assert not any(" DEBUG " in line for line in lines), err


# --- 6. a failed first request leaves nothing that blocks the same command ------------------


@pytest.mark.parametrize("name", ["bad.jsonl", "bad.csv"])
async def test_export_that_failed_before_any_page_can_be_rerun(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    async with FakeWhatConverts(leads=300, seed=6) as fake:
        args = ("export", "leads", "--start-date", "2019-01-01", "--out", str(out), "--quiet")
        env = fake_env(fake, tmp_path, WHATCONVERTS_API_SECRET="wrong")
        code, _, err = await run_cli(*args, env=env)
        assert code == 4, err
        code, _, err = await run_cli(*args, env=fake_env(fake, tmp_path))
        assert code == 0, err
        expected = len(list(fake.data.lead_ids(datetime(2019, 1, 1, tzinfo=timezone.utc), None)))
    assert f"exported {expected:,} leads" in err
    assert not Path(f"{out}.checkpoint").exists()


async def test_export_with_a_committed_page_still_needs_resume(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    async with FakeWhatConverts(leads=3000, seed=6) as fake:
        base = ("export", "leads", "--start-date", "2017-01-01", "--out", str(out), "--quiet")
        args = (*base, "--per-page", "100")
        code, _, err = await run_cli(*args, "--daily-limit", "2", env=fake_env(fake, tmp_path))
        assert code == 3, err
        kept = out.read_bytes()
        assert kept  # a page was committed: rerunning without --resume must not drop it
        code, _, err = await run_cli(*args, env=fake_env(fake, tmp_path))
        assert code == 2 and "already exists" in err and "--resume" in err
        assert out.read_bytes() == kept


# --- 10. merge takes whole shard sets; a resume mismatch names what differs ------------------


async def test_merge_refuses_an_incomplete_shard_set(tmp_path: Path) -> None:
    env = plain_env(tmp_path)
    shards = [tmp_path / f"s{i}.jsonl" for i in range(3)]
    for i, shard in enumerate(shards):
        code, _, err = await run_cli(
            *demo_export(shard, "--start-date", "2019-01-01", "--end-date", "2024-12-31"),
            "--shard",
            f"{i}/3",
            "--quiet",
            env=env,
        )
        assert code == 0, err
    merged = tmp_path / "m.jsonl"
    code, _, err = await run_cli(
        "merge", str(shards[0]), str(shards[2]), "--out", str(merged), env=env
    )
    assert code == 2, err
    assert "shard(s) 1 of 3 are missing" in err and "--allow-partial" in err
    assert not merged.exists()
    code, _, err = await run_cli(
        "merge", str(shards[0]), str(shards[0]), "--out", str(merged), env=env
    )
    assert code == 2 and "pass each shard once" in err
    code, _, err = await run_cli(
        "merge", str(shards[0]), str(shards[2]), "--out", str(merged), "--allow-partial", env=env
    )
    assert code == 0, err
    code, _, err = await run_cli(
        "merge", *map(str, shards), "--out", str(merged), "--force", env=env
    )
    assert code == 0, err
    assert merged.read_text().count("\n") == sum(s.read_text().count("\n") for s in shards)


async def test_resume_with_other_arguments_names_them(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    env = plain_env(tmp_path)
    args = demo_export(out, "--start-date", "2019-01-01", "--end-date", "2024-12-31", "--quiet")
    code, _, err = await run_cli(*args, "--per-page", "100", "--daily-limit", "2", env=env)
    assert code == 3, err
    code, _, err = await run_cli(*args, "--per-page", "200", "--order", "desc", "--resume", env=env)
    assert code == 2, err
    assert "--per-page was 100, now 200" in err and 'order was "asc", now "desc"' in err
    assert "filters" not in err and "start_date" not in err


# --- 11. the simulator: no credentials in reprs; a standalone server that looks live ---------


async def test_recorded_request_repr_hides_the_credentials() -> None:
    async with FakeWhatConverts(leads=5, seed=1) as fake:
        async with client_for(fake) as wc:
            await wc.leads.list(leads_per_page=1)
        record = fake.requests[-1]
        shown = repr(record)
        assert fake.secret not in shown and fake.token not in shown
        assert record.headers["Authorization"].split()[-1] not in shown
        assert "<redacted>" in shown and "/leads" in shown
        # The data stays there for tests that check what was sent.
        assert record.headers["Authorization"] == fake.profile_key.authorization
        assert record.key_token == fake.token


async def test_standalone_simulator_prints_exports_and_serves_recent_data(
    tmp_path: Path,
) -> None:
    import shlex
    from datetime import timedelta

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whatconverts_async.testing",
        "--port",
        "0",
        "--leads",
        "300",
        "--start",
        (datetime.now(timezone.utc) - timedelta(days=30)).date().isoformat(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    env: dict[str, str] = {}
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode()
            assert line, "the simulator stopped before serving"
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                env[name] = shlex.split(value)[0]
            if line.startswith("Press Ctrl-C"):
                break
        assert set(env) >= {
            "WHATCONVERTS_API_TOKEN",
            "WHATCONVERTS_API_SECRET",
            "WHATCONVERTS_BASE_URL",
        }
        # The pasted lines are enough for the command; the data reaches today.
        full_env = {**plain_env(tmp_path), **env}
        yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
        out = tmp_path / "recent.jsonl"
        code, _, err = await run_cli(
            "export", "leads", "--start-date", yesterday, "--out", str(out), env=full_env
        )
        assert code == 0, err
        assert out.read_text().count("\n") > 0  # 300 leads over 30 days: some in the last 2
    finally:
        proc.terminate()
        await proc.wait()


def test_standalone_simulator_refuses_a_bad_range() -> None:
    import subprocess

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "whatconverts_async.testing",
            "--start",
            "2026-01-01",
            "--end",
            "2025-01-01",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "--start must be before --end" in done.stderr


# --- 12. help, plurals and a friendly lead id ----------------------------------------------


async def test_leads_get_help_and_lead_id_message(tmp_path: Path) -> None:
    env = plain_env(tmp_path)
    code, out, _ = await run_cli("leads", "get", "--help", env=env)
    assert code == 0
    assert "Fetch one lead by its id" in out and "the lead's id (a positive integer)" in out
    for bad in ("0", "-5", "abc", str(2**63)):
        code, _, err = await run_cli("leads", "get", "--demo", "--", bad, env=env)
        assert code == 2, err
        assert "LEAD_ID: must be a positive integer" in err
        assert "9223372036854775807" not in err


async def test_one_request_is_said_in_the_singular(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    code, _, err = await run_cli(
        *demo_export(out, "--start-date", "2025-06-01", "--end-date", "2025-06-30", "--quiet"),
        env=plain_env(tmp_path),
    )
    assert code == 0, err
    assert " 1 request," in err and "1 requests" not in err
