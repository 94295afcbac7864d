"""``ep.with_options(...)``: per-call timeout and retries for an Endpoint, on the parent's
session, over real loopback HTTP (a hung server and the simulator's Endpoints)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import AsyncIterator

import pytest

from tests._loopback import hanging_server
from whatconverts_async import APITimeoutError, InvalidParameterError, RetryPolicy, ServerError
from whatconverts_async.endpoints import EndpointClient, OfflineLead
from whatconverts_async.testing import FakeWhatConverts

FAST = RetryPolicy(base_wait=0.001, max_wait=0.01)
ROW = OfflineLead(profile_id=1, date=dt.date(2025, 3, 1))


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[str, list[str]]]:
    """An Endpoint that takes every request and never answers (records each method)."""
    async with hanging_server(record="method") as (url, seen):
        yield f"{url}/endpoint/s3cret-path", seen


async def test_a_hung_endpoint_costs_one_short_attempt_on_the_parents_session(
    hanging: tuple[str, list[str]],
) -> None:
    url, seen = hanging
    async with EndpointClient(url) as ep:
        quick = ep.with_options(timeout=0.5, max_retries=0)
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            await quick.send([ROW])
        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 2.5
        assert seen == ["POST"]
        assert quick._get_session() is ep._get_session()
        # The parent keeps its own settings; the URL is the parent's, shown masked.
        assert (ep.timeout, ep.retry_policy.max_retries) == (30.0, 5)
        assert (quick.timeout, quick.retry_policy.max_retries) == (0.5, 0)
        assert quick.shown_url == ep.shown_url and quick.format == ep.format
        for shown in (repr(quick), str(caught.value)):
            assert "s3cret-path" not in shown


async def test_derived_retries_apply_to_the_derived_client_only() -> None:
    async with FakeWhatConverts(leads=0, seed=4) as fake:
        row = OfflineLead(profile_id=fake.profile_id, date=dt.date(2025, 3, 1))
        async with EndpointClient(fake.endpoint_url(), retry_policy=FAST) as ep:
            fake.faults.fail_next(1, 503)
            with pytest.raises(ServerError):
                await ep.with_options(max_retries=0).send([row])
            fake.faults.fail_next(1, 503)
            result = await ep.send([row])  # the parent still retries a refusal
            assert result.attempts == 2
        assert len(fake.requests) == 3


async def test_closing_the_derived_client_leaves_the_parent_working() -> None:
    async with FakeWhatConverts(leads=0, seed=4) as fake:
        row = OfflineLead(profile_id=fake.profile_id, date=dt.date(2025, 3, 1))
        ep = EndpointClient(fake.endpoint_url())
        async with ep.with_options(timeout=5) as derived:
            await derived.send([row])
        assert derived.closed and not ep.closed
        with pytest.raises(RuntimeError, match="is closed"):
            await derived.send([row])
        session = ep._get_session()
        assert not session.closed
        await ep.send([row])
        # A client derived from a derived one lives on the owner, not on its closed parent.
        again = derived.with_options(timeout=4)
        await again.send([row])
        assert again._get_session() is session
        await ep.close()
        assert session.closed and again.closed
        with pytest.raises(RuntimeError, match="derived with with_options"):
            await again.send([row])
        assert len(fake.requests) == 3


def test_a_retry_policy_brings_its_own_count_unless_max_retries_is_given() -> None:
    ep = EndpointClient("https://example.com/endpoint/abc")
    policy = RetryPolicy(max_retries=2, base_wait=0.01)
    assert ep.with_options(retry_policy=policy).retry_policy == policy
    assert ep.with_options(retry_policy=policy, max_retries=7).retry_policy.max_retries == 7
    assert ep.with_options(timeout=3).retry_policy == ep.retry_policy


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"retry_policy": "fast"}, "retry_policy"),
    ],
)
def test_bad_options_name_the_argument(arguments: dict[str, object], parameter: str) -> None:
    ep = EndpointClient("https://example.com/endpoint/abc")
    with pytest.raises(InvalidParameterError) as caught:
        ep.with_options(**arguments)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    assert "endpoint/abc" not in str(caught.value)
