"""``wc.with_options(...)``: per-call timeout and retries on the parent's session, budget
and throttle, over real loopback HTTP."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator

import pytest

from tests._loopback import hanging_server
from whatconverts_async import (
    APITimeoutError,
    InvalidParameterError,
    RetryPolicy,
    ServerError,
    WhatConverts,
)
from whatconverts_async.testing import FakeWhatConverts


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[str, list[str]]]:
    """A server that accepts every request and never answers (records each path)."""
    async with hanging_server() as (url, seen):
        yield f"{url}/api/v1/", seen


async def test_a_hung_server_costs_one_attempt_and_one_unit(
    hanging: tuple[str, list[str]],
) -> None:
    url, seen = hanging
    async with WhatConverts("token-123456", "secret-123456", base_url=url) as wc:
        fast = wc.with_options(timeout=1, max_retries=0)
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await fast.leads.get(1)
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 2.5
        assert wc.quota.used == 1 and fast.quota is wc.quota
        assert seen == ["/api/v1/leads/1"]
        # The parent keeps its own settings.
        assert wc.timeout == 30.0 and wc.retry_policy.max_retries == 5
        assert fast.timeout == 1.0 and fast.retry_policy.max_retries == 0


async def test_the_derived_client_shares_session_budget_and_throttle() -> None:
    async with (
        FakeWhatConverts(leads=50, seed=2) as fake,
        WhatConverts(fake.token, fake.secret, base_url=fake.url, daily_limit=100) as wc,
    ):
        lead_id = next(iter(fake.data.lead_ids()))
        await wc.leads.get(lead_id)
        derived = wc.with_options(max_retries=1)
        await derived.leads.get(lead_id)
        await derived.leads.get(lead_id)
        assert wc.quota.used == 3 and wc.quota.remaining == 97
        assert derived.throttle is wc.throttle and wc.throttle.requests_sent == 3
        assert derived._get_session() is wc._get_session()
        assert fake.request_count == 3


async def test_derived_retries_and_timeout_apply_to_the_derived_client_only() -> None:
    fast = RetryPolicy(base_wait=0.001, max_wait=0.01)
    async with (
        FakeWhatConverts(leads=50, seed=2) as fake,
        WhatConverts(fake.token, fake.secret, base_url=fake.url, retry_policy=fast) as wc,
    ):
        lead_id = next(iter(fake.data.lead_ids()))
        fake.faults.fail_next(1, 503)
        with pytest.raises(ServerError):
            await wc.with_options(max_retries=0).leads.get(lead_id)
        assert wc.quota.used == 1
        fake.faults.fail_next(1, 503)
        assert (await wc.leads.get(lead_id)).lead_id == lead_id  # the parent still retries
        assert wc.quota.used == 3
        # A derived timeout shorter than the stall fails; the parent's 30 s waits it out.
        fake.faults.stall_next(1, 0.5)
        with pytest.raises(APITimeoutError):
            await wc.with_options(timeout=0.2, max_retries=0).leads.get(lead_id)
        fake.faults.stall_next(1, 0.5)
        assert (await wc.leads.get(lead_id)).lead_id == lead_id


async def test_a_retry_policy_brings_its_own_count_unless_max_retries_is_given() -> None:
    async with WhatConverts("token-123456", "secret-123456") as wc:
        policy = RetryPolicy(max_retries=2, base_wait=0.01)
        assert wc.with_options(retry_policy=policy).retry_policy == policy
        assert wc.with_options(retry_policy=policy, max_retries=7).retry_policy.max_retries == 7
        assert wc.with_options(timeout=3).retry_policy == wc.retry_policy


async def test_closing_the_derived_client_leaves_the_parent_working() -> None:
    async with (
        FakeWhatConverts(leads=20, seed=4) as fake,
        WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc,
    ):
        lead_id = next(iter(fake.data.lead_ids()))
        async with wc.with_options(timeout=5) as derived:
            await derived.leads.get(lead_id)
        assert derived.closed and not wc.closed
        with pytest.raises(RuntimeError, match="is closed"):
            await derived.leads.get(lead_id)
        session = wc._get_session()
        assert not session.closed
        assert (await wc.leads.get(lead_id)).lead_id == lead_id
        # A client derived from a derived one lives on its owner, not on its closed parent.
        again = derived.with_options(timeout=4)
        assert (await again.leads.get(lead_id)).lead_id == lead_id
        assert wc.quota.used == 3


async def test_using_a_derived_client_after_the_parent_closed_is_a_clear_error() -> None:
    async with FakeWhatConverts(leads=20, seed=4) as fake:
        wc = WhatConverts(fake.token, fake.secret, base_url=fake.url)
        derived = wc.with_options(timeout=5)
        lead_id = next(iter(fake.data.lead_ids()))
        await derived.leads.get(lead_id)  # creates the parent's session, lazily
        await wc.close()
        assert derived.closed
        with pytest.raises(RuntimeError, match="derived with with_options"):
            await derived.leads.get(lead_id)
        assert fake.request_count == 1


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"retry_policy": "fast"}, "retry_policy"),
    ],
)
def test_bad_options_name_the_argument(arguments: dict[str, object], parameter: str) -> None:
    wc = WhatConverts("token-123456", "secret-123456")
    with pytest.raises(InvalidParameterError) as caught:
        wc.with_options(**arguments)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    with pytest.raises(InvalidParameterError) as built:
        WhatConverts("token-123456", "secret-123456", **arguments)  # type: ignore[arg-type]
    assert built.value.parameter == parameter


def test_constructor_refuses_an_endless_timeout_too_many_in_flight_and_a_colon_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidParameterError, match="finite") as caught:
        WhatConverts("token-123456", "secret-123456", timeout=math.inf)
    assert caught.value.parameter == "timeout"
    with pytest.raises(InvalidParameterError, match="at most 20") as caught:
        WhatConverts("token-123456", "secret-123456", max_concurrency=21)
    assert caught.value.parameter == "max_concurrency"
    assert WhatConverts("t-123456", "s-123456", max_concurrency=20).throttle.max_concurrency == 20
    with pytest.raises(InvalidParameterError, match="':'") as caught:
        WhatConverts("tok:en-123456", "secret-123456")
    assert caught.value.parameter == "api_token"
    assert "tok:en" not in str(caught.value)
    monkeypatch.setenv("WHATCONVERTS_API_TOKEN", "abc:secret-pasted")
    monkeypatch.setenv("WHATCONVERTS_API_SECRET", "secret-123456")
    with pytest.raises(InvalidParameterError, match="WHATCONVERTS_API_TOKEN") as caught:
        WhatConverts()
    assert caught.value.parameter == "api_token"
    assert "secret-pasted" not in str(caught.value)
