"""Response metadata: errors and pages carry the answer's headers (read-only,
case-insensitive, never our credentials); ``wc.request_raw`` returns them with the data."""

from __future__ import annotations

import base64
import copy
import json
import pickle
from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiohttp import web

from tests._loopback import serve
from whatconverts_async import (
    APIError,
    MalformedResponseError,
    NotFoundError,
    Page,
    RetryPolicy,
    ServerError,
    WhatConverts,
)
from whatconverts_async.endpoints import EndpointClient, OfflineLead
from whatconverts_async.testing import FakeWhatConverts

TOKEN = "tok-0123456789"
SECRET = "sec-0123456789-very-secret"
BASIC = base64.b64encode(f"{TOKEN}:{SECRET}".encode()).decode()
FAST = RetryPolicy(base_wait=0.001, max_wait=0.01)

EMPTY_PAGE = {
    "page_number": 1,
    "leads_per_page": 25,
    "total_pages": 1,
    "total_leads": 0,
    "leads": [],
}


@pytest.fixture
async def hostile() -> AsyncIterator[str]:
    """Answers with chosen headers, some echoing the credentials the client sent."""

    async def handler(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        tail = request.match_info["tail"]
        if tail == "leads":
            headers = {"X-Request-Id": "req-1", "X-RateLimit-Remaining": "998"}
            response = web.json_response(EMPTY_PAGE, headers=headers)
            response.headers.add("Set-Cookie", "a=1")
            response.headers.add("Set-Cookie", "b=2")
            return response
        if tail == "leads/1":
            echo = {
                "X-Request-Id": "req-2",
                "X-Echo-Authorization": auth,
                "X-Echo-Token": f"user={TOKEN}",
                "X-Echo-Secret": f"pw={SECRET}",
                "Content-Location": "https://files.example/x?Signature=s3cr3tsig",
            }
            return web.json_response(
                {"error_message": "Invalid lead ID."}, status=400, headers=echo
            )
        if tail == "leads/2":
            return web.json_response(
                {"error_message": "oops"}, status=500, headers={"X-Request-Id": "req-3"}
            )
        if tail == "leads/3":
            return web.Response(
                status=302,
                headers={
                    "Location": "https://storage.example/r.mp3?X-Signature=s3cr3tsig",
                    "X-Request-Id": "req-4",
                },
            )
        if tail.startswith("endpoint/"):
            echo = {
                "X-Echo-Url": str(request.url),
                "X-Echo-Path": request.path,
                "Content-Location": str(request.url),
                "X-Request-Id": "req-6",
            }
            return web.json_response({"error_message": "Bad row."}, status=400, headers=echo)
        if tail == "leads/4":
            return web.json_response(
                {"error_message": "Internal error."}, headers={"X-Request-Id": "req-5"}
            )
        return web.Response(status=418)

    async with serve(handler, "/api/v1/{tail:.*}") as url:
        yield f"{url}/api/v1/"


def _no_credentials(exc: APIError) -> None:
    shown = json.dumps(list(exc.headers.items())) + repr(exc.headers) + str(exc) + repr(exc)
    for secret in (TOKEN, SECRET, BASIC):
        assert secret not in shown
    assert "s3cr3tsig" not in shown


async def test_an_error_carries_the_answer_headers_without_credentials(hostile: str) -> None:
    async with WhatConverts(TOKEN, SECRET, base_url=hostile, retry_policy=FAST) as wc:
        with pytest.raises(NotFoundError) as caught:
            await wc.leads.get(1)
    exc = caught.value
    assert exc.headers["x-request-id"] == "req-2" and exc.headers["X-REQUEST-ID"] == "req-2"
    assert exc.headers["X-Echo-Authorization"] == "Basic <redacted>"
    assert exc.headers["x-echo-token"] == "user=<redacted>"
    assert exc.headers["x-echo-secret"] == "pw=<redacted>"
    assert exc.headers["content-location"] == "https://files.example/x (query hidden)"
    _no_credentials(exc)
    with pytest.raises(TypeError):
        exc.headers["x-request-id"] = "changed"  # type: ignore[index]
    # An error with headers survives pickling (error trackers, multiprocessing).
    assert pickle.loads(pickle.dumps(exc.headers))["X-Request-Id"] == "req-2"


async def test_server_errors_redirects_and_errors_in_200_carry_headers(hostile: str) -> None:
    async with WhatConverts(
        TOKEN, SECRET, base_url=hostile, retry_policy=FAST, max_retries=1
    ) as wc:
        with pytest.raises(ServerError) as server:
            await wc.leads.get(2)
        assert server.value.headers["x-request-id"] == "req-3"
        with pytest.raises(MalformedResponseError) as redirect:
            await wc.leads.get(3)
        assert redirect.value.headers["x-request-id"] == "req-4"
        assert redirect.value.headers["location"] == (
            "https://storage.example/r.mp3 (query hidden)"
        )
        _no_credentials(redirect.value)
        with pytest.raises(APIError) as in_200:
            await wc.leads.get(4)
        assert in_200.value.status == 200 and in_200.value.headers["x-request-id"] == "req-5"


async def test_pages_and_request_raw_expose_the_headers(hostile: str) -> None:
    async with WhatConverts(TOKEN, SECRET, base_url=hostile) as wc:
        page = await wc.leads.list(start_date=date(2025, 1, 1), end_date=date(2025, 1, 31))
        raw = await wc.request_raw("GET", "leads", params={"leads_per_page": 25})
    assert page.headers["x-ratelimit-remaining"] == "998"
    assert page.headers.getall("set-cookie") == ["a=1", "b=2"]
    assert "headers" not in repr(page) and "998" not in repr(page)
    assert raw.status == 200 and raw.data == EMPTY_PAGE
    assert raw.headers["X-Request-Id"] == "req-1"
    # Equality ignores where a page came from; copies keep the headers.
    same = Page(items=[], page_number=1, per_page=25, total_pages=1, total_items=0)
    assert page == same and dict(same.headers) == {}
    assert copy.deepcopy(page).headers["x-request-id"] == "req-1"
    assert pickle.loads(pickle.dumps(page)).headers["x-request-id"] == "req-1"


async def test_pages_of_a_scan_carry_the_simulator_headers() -> None:
    async with (
        FakeWhatConverts(leads=60, seed=2) as fake,
        WhatConverts(fake.token, fake.secret, base_url=fake.url) as wc,
    ):
        pages = [p async for p in wc.leads.iterate_pages(start_date=date(2000, 1, 1), per_page=25)]
        assert len(pages) >= 3
        for page in pages:
            assert page.headers["content-type"].startswith("application/json")
        accounts_error = None
        try:
            await wc.accounts.list()
        except APIError as exc:
            accounts_error = exc
        assert accounts_error is not None and "content-type" in accounts_error.headers


async def test_endpoint_errors_carry_headers_without_the_endpoint_url(hostile: str) -> None:
    secret_path = "endpoint/s3cr3t-endpoint-token"
    url = f"{hostile}{secret_path}?key=another-s3cr3t"
    row = OfflineLead(profile_id=1, date=date(2026, 3, 10))
    async with EndpointClient(url, retry_policy=FAST) as ep:
        with pytest.raises(APIError) as caught:
            await ep.send([row])
    headers = caught.value.headers
    assert headers["x-request-id"] == "req-6"
    shown = repr(headers) + str(caught.value)
    assert "s3cr3t-endpoint-token" not in shown and "another-s3cr3t" not in shown
    assert headers["x-echo-path"] == "<redacted>"
    assert headers["content-location"].startswith("http://127.0.0.1:")


def test_errors_built_by_hand_have_empty_headers() -> None:
    exc = APIError("x", status=500, method="GET", url="u")
    assert dict(exc.headers) == {} and len(exc.headers) == 0
    given = APIError("x", status=500, method="GET", url="u", headers={"X-A": "1"})
    assert given.headers["x-a"] == "1"
