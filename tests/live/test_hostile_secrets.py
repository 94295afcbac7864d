"""A hostile server echoing the credentials back in every practical form and place: none of
it may reach an error's text, repr, attributes or headers, a page's headers, or the locals
of a traceback rendered with them (chain included).

Out of scope, on purpose: a secret split by invisible characters (a zero-width space) or
encoded twice is not recognised.
"""

from __future__ import annotations

import base64
import gzip
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from whatconverts_async import (
    InvalidParameterError,
    MalformedResponseError,
    RateLimitError,
    WhatConverts,
    WhatConvertsError,
)

from ._support import rendered_with_locals

TOKEN = "tok_live_9f8e7d6c5b4a"
SECRET = "sek_Zx81QmW5pL0vR3tY7uN2"
BASIC = base64.b64encode(f"{TOKEN}:{SECRET}".encode()).decode()
PAGE = {"page_number": 1, "leads_per_page": 10, "total_pages": 1, "total_leads": 0, "leads": []}

Reply = Callable[[str], web.StreamResponse]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _fragments(value: str, n: int = 12) -> set[str]:
    return {value[i : i + n] for i in range(len(value) - n + 1)}


# Every 12-character piece of the credentials and of their base64 forms, compared without
# regard to case: a piece of one showing is a leak.
NEEDLES = {
    piece.lower()
    for value in (TOKEN, SECRET, BASIC, _b64(TOKEN), _b64(SECRET))
    for piece in _fragments(value)
}


def _rendered(exc: BaseException) -> str:
    return rendered_with_locals(exc, skip_file=__file__)


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return sorted(needle for needle in NEEDLES if needle in lowered)


async def _serve(reply: Reply) -> TestServer:
    async def handler(request: web.Request) -> web.StreamResponse:
        return reply(request.headers.get("Authorization", ""))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def _error(reply: Reply, **options: Any) -> WhatConvertsError:
    server = await _serve(reply)
    try:
        base = str(server.make_url("/api/v1/"))
        async with WhatConverts(TOKEN, SECRET, base_url=base, max_retries=0, **options) as wc:
            with pytest.raises(WhatConvertsError) as caught:
                await wc.leads.list(start_date="2025-01-01", end_date="2025-01-02")
    finally:
        await server.close()
    return caught.value


def _json(body: Any, status: int = 200, **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


ECHOES: dict[str, Reply] = {
    # 1. a redirect target: user info, path and query
    "redirect_userinfo_path": lambda auth: _redirect(
        f"http://{TOKEN}:{SECRET}@evil.example/{SECRET}/x"
    ),
    "redirect_query": lambda auth: _redirect(f"http://evil.example/steal?auth={auth}"),
    "redirect_same_host_path": lambda auth: _redirect(f"/api/v1/{SECRET}/{_b64(TOKEN)}"),
    # 2. the raw body of every error status (traceback locals)
    "json_401": lambda auth: _json({"error_message": f"bad credentials {auth}"}, 401),
    "html_500": lambda auth: web.Response(
        text=f"<html>proxy error: you sent {auth}</html>", status=500, content_type="text/html"
    ),
    "error_in_200": lambda auth: _json({"error_message": f"bad {SECRET}"}),
    "decoded_401": lambda auth: _json(
        {"error_message": "user " + base64.b64decode(auth[6:]).decode()}, 401
    ),
    # 3. a field value quoted in a message
    "lead_id": lambda auth: _json({**PAGE, "total_leads": 1, "leads": [{"lead_id": "x" + SECRET}]}),
    "total_pages": lambda auth: _json({**PAGE, "total_pages": SECRET}),
    "long_lead_id": lambda auth: _json(
        {**PAGE, "total_leads": 1, "leads": [{"lead_id": "z" * 70 + SECRET}]}
    ),
    "total_pages_long": lambda auth: _json({**PAGE, "total_pages": "z" * 70 + SECRET}),
    # 4. a secret straddling the excerpt's cut
    "cut_basic": lambda auth: web.Response(text="x" * 185 + auth + " tail", status=502),
    "cut_secret": lambda auth: web.Response(text="y" * 190 + SECRET + " tail", status=400),
    "cut_after_blanks": lambda auth: web.Response(
        text="a" + " \n" * 5000 + "y" * 195 + SECRET, status=400
    ),
    # 5. encodings, and headers
    "percent_encoded": lambda auth: _json(
        {"error_message": "auth=" + urllib.parse.quote(auth, safe="")}, 403
    ),
    "percent_plus": lambda auth: _json({"error_message": urllib.parse.quote_plus(auth)}, 403),
    "base64_alone": lambda auth: _json({"error_message": _b64(SECRET) + " " + _b64(TOKEN)}, 403),
    "lower_upper": lambda auth: _json({"error_message": SECRET.lower() + TOKEN.upper()}, 400),
    "header_name": lambda auth: _json({"error_message": "denied"}, 403, **{"X-" + SECRET: "1"}),
    "header_encoded": lambda auth: _json(
        {"error_message": "denied"},
        403,
        **{"X-Echo": auth.replace("=", "%3D"), "X-B64": _b64(SECRET), "X-Low": SECRET.lower()},
    ),
    "header_url_userinfo": lambda auth: _json(
        {"error_message": "denied"},
        403,
        **{"Content-Location": f"https://{TOKEN}:{SECRET}@api.example/{SECRET}/x"},
    ),
}


@pytest.mark.parametrize("mode", sorted(ECHOES))
async def test_echoed_credentials_show_nowhere(mode: str) -> None:
    error = await _error(ECHOES[mode])
    text = _rendered(error)
    assert "Traceback" in text  # the locals were really rendered
    assert leaks(text) == [], f"{mode}: {str(error)[:300]}"


async def test_a_redirect_target_keeps_host_and_says_what_was_hidden() -> None:
    error = await _error(ECHOES["redirect_userinfo_path"])
    assert isinstance(error, MalformedResponseError)
    assert "http://evil.example/<redacted>/x (user info hidden)" in str(error)
    assert "@" not in str(error)


async def test_an_excerpt_is_cut_after_redaction_and_still_short() -> None:
    error = await _error(ECHOES["cut_secret"])
    assert error.body is not None  # type: ignore[attr-defined]
    body = error.body  # type: ignore[attr-defined]
    assert body.startswith("y" * 190 + "<redacte")
    assert len(body) <= 201 and body.endswith("…")


async def test_page_headers_are_scrubbed_of_every_form() -> None:
    headers = {
        "X-Echo": "",
        "X-Echo-Enc": "",
        "X-Sec-B64": _b64(SECRET),
        "X-Lower": SECRET.lower(),
        "X-Token-Upper": TOKEN.upper(),
        "X-" + SECRET: "name",
    }

    def page(auth: str) -> web.Response:
        echoes = {**headers, "X-Echo": auth, "X-Echo-Enc": urllib.parse.quote(auth, safe="")}
        return web.json_response(PAGE, headers=echoes)

    server = await _serve(page)
    try:
        base = str(server.make_url("/api/v1/"))
        async with WhatConverts(TOKEN, SECRET, base_url=base) as wc:
            got = await wc.leads.list(start_date="2025-01-01", end_date="2025-01-02")
    finally:
        await server.close()
    shown = repr(list(got.headers.items()))
    assert leaks(shown) == [], shown
    assert got.headers["x-sec-b64"] == "<redacted>"
    assert got.headers["x-echo-enc"].startswith("Basic%20<redacted>")
    assert got.headers["x-<redacted>"] == "name"


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:9/api/v1/?key=proxyPassw0rdXYZ",
        "http://127.0.0.1:9/api/v1/#proxyPassw0rdXYZ",
        "http://127.0.0.1:9/api/v1/?",
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused(base_url: str) -> None:
    with pytest.raises(InvalidParameterError, match="base_url") as caught:
        WhatConverts(TOKEN, SECRET, base_url=base_url)
    # The caller's own argument is among the constructor's locals; the error text is not.
    assert "proxyPassw0rdXYZ" not in str(caught.value) + repr(caught.value)


async def test_an_undecodable_compressed_body_reports_its_real_status() -> None:
    def bad_gzip(auth: str) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=b"not gzip at all", status=200, headers=headers)

    error = await _error(bad_gzip)
    assert isinstance(error, MalformedResponseError)
    assert error.status == 200 and "(status 200)" in str(error)
    assert "empty body" not in str(error)


async def test_a_body_over_the_cap_says_so() -> None:
    big = gzip.compress(b" " * 200_000)

    def huge(auth: str) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=big, headers=headers)

    error = await _error(huge, max_response_bytes=64_000)
    assert isinstance(error, MalformedResponseError)
    assert "max_response_bytes" in str(error) and "64000 bytes" in str(error)
    assert "empty body" not in str(error)


@pytest.mark.parametrize("value", ["\u0661", "\u0665", "1_0", "\uff11"])
async def test_a_retry_after_not_in_ascii_digits_is_unreadable(value: str) -> None:
    def limited(auth: str) -> web.Response:
        return _json({"error_message": "slow down"}, 429, **{"Retry-After": value})

    server = await _serve(limited)
    try:
        base = str(server.make_url("/api/v1/"))
        async with WhatConverts(TOKEN, SECRET, base_url=base, max_retries=0) as wc:
            with pytest.raises(RateLimitError) as caught:
                await wc.leads.list(start_date="2025-01-01", end_date="2025-01-02")
    finally:
        await server.close()
    assert caught.value.retry_after is None
