"""No secret leaks: not in logs, exceptions (chained ones included), reprs or files.

A run at DEBUG level goes through every failure the client retries or reports (5xx,
dropped connections, 429, timeouts, unreadable HTTP, 401) and an export with a
checkpoint; then everything a user could print, log or ship to an error tracker is
searched for the API secret and for the Basic auth header (base64 of ``token:secret``).
The token itself may appear only shortened.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from datetime import date
from pathlib import Path

import pytest

from whatconverts_async import (
    APIConnectionError,
    AuthenticationError,
    InvalidParameterError,
    MalformedResponseError,
    QuotaExhaustedError,
    RetryPolicy,
    WhatConverts,
    WhatConvertsError,
)
from whatconverts_async.export import export_leads
from whatconverts_async.testing import FakeWhatConverts

from ._support import chain

pytestmark = pytest.mark.filterwarnings("error")

FAST = RetryPolicy(base_wait=0.005, max_wait=0.02)


def _everything_about(exc: BaseException) -> str:
    """What an error tracker could see: str, repr, attributes and the chain's reprs."""
    parts = ["".join(traceback.format_exception(exc))]
    for item in chain(exc):
        parts += [str(item), repr(item), repr(item.args)]
        parts += [repr(v) for v in vars(item).values()]
        for name in ("request_info", "headers", "history"):
            if hasattr(item, name):
                parts.append(repr(getattr(item, name)))
    return "\n".join(parts)


def _forbidden(token: str, secret: str) -> list[str]:
    header = base64.b64encode(f"{token}:{secret}".encode()).decode()
    return [secret, header, f"{token}:{secret}", header[:24]]


async def test_a_failing_retrying_run_leaks_nothing(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's included
    errors: list[BaseException] = []
    async with FakeWhatConverts(leads=800, seed=2) as fake:
        token, secret = fake.token, fake.secret
        async with WhatConverts(
            token,
            secret,
            base_url=fake.url,
            retry_policy=FAST,
            max_retries=4,
            timeout=0.2,
        ) as wc:
            # Retried and recovered: 5xx, drops, 429 with and without Retry-After, a stall.
            fake.faults.fail_next(1, 503)
            fake.faults.drop_next(1)
            fake.faults.rate_limit_next(1, retry_after=0.01)
            fake.faults.rate_limit_next(1)
            await wc.leads.list(leads_per_page=2)
            fake.faults.stall_next(1, 5.0)
            await wc.leads.list(leads_per_page=2)
            # Given up: each kind of failure, kept for inspection.
            for arm in (
                lambda: fake.faults.fail_next(9, 500),
                lambda: fake.faults.drop_next(9),
                lambda: fake.faults.rate_limit_next(9),
                lambda: fake.faults.rate_limit_next(1, retry_after=3600),
                lambda: fake.faults.stall_next(9, 5.0),
                lambda: fake.faults.fail_next(1, 200, body="<html>login</html>"),
                lambda: fake.faults.error_in_200_next(1, "Invalid lead ID."),
            ):
                arm()
                with pytest.raises(WhatConvertsError) as info:
                    await wc.leads.list(leads_per_page=2)
                errors.append(info.value)
                fake.faults.clear()
            # A create that may have reached the server (not retried).
            fake.faults.drop_next(1)
            with pytest.raises(APIConnectionError) as info:
                await wc.leads.create(lead_type="chat", contact_name="x")
            errors.append(info.value)
            # An export with its checkpoint, stopped by the budget, then finished.
            out = tmp_path / "leads.jsonl"
            reprs = [repr(wc), repr(wc.leads), repr(wc.quota), repr(wc.throttle)]
            reprs += [repr(wc.retry_policy), repr(wc._credentials), str(vars(wc))]
        async with WhatConverts(
            token, secret, base_url=fake.url, retry_policy=FAST, daily_limit=3
        ) as wc:
            with pytest.raises(QuotaExhaustedError) as quota:
                await export_leads(wc, out, start_date=date(2017, 1, 1), per_page=100)
            errors.append(quota.value)
            files = [p.read_bytes() for p in tmp_path.iterdir()]
        async with WhatConverts(token, secret, base_url=fake.url, retry_policy=FAST) as wc:
            await export_leads(wc, out, start_date=date(2017, 1, 1), per_page=100, resume=True)
            files += [p.read_bytes() for p in tmp_path.iterdir()]
        # Wrong secret: 401, never retried.
        wrong = secret[::-1]
        async with WhatConverts(token, wrong, base_url=fake.url, retry_policy=FAST) as wc:
            with pytest.raises(AuthenticationError) as auth:
                await wc.leads.get(1)
            errors.append(auth.value)
    kinds = {type(e).__name__ for e in errors}
    assert {"ServerError", "APIConnectionError", "RateLimitError", "APITimeoutError"} <= kinds
    assert {"MalformedResponseError", "NotFoundError", "AuthenticationError"} <= kinds
    logs = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}"
        for r in caplog.records
    )
    assert "retrying" in logs and any(r.levelno == logging.DEBUG for r in caplog.records)
    text = "\n".join([logs, *reprs, *(_everything_about(e) for e in errors)])
    blobs = b"\n".join(files)
    for leaked in _forbidden(token, secret) + _forbidden(token, wrong):
        assert leaked not in text
        assert leaked.encode() not in blobs
    assert token not in "".join(reprs)  # the token is shown shortened, if at all


async def test_unreadable_http_does_not_chain_aiohttp_request_info() -> None:
    # aiohttp's ClientResponseError holds the request, Authorization header included, in
    # request_info; our error must not keep it reachable (cause, context or attribute).
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    token, secret = "tok-1234567890", "very-secret-value-42"
    try:
        async with WhatConverts(
            token, secret, base_url=f"http://127.0.0.1:{port}/api/v1/", retry_policy=FAST
        ) as wc:
            with pytest.raises(MalformedResponseError) as info:
                await wc.leads.list(leads_per_page=1)
    finally:
        server.close()
        await server.wait_closed()
    everything = _everything_about(info.value)
    assert "ClientResponseError" in everything  # the cause is still named
    assert "RequestInfo(" not in everything and "Authorization" not in everything
    for leaked in _forbidden(token, secret):
        assert leaked not in everything


@pytest.mark.parametrize(
    "url",
    [
        "http://app.whatconverts.com/api/v1/",
        "http://10.0.0.5/api/v1/",
        "http://[2001:db8::1]/api/v1/",
        "http://localhost.example.com/api/v1/",
        "HTTP://APP.WHATCONVERTS.COM/api/v1/",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(url: str) -> None:
    with pytest.raises(InvalidParameterError, match="clear text") as info:
        WhatConverts("token-abc", "secret-xyz", base_url=url)
    assert info.value.parameter == "base_url"
    assert "secret-xyz" not in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://[::1]:9/", "http://127.8.9.1/"])
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    WhatConverts("token-abc", "secret-xyz", base_url=url)


def test_invalid_constructor_arguments_do_not_echo_the_secret() -> None:
    secret = "s3cr3t-do-not-print"
    for kwargs in ({"timeout": -1}, {"key_type": "x"}, {"base_url": "ftp://x"}):
        with pytest.raises(InvalidParameterError) as info:
            WhatConverts("token-abc", secret, **kwargs)  # type: ignore[arg-type]
        assert secret not in _everything_about(info.value)
