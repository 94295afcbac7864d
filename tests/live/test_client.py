"""The one request path over real HTTP: auth, retries, errors, budget, concurrency, secrets."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import warnings
from datetime import date

import aiohttp
import pytest

from whatconverts_async import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InvalidParameterError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    WhatConverts,
)
from whatconverts_async.testing import FakeWhatConverts

from ._support import FAST_RETRIES, client_for

pytestmark = pytest.mark.filterwarnings("error")


async def test_basic_auth_header_is_token_and_secret(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    await wc.leads.list(leads_per_page=1)
    (request,) = fake.requests
    expected = base64.b64encode(f"{fake.token}:{fake.secret}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.key_token == fake.token
    assert request.status == 200


async def test_bad_credentials_raise_authentication_error(fake: FakeWhatConverts) -> None:
    async with WhatConverts(fake.token, "wrong-secret", base_url=fake.url) as wc:
        with pytest.raises(AuthenticationError) as info:
            await wc.leads.list(leads_per_page=1)
    assert info.value.status == 401
    assert info.value.error_message
    assert fake.request_count == 1  # 401 is never retried


async def test_profile_key_on_agency_resource_is_permission_denied(wc: WhatConverts) -> None:
    with pytest.raises(PermissionDeniedError) as info:
        await wc.accounts.list()
    assert info.value.status == 403
    assert "Agency" in (info.value.error_message or "")


async def test_5xx_then_success_is_retried(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    fake.faults.fail_next(2, 503)
    page = await wc.leads.list(leads_per_page=3)
    assert len(page.items) == 3
    assert [r.status for r in fake.requests] == [503, 503, 200]
    assert wc.quota.used == 3  # retries spend budget too


async def test_retries_give_up_after_max_retries(fake: FakeWhatConverts) -> None:
    fake.faults.fail_next(10, 500)
    async with client_for(fake, max_retries=2) as wc:
        with pytest.raises(ServerError) as info:
            await wc.leads.list(leads_per_page=1)
    assert info.value.status == 500
    assert fake.request_count == 3


async def test_429_with_retry_after_waits_about_that_long(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    fake.faults.rate_limit_next(1, retry_after=1)
    started = time.monotonic()
    await wc.leads.list(leads_per_page=1)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.0
    assert [r.status for r in fake.requests] == [429, 200]


async def test_429_retry_after_over_the_cap_is_raised_not_slept(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    fake.faults.rate_limit_next(1, retry_after=3600)
    with pytest.raises(RateLimitError) as info:
        await wc.leads.list(leads_per_page=1)
    assert info.value.retry_after == 3600
    assert fake.request_count == 1


async def test_400_and_404_are_raised_at_once_with_the_api_message(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    with pytest.raises(NotFoundError) as info:
        await wc.leads.get(999_999_999)
    assert info.value.error_message == "Invalid lead ID."
    fake.faults.fail_next(1, 400, body='{"error_message": "Invalid parameter: lead_type."}')
    with pytest.raises(BadRequestError) as bad:
        await wc.leads.list(leads_per_page=1)
    assert bad.value.error_message == "Invalid parameter: lead_type."
    fake.faults.fail_next(1, 404)
    with pytest.raises(NotFoundError):
        await wc.leads.list(leads_per_page=1)
    assert fake.request_count == 3


async def test_error_inside_a_200_is_an_error(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    fake.faults.error_in_200_next(1, "Invalid account ID.")
    with pytest.raises(NotFoundError) as info:
        await wc.leads.list(leads_per_page=1)
    assert info.value.status == 200


async def test_html_from_a_proxy_is_a_clear_error(wc: WhatConverts, fake: FakeWhatConverts) -> None:
    fake.faults.fail_next(1, 200, body="<html><body>Gateway login</body></html>")
    with pytest.raises(MalformedResponseError, match="not JSON") as info:
        await wc.leads.list(leads_per_page=1)
    assert "Gateway login" in (info.value.body or "")


async def test_dropped_connections_are_retried_and_counted_once_each(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    fake.faults.drop_next(2)
    page = await wc.leads.list(leads_per_page=2)
    assert len(page.items) == 2
    assert [r.status for r in fake.requests] == [None, None, 200]
    # every attempt the server saw went through our throttle and budget
    assert wc.quota.used == fake.request_count == fake.requests_today(fake.token) == 3


async def test_create_is_not_retried_after_a_dropped_connection(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    before = fake.data.count_leads()
    fake.faults.drop_next(1)
    with pytest.raises(APIConnectionError) as info:
        await wc.leads.create(lead_type="web_form", contact_name="Jane")
    assert info.value.request_sent
    assert fake.request_count == 1
    # the simulator dropped it before handling, so nothing was created either
    assert fake.data.count_leads() == before


async def test_create_is_retried_when_the_server_was_never_reached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on this port: the connection is refused before anything is sent.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with WhatConverts(
        "t",
        "s",
        base_url=f"http://127.0.0.1:{port}/api/v1/",
        max_retries=2,
        retry_policy=FAST_RETRIES,
    ) as wc:
        with pytest.raises(APIConnectionError) as info:
            await wc.leads.create(lead_type="web_form")
    assert info.value.request_sent is False
    # 1 try + 2 retries, each admitted by the throttle; the budget unit of each was given
    # back, since none reached the API (the budget counts what reached the wire).
    assert sum("retrying POST" in r.getMessage() for r in caplog.records) == 2
    assert wc.quota.used == 0


async def test_budget_of_three_lets_exactly_three_requests_through(fake: FakeWhatConverts) -> None:
    async with client_for(fake, daily_limit=3) as wc:
        for _ in range(3):
            await wc.leads.list(leads_per_page=1)
        with pytest.raises(QuotaExhaustedError) as info:
            await wc.leads.list(leads_per_page=1)
        assert wc.quota.remaining == 0
    assert fake.request_count == 3
    assert info.value.resets_at.hour == 0 and info.value.resets_at.minute == 0


async def test_fifty_tasks_never_exceed_max_concurrency(fake: FakeWhatConverts) -> None:
    fake.faults.latency = (0.01, 0.03)
    async with client_for(fake, max_concurrency=5) as wc:
        pages = await asyncio.gather(*(wc.leads.list(leads_per_page=1) for _ in range(50)))
    assert len(pages) == 50
    assert fake.request_count == 50
    assert fake.max_in_flight <= 5
    assert fake.max_in_flight >= 3  # they really did overlap


async def test_timeout_on_a_stalled_server(fake: FakeWhatConverts) -> None:
    from whatconverts_async import APITimeoutError

    fake.faults.stall_next(5, 10.0)
    async with client_for(fake, timeout=0.3, max_retries=1) as wc:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await wc.leads.list(leads_per_page=1)
        assert time.monotonic() - started < 2.0


async def test_secret_never_in_logs_errors_or_reprs(
    fake: FakeWhatConverts, caplog: pytest.LogCaptureFixture
) -> None:
    secret = fake.secret
    header = base64.b64encode(f"{fake.token}:{secret}".encode()).decode()
    caplog.set_level(logging.DEBUG)
    fake.faults.fail_next(3, 503)
    errors: list[BaseException] = []
    async with client_for(fake, max_retries=2) as wc:
        try:
            await wc.leads.list(leads_per_page=1)
        except ServerError as exc:
            errors.append(exc)
        text = repr(wc) + repr(wc._credentials) + repr(wc.leads) + repr(wc.quota)
    assert errors and caplog.records
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    everything = caplog.text + text + "".join(str(e) + repr(e) for e in errors)
    for leaked in (secret, header):
        assert leaked not in everything
    assert fake.token not in repr(wc)


async def test_user_session_is_used_and_not_closed(fake: FakeWhatConverts) -> None:
    async with aiohttp.ClientSession() as session:
        async with client_for(fake, session=session) as wc:
            await wc.leads.list(leads_per_page=1)
        assert not session.closed
        assert wc.closed


async def test_close_is_idempotent_and_closed_client_refuses(fake: FakeWhatConverts) -> None:
    wc = client_for(fake)
    await wc.leads.list(leads_per_page=1)
    await wc.close()
    await wc.close()
    with pytest.raises(RuntimeError, match="closed"):
        await wc.leads.list(leads_per_page=1)


async def test_no_unclosed_session_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with FakeWhatConverts(leads=10) as fake, client_for(fake) as wc:
            await wc.leads.list(leads_per_page=1)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"base_url .*clear text"):
        WhatConverts("t", "s", base_url="http://api.example.com/api/v1/")
    WhatConverts("t", "s", base_url="http://api.example.com/api/v1/", allow_insecure=True)
    WhatConverts("t", "s", base_url="http://127.0.0.1:9/api/v1/")
    WhatConverts("t", "s", base_url="http://localhost:9/api/v1/")
    with pytest.raises(InvalidParameterError, match="credentials"):
        WhatConverts("t", "s", base_url="https://user:pw@example.com/")


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"key_type": "agency"}, "key_type"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"on_quota_exhausted": "sleep"}, "on_quota_exhausted"),
        ({"daily_limit": -5}, "daily_limit"),
        ({"base_url": "ftp://x"}, "base_url"),
    ],
)
def test_bad_constructor_arguments_name_the_parameter(kwargs: dict, parameter: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidParameterError) as info:
        WhatConverts("token", "secret", **kwargs)
    assert info.value.parameter == parameter


def test_from_env() -> None:
    env = {
        "WHATCONVERTS_API_TOKEN": "tok",
        "WHATCONVERTS_API_SECRET": "sec",
        "WHATCONVERTS_KEY_TYPE": "master",
        "WHATCONVERTS_BASE_URL": "https://x.example/api/v1",
    }
    wc = WhatConverts.from_env(env)
    assert wc.key_type.value == "master" and wc.quota.limit == 10_000
    assert str(wc.base_url) == "https://x.example/api/v1/"
    assert "sec" not in repr(wc)
    with pytest.raises(InvalidParameterError, match="WHATCONVERTS_API_SECRET"):
        WhatConverts.from_env({"WHATCONVERTS_API_TOKEN": "tok"})


async def test_default_budgets_by_key_type() -> None:
    assert WhatConverts("t", "s").quota.limit == 1_000
    assert WhatConverts("t", "s", key_type="master").quota.limit == 10_000
    assert WhatConverts("t", "s", daily_limit=7).quota.limit == 7


async def test_date_lists_are_checked_before_sending(
    wc: WhatConverts, fake: FakeWhatConverts
) -> None:
    with pytest.raises(InvalidParameterError, match="end_date must be within 400 days"):
        await wc.leads.list(start_date=date(2020, 1, 1), end_date=date(2021, 6, 1))
    assert fake.request_count == 0
