"""The dlt source end to end: the simulator over loopback -> dlt -> duckdb.

``pipeline.run()`` blocks and runs the async resources on dlt's own loop, so it runs in a
worker thread while the simulator serves from the test's loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

dlt = pytest.importorskip("dlt")
pytest.importorskip("duckdb")

from whatconverts_async import InvalidParameterError  # noqa: E402
from whatconverts_async.dlt import whatconverts_source  # noqa: E402
from whatconverts_async.testing import FakeWhatConverts  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def pipelines_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # dlt keeps state and config under the home and working directories: keep both here.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    yield tmp_path / "pipelines"


def _pipeline(pipelines_dir: Path, name: str = "wc") -> Any:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(pipelines_dir.parent / f"{name}.duckdb")),
        dataset_name="whatconverts",
        pipelines_dir=str(pipelines_dir),
    )


def _rows(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(row) for row in client.execute_sql(sql)]


def _lead_ids(pipeline: Any) -> list[int]:
    return [row[0] for row in _rows(pipeline, "select lead_id from leads order by lead_id")]


def _assert_secret_not_stored(root: Path, secret: str) -> None:
    """No file dlt wrote (state, traces, load packages, the database) holds the secret."""
    files = [path for path in root.rglob("*") if path.is_file()]
    assert files, f"nothing under {root}"
    for path in files:
        assert secret.encode() not in path.read_bytes(), f"the API secret is in {path}"


def _fake(**kwargs: Any) -> FakeWhatConverts:
    kwargs.setdefault("leads", 240)
    kwargs.setdefault("seed", 17)
    return FakeWhatConverts(start=NOW - timedelta(days=60), end=NOW - timedelta(hours=1), **kwargs)


def _lead_starts(fake: FakeWhatConverts) -> list[str]:
    """The ``start_date`` of every leads request the simulator received."""
    starts = []
    for request in fake.requests:
        if request.path.rstrip("/").endswith("/leads"):
            starts.append(request.params["start_date"])
    return starts


async def test_loads_every_lead_once_and_merges_edits_within_the_lag(
    pipelines_dir: Path,
) -> None:
    async with _fake() as fake:
        pipeline = _pipeline(pipelines_dir)

        def source() -> Any:
            return whatconverts_source(
                fake.token,
                fake.secret,
                start_date=NOW - timedelta(days=90),
                base_url=fake.url,
                lag=timedelta(days=3),
            )

        await asyncio.to_thread(pipeline.run, source())
        expected = sorted(fake.data.lead_ids())
        assert _lead_ids(pipeline) == expected  # every lead, each once
        assert _rows(pipeline, "select count(*) from tracking_numbers")[0][0] > 0
        assert _rows(pipeline, "select count(*) from tracking_forms")[0][0] > 0

        by_date = fake.data.lead_ids()  # ascending by date_created
        recent, old = by_date[-1], by_date[0]
        fake.data.patch_lead(recent, {"contact_name": "Edited Recently"})
        fake.data.patch_lead(old, {"contact_name": "Edited Long Ago"})
        added = fake.data.insert_lead(NOW - timedelta(minutes=30))["lead_id"]
        fake.reset_records()

        await asyncio.to_thread(pipeline.run, source())
        assert _lead_ids(pipeline) == sorted([*expected, added])  # merged, no duplicates
        names = dict(_rows(pipeline, "select lead_id, contact_name from leads"))
        assert names[recent] == "Edited Recently"
        # Outside the lag an edit is not read again (the documented limit).
        assert names[old] != "Edited Long Ago"
        _assert_secret_not_stored(pipelines_dir.parent, fake.secret)
        # The second run read only from the newest loaded lead minus the lag.
        newest_loaded = datetime.strptime(
            fake.data.lead(recent)["date_created"], "%Y-%m-%dT%H:%M:%SZ"
        ).replace(tzinfo=timezone.utc)
        starts = _lead_starts(fake)
        assert starts, "the second run sent no leads request"
        first_start = datetime.fromisoformat(starts[0].replace("Z", "+00:00"))
        if first_start.tzinfo is None:
            first_start = first_start.replace(tzinfo=timezone.utc)
        assert first_start == newest_loaded - timedelta(days=3)


async def test_a_spent_budget_ends_the_run_cleanly_and_the_next_run_continues(
    pipelines_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _fake() as fake:
        pipeline = _pipeline(pipelines_dir, "wc_budget")

        def source(daily_limit: int) -> Any:
            return whatconverts_source(
                fake.token,
                fake.secret,
                start_date=NOW - timedelta(days=90),
                base_url=fake.url,
                per_page=40,
                daily_limit=daily_limit,
                lag=0,
            ).with_resources("leads")

        with caplog.at_level(logging.WARNING, logger="whatconverts_async.dlt"):
            await asyncio.to_thread(pipeline.run, source(3))
        assert "daily request budget is spent" in caplog.text
        assert fake.request_count == 3  # the budget, not one request more
        first = _lead_ids(pipeline)
        assert 0 < len(first) < len(fake.data.lead_ids())

        await asyncio.to_thread(pipeline.run, source(100))
        assert _lead_ids(pipeline) == sorted(fake.data.lead_ids())  # all, each once


async def test_master_key_loads_accounts_profiles_and_users_with_dlt_secrets(
    pipelines_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _fake(leads=20, key_type="master", accounts=2, profiles_per_account=2) as fake:
        # Credentials from dlt's own configuration, as its users keep them.
        monkeypatch.setenv("SOURCES__WHATCONVERTS__API_TOKEN", fake.token)
        monkeypatch.setenv("SOURCES__WHATCONVERTS__API_SECRET", fake.secret)
        pipeline = _pipeline(pipelines_dir, "wc_master")
        source = whatconverts_source(
            start_date=NOW - timedelta(days=90),
            key_type="master",
            base_url=fake.url,
        )
        assert set(source.resources) == {
            "leads",
            "tracking_numbers",
            "tracking_forms",
            "accounts",
            "profiles",
            "users",
        }
        await asyncio.to_thread(pipeline.run, source)
        accounts = [r[0] for r in _rows(pipeline, "select account_id from accounts")]
        profiles = [r[0] for r in _rows(pipeline, "select profile_id from profiles")]
        assert sorted(accounts) == sorted(fake.data.account_ids())
        assert sorted(profiles) == sorted(fake.data.profile_ids())
        assert _rows(pipeline, "select count(*) from users")[0][0] > 0
        assert _lead_ids(pipeline) == sorted(fake.data.lead_ids())
        assert all(r.key_token == fake.token for r in fake.requests)
        _assert_secret_not_stored(pipelines_dir.parent, fake.secret)


def test_profile_key_leaves_out_agency_resources() -> None:
    source = whatconverts_source("t", "s", start_date="2024-01-01")
    assert set(source.resources) == {"leads", "tracking_numbers", "tracking_forms"}


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"start_date": "2024-01-01", "key_type": "agency"}, "key_type"),
        ({"start_date": "2024-01-01", "lag": -1}, "lag"),
        ({"start_date": "2024-01-01", "per_page": 5000}, "per_page"),
        ({"start_date": "2024-01-01", "lead_filters": {"lead_type": "fax"}}, "lead_type"),
    ],
)
def test_bad_arguments_fail_before_any_request(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(Exception) as caught:
        whatconverts_source("t", "s", **kwargs)
    error: BaseException | None = caught.value
    # dlt may wrap errors raised in a source function; ours must be in the chain.
    while error is not None and not isinstance(error, InvalidParameterError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, InvalidParameterError), repr(caught.value)
    assert error.parameter == parameter
