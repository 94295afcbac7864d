"""The budget stays exact under every failure (issue 13), over real loopback HTTP.

* An answer saying the key's day is spent, in each form (429, 403, 401, 200 with
  ``error_message``, a silent 429), is not retried, marks the budget spent until UTC
  midnight and raises ``QuotaExhaustedError``, or in ``"wait"`` mode waits for the reset.
* Requests that never left the machine (refused, DNS, TLS handshake, a certificate that
  fails verification) spend no budget; certificate errors are not retried.
* ``Retry-After`` on a 503, ``0``, past dates, ``inf``; the total retry time cap; a corrupt
  gzip body; waiting for budget does not use up the retry time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
import trustme
from aiohttp import web

from whatconverts_async import (
    APIConnectionError,
    CertificateError,
    FastClock,
    MalformedResponseError,
    QuotaExhaustedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    WhatConverts,
)
from whatconverts_async.budget import FileQuota
from whatconverts_async.testing import FakeWhatConverts

from ._support import FAST_RETRIES, client_for, run_cli

pytestmark = pytest.mark.filterwarnings("error")

OK = {"leads": [], "total_leads": 0, "total_pages": 1, "page_number": 1, "leads_per_page": 1}
SPENT = {"error_message": "Daily request limit reached."}
Reply = tuple[int, dict[str, Any] | bytes, dict[str, str]]


class Hostile:
    """A small loopback server: ``reply(n)`` decides the answer to the n-th request
    (1-based); every request is counted."""

    def __init__(self, reply: Callable[[int], Reply]) -> None:
        self.reply = reply
        self.count = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        status, body, headers = self.reply(self.count)
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {"Content-Type": "application/json", **headers}
        return web.Response(status=status, body=raw, headers=headers)


@asynccontextmanager
async def hostile(
    reply: Callable[[int], Reply], *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Hostile]:
    server = Hostile(reply)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context is not None else "http"
    server.url = f"{scheme}://127.0.0.1:{port}/api/v1/"
    try:
        yield server
    finally:
        await runner.cleanup()


def _client(url: str, **kwargs: Any) -> WhatConverts:
    kwargs.setdefault("retry_policy", FAST_RETRIES)
    return WhatConverts("token", "secret-value", base_url=url, **kwargs)


@asynccontextmanager
async def served(
    reply: Callable[[int], Reply],
    *,
    ssl_context: ssl.SSLContext | None = None,
    trust: ssl.SSLContext | None = None,
    **kwargs: Any,
) -> AsyncIterator[tuple[Hostile, WhatConverts]]:
    """A hostile server and a client for it (trusting ``trust``'s CAs when given)."""
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(hostile(reply, ssl_context=ssl_context))
        if trust is not None:
            connector = aiohttp.TCPConnector(ssl=trust)
            kwargs["session"] = await stack.enter_async_context(
                aiohttp.ClientSession(connector=connector)
            )
        wc = await stack.enter_async_context(_client(server.url, **kwargs))
        yield server, wc


# --- the server says the day is spent --------------------------------------------------------

SPENT_FORMS: dict[str, Reply] = {
    "429": (429, SPENT, {}),
    "403": (403, SPENT, {}),
    "401": (401, SPENT, {}),
    "200": (200, SPENT, {}),
    "429 with a long Retry-After": (429, SPENT, {"Retry-After": "30"}),
    "silent 429": (429, b"", {"Content-Type": "text/plain"}),
}


@pytest.mark.parametrize("form", list(SPENT_FORMS))
async def test_a_spent_key_answer_is_not_retried_and_marks_the_budget_spent(form: str) -> None:
    async with served(lambda n: SPENT_FORMS[form], daily_limit=1000) as (server, wc):
        with pytest.raises(QuotaExhaustedError) as info:
            await wc.request("GET", "leads")
        assert server.count == 1  # not retried
        assert wc.quota.remaining == 0 and wc.quota.used == 1000
        assert wc.quota.resets_at == info.value.resets_at
        assert info.value.status == SPENT_FORMS[form][0]
        assert "daily request limit of this key is reached" in str(info.value)
        assert "secret-value" not in str(info.value)
        # Spent until midnight: the next call is refused before the wire.
        with pytest.raises(QuotaExhaustedError):
            await wc.request("GET", "leads")
        assert server.count == 1


async def test_a_spent_key_marks_a_file_budget_spent_for_every_process(tmp_path: Path) -> None:
    path = tmp_path / "budget.json"
    async with served(lambda n: (403, SPENT, {}), quota=FileQuota(path, 100)) as (_, wc):
        with pytest.raises(QuotaExhaustedError):
            await wc.request("GET", "leads")
    assert FileQuota(path, 100).remaining == 0  # what the next command reads
    assert json.loads(path.read_text())["used"] == 100


async def test_a_rate_limit_message_is_still_retried() -> None:
    replies: dict[int, Reply] = {1: (429, {"error_message": "Rate limit exceeded."}, {})}
    async with served(lambda n: replies.get(n, (200, OK, {}))) as (server, wc):
        assert await wc.request("GET", "leads") == OK
    assert server.count == 2


@pytest.mark.parametrize("form", ["429", "403", "200", "silent 429"])
async def test_wait_mode_waits_for_the_reset_after_a_spent_key_answer(form: str) -> None:
    # Noon of a day that lasts 2 s: the reset is 1 s away.
    clock = FastClock(day_seconds=2.0, start=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    first_day = clock.now().date()

    def reply(n: int) -> Reply:
        return SPENT_FORMS[form] if clock.now().date() == first_day else (200, OK, {})

    async with served(reply, daily_limit=50, on_quota_exhausted="wait", clock=clock) as (
        server,
        wc,
    ):
        started = time.monotonic()
        assert await wc.request("GET", "leads") == OK
        assert 0.8 < time.monotonic() - started < 5.0
        assert clock.now().date() > first_day
        assert server.count == 2  # one refused, one after the reset
        assert wc.quota.used == 1  # the new day's


async def test_concurrent_callers_all_stop_on_one_spent_key_answer() -> None:
    async with served(lambda n: (429, SPENT, {}), daily_limit=1000, max_concurrency=5) as (
        server,
        wc,
    ):
        results = await asyncio.gather(
            *(wc.request("GET", "leads") for _ in range(20)), return_exceptions=True
        )
    assert all(isinstance(r, QuotaExhaustedError) for r in results)
    assert server.count <= 5  # only those already in flight when the first answer came


# --- requests that never left the machine ---------------------------------------------------


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.parametrize("kind", ["local", "file"])
async def test_ten_calls_to_a_refused_port_spend_nothing(kind: str, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_refused_port()}/api/v1/"
    quota = FileQuota(tmp_path / "b.json", 100) if kind == "file" else None
    async with _client(url, daily_limit=None if quota else 100, quota=quota) as wc:
        for _ in range(10):
            with pytest.raises(APIConnectionError) as info:
                await wc.request("GET", "leads")
            assert info.value.request_sent is False
        assert wc.quota.used == 0 and wc.quota.remaining == 100
        assert wc.throttle.requests_sent == 0


async def test_a_dns_failure_spends_nothing() -> None:
    url = "http://no-such-host.invalid/api/v1/"
    async with _client(url, daily_limit=100, allow_insecure=True) as wc:
        with pytest.raises(APIConnectionError, match="could not connect"):
            await wc.request("GET", "leads")
        assert wc.quota.used == 0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_a_self_signed_certificate_is_not_retried_and_spends_nothing(
    ca: trustme.CA,
) -> None:
    # The client trusts only the system's CAs, not this test CA.
    context = _server_context(ca, "127.0.0.1")
    handshakes: list[str | None] = []  # the server's view: one entry per TLS ClientHello
    context.sni_callback = lambda _sock, name, _ctx: handshakes.append(name)
    async with served(lambda n: (200, OK, {}), ssl_context=context, daily_limit=100) as (s, wc):
        with pytest.raises(CertificateError, match="certificate verification failed") as info:
            await wc.request("GET", "leads")
        assert len(handshakes) == 1  # one attempt, not retried
        assert info.value.request_sent is False
        assert wc.quota.used == 0 and s.count == 0


async def test_a_hostname_mismatch_is_not_retried_and_spends_nothing(ca: trustme.CA) -> None:
    wrong_name = _server_context(ca, "api.example.org")  # not the host we connect to
    async with served(
        lambda n: (200, OK, {}), ssl_context=wrong_name, trust=_trusting(ca), daily_limit=100
    ) as (server, wc):
        with pytest.raises(CertificateError, match=r"[Hh]ostname|IP address mismatch"):
            await wc.request("GET", "leads")
        assert wc.quota.used == 0 and server.count == 0
    # The same trust with the right name works: the failure above was the name.
    right_name = _server_context(ca, "127.0.0.1")
    async with served(
        lambda n: (200, OK, {}), ssl_context=right_name, trust=_trusting(ca), daily_limit=100
    ) as (server, wc):
        assert await wc.request("GET", "leads") == OK
        assert wc.quota.used == 1 == server.count


async def test_a_failed_tls_handshake_is_retried_and_refunded() -> None:
    # Plain HTTP behind an https URL: the handshake fails before any request is written.
    async with hostile(lambda n: (200, OK, {})) as server:
        url = server.url.replace("http://", "https://")
        async with _client(url, daily_limit=100, max_retries=2) as wc:
            with pytest.raises(APIConnectionError) as info:
                await wc.request("GET", "leads")
            assert type(info.value) is APIConnectionError and not info.value.request_sent
            assert wc.quota.used == 0 and server.count == 0


# --- Retry-After and the time cap ------------------------------------------------------------


async def test_retry_after_on_a_503_is_honoured(fake: FakeWhatConverts) -> None:
    fake.faults.fail_next(1, 503, retry_after=1)
    async with client_for(fake) as wc:
        started = time.monotonic()
        await wc.request("GET", "leads", params={"leads_per_page": 1})
        assert 0.9 <= time.monotonic() - started < 3.0
    assert [r.status for r in fake.requests] == [503, 200]


@pytest.mark.parametrize("kind", ["zero", "past date"])
async def test_a_retry_after_of_now_still_waits_the_backoff(
    fake: FakeWhatConverts, kind: str
) -> None:
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    fake.faults.rate_limit_next(5, retry_after="0" if kind == "zero" else past)
    random.seed(13)  # the jittered waits, fixed: their sum is known to be well above 0.1 s
    policy = RetryPolicy(base_wait=0.2, max_wait=0.2)
    async with client_for(fake, retry_policy=policy) as wc:
        started = time.monotonic()
        await wc.request("GET", "leads", params={"leads_per_page": 1})
        elapsed = time.monotonic() - started
    assert [r.status for r in fake.requests] == [429] * 5 + [200]
    assert elapsed > 0.1  # six requests in a few ms before


@pytest.mark.parametrize("header", ["inf", "1e400", "9" * 400])
@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_beyond_the_cap_raises_at_once(
    fake: FakeWhatConverts, header: str, status: int
) -> None:
    fake.faults.fail_next(1, status, retry_after=header)
    async with client_for(fake) as wc:
        with pytest.raises(RateLimitError if status == 429 else ServerError) as info:
            await wc.request("GET", "leads", params={"leads_per_page": 1})
    assert info.value.retry_after == float("inf")
    assert fake.request_count == 1


async def test_the_total_cap_is_not_overrun_by_a_wait(fake: FakeWhatConverts) -> None:
    fake.faults.fail_next(20, 503, retry_after=0.4)
    policy = RetryPolicy(max_retries=20, base_wait=0.01, max_total=1.0)
    async with client_for(fake, retry_policy=policy, max_retries=20) as wc:
        started = time.monotonic()
        with pytest.raises(ServerError):
            await wc.request("GET", "leads", params={"leads_per_page": 1})
        # A fourth attempt would start at 1.2 s: below that, no wait overran the cap
        # (the slack is for a loaded machine's slow answers, not for a wait).
        assert time.monotonic() - started < 1.2
    assert fake.request_count == 3  # at 0, 0.4 and 0.8 s; the next would start at 1.2 s


async def test_a_corrupt_gzip_body_is_unreadable_and_not_retried() -> None:
    good = gzip.compress(json.dumps(OK).encode())
    corrupt = good[:10] + bytes(b ^ 0xFF for b in good[10:])
    reply: Reply = (200, corrupt, {"Content-Encoding": "gzip"})
    async with served(lambda n: reply, daily_limit=100) as (server, wc):
        with pytest.raises(MalformedResponseError, match="could not be decoded"):
            await wc.request("GET", "leads")
        assert server.count == 1 and wc.quota.used == 1


async def test_waiting_for_budget_leaves_the_retry_allowance_whole(
    fake: FakeWhatConverts,
) -> None:
    # Noon of a day that lasts 2 s: the budget of 2 is spent by the second request, whose
    # 503 must then wait about 1 s for the reset, longer than the 0.3 s retry cap.
    clock = FastClock(day_seconds=2.0, start=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    policy = RetryPolicy(base_wait=0.01, max_wait=0.02, max_total=0.3)
    async with client_for(
        fake, daily_limit=2, on_quota_exhausted="wait", clock=clock, retry_policy=policy
    ) as wc:
        await wc.request("GET", "leads", params={"leads_per_page": 1})
        fake.faults.fail_next(2, 503)  # the last request of the day, and the first of the next
        started = time.monotonic()
        await wc.request("GET", "leads", params={"leads_per_page": 1})
        assert time.monotonic() - started > 0.5  # it did wait for the reset
    assert [r.status for r in fake.requests] == [200, 503, 503, 200]
    assert wc.throttle.requests_sent == 4


# --- soak: the key is shared with an outside user who spends its day early -------------------

UTC = timezone.utc
SCAN_START = datetime(2017, 1, 1, tzinfo=UTC)


def _shared_key_fake(
    status: Literal[429, 403, 200], clock: Callable[[], datetime], leads: int = 400
) -> Any:
    from whatconverts_async.testing import Realism

    fake = FakeWhatConverts(
        leads=leads, seed=5, realism=Realism(spent_key_status=status), clock=clock
    )
    fake.spend_daily_limit(after=6)  # the 7th request of ours onwards is refused
    return fake


@pytest.mark.parametrize("status", [429, 403, 200])
async def test_export_stops_with_a_resumable_checkpoint_when_the_key_is_spent_elsewhere(
    status: Literal[429, 403, 200], tmp_path: Path
) -> None:
    from whatconverts_async.export import export_leads, read_jsonl_ids

    shift = [timedelta(0)]

    def now() -> datetime:
        return datetime(2026, 3, 1, 12, tzinfo=UTC) + shift[0]

    out = tmp_path / "leads.jsonl"
    async with _shared_key_fake(status, now) as fake:
        async with client_for(fake, clock=_Fixed(now)) as wc:
            with pytest.raises(QuotaExhaustedError) as info:
                await export_leads(wc, out, start_date=SCAN_START, per_page=25)
            assert info.value.status == status
            assert fake.request_count == 7 == wc.throttle.requests_sent  # none retried
            assert (tmp_path / "leads.jsonl.checkpoint").exists()
            assert wc.quota.remaining == 0
        shift[0] = timedelta(days=1)  # the next day: the key and the budget are fresh
        async with client_for(fake, clock=_Fixed(now)) as wc:
            await export_leads(wc, out, start_date=SCAN_START, per_page=25, resume=True)
            after = wc.throttle.requests_sent
        expected = set(fake.data.lead_ids(SCAN_START, None))
        assert fake.request_count == 7 + after
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) and set(ids) == expected


@pytest.mark.parametrize("status", [429, 403, 200])
async def test_wait_mode_export_finishes_after_the_reset_counting_every_request(
    status: Literal[429, 403, 200], tmp_path: Path
) -> None:
    from whatconverts_async.export import export_leads, read_jsonl_ids

    # A day of 2 s starting at noon: the outside user spends the day, we wait ~1 s.
    clock = FastClock(day_seconds=2.0, start=datetime(2026, 3, 1, 12, tzinfo=UTC))
    out = tmp_path / "leads.jsonl"
    async with _shared_key_fake(status, clock.now) as fake:
        first_day = clock.now().date()
        async with client_for(fake, clock=clock, on_quota_exhausted="wait") as wc:
            await export_leads(wc, out, start_date=SCAN_START, per_page=25)
            assert clock.now().date() > first_day  # it went through the reset
            # Requests at the server == budget units the client counted.
            assert fake.request_count == wc.throttle.requests_sent
            refused = [r for r in fake.requests if r.status == status]
            # Only the one answer that said the day is spent (a 200 can't be told apart).
            assert len(refused) == 1 or status == 200
        expected = set(fake.data.lead_ids(SCAN_START, None))
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) and set(ids) == expected


class _Fixed:
    """A clock that reads ``now()`` and never needs to sleep in these tests."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now

    async def sleep(self, seconds: float) -> None:
        raise AssertionError(f"unexpected wait of {seconds} s")


async def test_cli_export_exits_3_with_a_resumable_checkpoint_when_the_key_is_spent(
    tmp_path: Path,
) -> None:
    import os

    from whatconverts_async.export import read_jsonl_ids

    shift = [timedelta(0)]

    def now() -> datetime:
        return datetime.now(UTC) + shift[0]

    out = tmp_path / "leads.jsonl"
    async with _shared_key_fake(403, now) as fake:
        env = {
            **os.environ,
            "WHATCONVERTS_API_TOKEN": fake.token,
            "WHATCONVERTS_API_SECRET": fake.secret,
            "WHATCONVERTS_BASE_URL": fake.url,
            "WHATCONVERTS_STATE_DIR": str(tmp_path / "state"),
        }
        args = ["export", "leads", "--start-date", "2017-01-01", "--out", str(out)]
        args += ["--per-page", "25", "--quiet"]

        async def run(*extra: str) -> tuple[int, str]:
            code, _, err = await run_cli(*args, *extra, env=env)
            return code, err

        code, err = await run()
        assert code == 3, err
        assert "daily request limit" in err and "--resume" in err and "Traceback" not in err
        assert fake.secret not in err
        assert fake.request_count == 7  # six answered, one refused, none retried
        assert (tmp_path / "leads.jsonl.checkpoint").exists()
        # The same day again: this machine's budget is marked spent, nothing is sent.
        code, err = await run("--resume")
        assert code == 3, err
        assert fake.request_count == 7
        # The next day (a fresh day at the server and in a fresh budget file).
        shift[0] = timedelta(days=1)
        env["WHATCONVERTS_STATE_DIR"] = str(tmp_path / "state-next-day")
        code, err = await run("--resume")
        assert code == 0, err
        expected = set(fake.data.lead_ids(SCAN_START, None))
    ids = read_jsonl_ids(out)
    assert len(ids) == len(set(ids)) and set(ids) == expected


async def test_ten_calls_to_a_refused_port_spend_nothing_of_a_shared_redis_budget() -> None:
    import os
    import uuid

    from whatconverts_async.budget import RedisQuota

    url = os.environ.get("WHATCONVERTS_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("WHATCONVERTS_TEST_REDIS_URL is required in CI")
        pytest.skip("set WHATCONVERTS_TEST_REDIS_URL to run the Redis budget tests")
    key_id = f"refund-{uuid.uuid4().hex}"
    refused = f"http://127.0.0.1:{_refused_port()}/api/v1/"
    async with (
        RedisQuota(url, key_id=key_id, limit=100) as quota,
        RedisQuota(url, key_id=key_id, limit=100) as other,
    ):
        async with _client(refused, quota=quota) as wc:
            for _ in range(10):
                with pytest.raises(APIConnectionError):
                    await wc.request("GET", "leads")
        assert await other.refresh() == 100  # what every other worker sees
        # A real request in between keeps its unit; a refund never undoes a spent mark.
        assert await quota.try_acquire()
        await quota.mark_spent()
        await quota.refund()
        assert await other.refresh() == 0


async def test_wait_mode_waits_even_when_a_users_quota_ignores_mark_spent() -> None:
    from whatconverts_async.budget import next_utc_midnight

    clock = FastClock(day_seconds=2.0, start=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    first_day = clock.now().date()

    class Endless:
        """A user's quota that always grants and does nothing on mark_spent."""

        limit, used, remaining = 10**9, 0, 10**9

        @property
        def resets_at(self) -> datetime:
            return next_utc_midnight(clock.now())

        async def try_acquire(self) -> bool:
            return True

        async def mark_spent(self) -> None:
            pass

    def reply(n: int) -> Reply:
        return (429, SPENT, {}) if clock.now().date() == first_day else (200, OK, {})

    async with served(reply, quota=Endless(), on_quota_exhausted="wait", clock=clock) as (
        server,
        wc,
    ):
        assert await wc.request("GET", "leads") == OK
    assert server.count == 2  # one refusal, then the reset: no stream of refusals
