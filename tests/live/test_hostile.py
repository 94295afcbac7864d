"""Hostile and malformed answers: each is a clear ``WhatConvertsError`` or is handled.

The simulator answers like the API; these tests need answers no API should give (broken
HTTP, bodies cut short, lying envelopes, redirects), so they talk to a tiny raw HTTP
server on loopback that sends exactly the bytes each test scripts. Every call is wrapped
in ``asyncio.wait_for``: a hang is a failure, not a slow pass.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest

from whatconverts_async import (
    APIConnectionError,
    APITimeoutError,
    MalformedResponseError,
    PaginationError,
    PermissionDeniedError,
    RetryPolicy,
    ServerError,
    WhatConverts,
    WhatConvertsError,
)
from whatconverts_async.testing import FakeWhatConverts

pytestmark = pytest.mark.filterwarnings("error")

UTC = timezone.utc
FAST = RetryPolicy(base_wait=0.005, max_wait=0.02)
T = TypeVar("T")

# Real lead records, so only the part a test breaks is wrong.
_DATA = FakeWhatConverts(
    leads=12,
    seed=7,
    start=datetime(2024, 1, 1, tzinfo=UTC),
    end=datetime(2024, 6, 1, tzinfo=UTC),
).data
LEADS: list[dict[str, Any]] = list(
    _DATA.iter_leads(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))
)


def http(
    status: int = 200,
    body: bytes | str | dict[str, Any] = b"",
    *,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
) -> bytes:
    """The bytes of one HTTP/1.1 answer (``content_length`` may lie on purpose)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} Whatever", "Connection: close"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(raw) if content_length is None else content_length}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + raw


def envelope(
    items: list[dict[str, Any]], *, page: int = 1, per_page: int = 2, **override: Any
) -> dict[str, Any]:
    total = override.pop("total", len(LEADS))
    body: dict[str, Any] = {
        "page_number": page,
        "leads_per_page": per_page,
        "total_pages": -(-total // per_page) if total else 0,
        "total_leads": total,
        "leads": items,
    }
    body.update(override)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()


def honest(page: int, per_page: int = 2) -> dict[str, Any]:
    return envelope(LEADS[(page - 1) * per_page : page * per_page], page=page, per_page=per_page)


Answer = Callable[[int, dict[str, str]], bytes | None]


class RawServer:
    """Answers request number ``n`` (1-based) with ``answer(n, query)``; None stalls."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._stalls: list[asyncio.Event] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        target = head.split(b" ", 2)[1].decode()
        self.requests.append(target)
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        data = self.answer(len(self.requests), query)
        try:
            if data is None:
                stall = asyncio.Event()
                self._stalls.append(stall)
                await stall.wait()
            else:
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api/v1/"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for stall in self._stalls:
            stall.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


def client(server: RawServer, **kwargs: Any) -> WhatConverts:
    kwargs.setdefault("max_retries", 2)
    return WhatConverts(
        "tok-hostile-0001", "secret-hostile-0001", base_url=server.url, retry_policy=FAST, **kwargs
    )


async def collect(wc: WhatConverts, **kwargs: Any) -> list[int]:
    async def run() -> list[int]:
        return [
            lead.lead_id
            async for lead in wc.leads.iterate(
                start_date=date(2024, 1, 1), end_date=date(2024, 12, 31), **kwargs
            )
        ]

    return await within(run())


def always(data: bytes) -> Answer:
    return lambda n, q: data


@pytest.fixture
async def make() -> AsyncIterator[Callable[[Answer], Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def start(answer: Answer) -> RawServer:
        server = RawServer(answer)
        await server.__aenter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.__aexit__(None, None, None)


Make = Callable[[Answer], Awaitable[RawServer]]


# --- bodies that are not what they claim ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "match"),
    [
        (b'{"leads": [', "application/json", "not JSON"),
        (b"\xff\xfe\x00garbage", "application/json", "not JSON"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "not JSON"),
        (b"", "application/json", "empty body"),
        (b"[1, 2, 3]", "application/json", "not an object"),
        (b'"just a string"', None, "not an object"),
    ],
)
async def test_unreadable_2xx_bodies_are_malformed_and_not_retried(
    make: Make, body: bytes, content_type: str | None, match: str
) -> None:
    server = await make(always(http(200, body, content_type=content_type)))
    async with client(server) as wc:
        with pytest.raises(MalformedResponseError, match=match) as info:
            await within(wc.leads.list(leads_per_page=2))
    assert info.value.status == 200
    assert len(server.requests) == 1  # an unreadable answer is not retried


async def test_a_json_body_with_the_wrong_content_type_is_still_read(make: Make) -> None:
    for ctype in ("text/plain", "text/html; charset=utf-8", None):
        server = await make(always(http(200, honest(1), content_type=ctype)))
        async with client(server) as wc:
            page = await within(wc.leads.list(leads_per_page=2))
        assert [lead.to_dict() for lead in page.items] == LEADS[:2]


async def test_a_body_cut_short_is_a_connection_error_that_is_retried(make: Make) -> None:
    whole = json.dumps(honest(1)).encode()
    cut = http(200, whole[:40], content_length=len(whole))

    server = await make(always(cut))
    async with client(server, max_retries=2) as wc:
        with pytest.raises(APIConnectionError, match="ClientPayloadError") as info:
            await within(wc.leads.list(leads_per_page=2))
    assert not isinstance(info.value, APITimeoutError)
    assert len(server.requests) == 3  # a read may be retried: nothing was processed twice

    # Cut once, whole the next time: the caller never notices.
    server = await make(lambda n, q: cut if n == 1 else http(200, honest(1)))
    async with client(server) as wc:
        page = await within(wc.leads.list(leads_per_page=2))
        assert wc.quota.used == len(server.requests) == 2
    assert [lead.lead_id for lead in page.items] == [lead["lead_id"] for lead in LEADS[:2]]


async def test_a_create_cut_short_is_not_retried(make: Make) -> None:
    cut = http(200, b'{"lead_id": 12', content_length=100)
    server = await make(always(cut))
    async with client(server) as wc:
        with pytest.raises(APIConnectionError) as info:
            await within(wc.leads.create(lead_type="web_form"))
    assert info.value.request_sent
    assert len(server.requests) == 1  # the lead may exist: never create it twice


async def test_html_error_pages_from_a_proxy(make: Make) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    server = await make(always(http(502, page, content_type="text/html")))
    async with client(server, max_retries=1) as wc:
        with pytest.raises(ServerError) as info:
            await within(wc.leads.list(leads_per_page=2))
    assert info.value.status == 502 and "Bad Gateway" in (info.value.body or "")
    assert info.value.error_message is None
    assert len(server.requests) == 2  # a 502 is transient: retried

    waf = http(403, "<h1>Access denied by WAF</h1>", content_type="text/html")
    server = await make(always(waf))
    async with client(server) as wc:
        with pytest.raises(PermissionDeniedError, match="Access denied"):
            await within(wc.leads.list(leads_per_page=2))
    assert len(server.requests) == 1


async def test_a_huge_body_is_refused_without_reading_it_all(make: Make) -> None:
    huge = b'{"leads": [' + b'"x",' * 250_000 + b'"x"]}'
    # Announced with Content-Length: refused before reading.
    server = await make(always(http(200, huge)))
    async with client(server, max_response_bytes=64_000) as wc:
        with pytest.raises(MalformedResponseError, match="larger than 64000 bytes"):
            await within(wc.leads.list(leads_per_page=2))
    assert len(server.requests) == 1

    # Not announced (read until the connection closes): refused once over the cap.
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    server = await make(always(head + huge))
    async with client(server, max_response_bytes=64_000) as wc:
        with pytest.raises(MalformedResponseError, match="larger than"):
            await within(wc.leads.list(leads_per_page=2))


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
    ],
)
async def test_a_non_http_answer_is_malformed_and_hides_the_request(make: Make, raw: bytes) -> None:
    server = await make(always(raw))
    async with client(server) as wc:
        with pytest.raises(MalformedResponseError, match="unreadable HTTP answer") as info:
            await within(wc.leads.list(leads_per_page=2))
    assert len(server.requests) == 1
    # aiohttp's own exception carries the request headers (Authorization included);
    # it must not be reachable from ours.
    assert info.value.__cause__ is None and info.value.__context__ is None


async def test_a_redirect_is_not_followed(make: Make) -> None:
    server = await make(
        always(http(302, "", headers={"Location": "https://elsewhere.example/login"}))
    )
    async with client(server) as wc:
        with pytest.raises(MalformedResponseError, match=r"redirected .*elsewhere\.example"):
            await within(wc.leads.list(leads_per_page=2))
        assert wc.quota.used == len(server.requests) == 1


async def test_an_answer_that_never_comes_times_out(make: Make) -> None:
    server = await make(lambda n, q: None)
    async with client(server, timeout=0.2, max_retries=1) as wc:
        with pytest.raises(APITimeoutError):
            await within(wc.leads.list(leads_per_page=2), 3.0)
    assert len(server.requests) == 2


# --- envelopes that lie -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"total_pages": _DROP}, "total_pages missing"),
        ({"total_pages": -3}, "total_pages must be >= 0"),
        ({"total_pages": "many"}, "total_pages must be an integer"),
        ({"total_pages": None}, "total_pages must be an integer"),
        ({"total_pages": 2.5}, "total_pages must be an integer"),
        ({"total_leads": _DROP}, "total_leads missing"),
        ({"leads": _DROP}, "leads missing"),
        ({"leads": {"a": 1}}, "leads must be an array"),
        ({"leads": [{"lead_id": "abc"}]}, r"leads\[0\]"),
        ({"leads": [None]}, r"leads\[0\]"),
    ],
)
async def test_broken_envelopes_are_malformed(
    make: Make, override: dict[str, Any], match: str
) -> None:
    server = await make(always(http(200, envelope(LEADS[:2], **override))))
    async with client(server) as wc:
        with pytest.raises(MalformedResponseError, match=match):
            await within(wc.leads.list(leads_per_page=2))
        with pytest.raises(MalformedResponseError, match=match):
            await collect(wc, per_page=2)


async def test_total_pages_as_a_numeric_string_is_read(make: Make) -> None:
    def answer(n: int, q: dict[str, str]) -> bytes:
        body = honest(int(q["page_number"]))
        body["total_pages"] = str(body["total_pages"])
        return http(200, body)

    server = await make(answer)
    async with client(server) as wc:
        assert await collect(wc, per_page=2) == [lead["lead_id"] for lead in LEADS]


@pytest.mark.parametrize(
    "override",
    [
        {"total_pages": 1},  # total says 6 pages of 2
        {"total_pages": 10**12},
        {"leads_per_page": 0},
    ],
)
async def test_contradicting_totals_stop_the_scan(make: Make, override: dict[str, Any]) -> None:
    server = await make(always(http(200, envelope(LEADS[:2], **override))))
    async with client(server) as wc:
        with pytest.raises(PaginationError):
            await collect(wc, per_page=2)
    assert len(server.requests) == 1  # found out from the first page, nothing more asked


async def test_an_absurd_but_consistent_total_cannot_run_away(make: Make) -> None:
    # 10**15 leads announced, yet every page holds the same two: the scan must notice
    # and stop after a bounded number of requests instead of asking for 4 * 10**14 pages.
    def answer(n: int, q: dict[str, str]) -> bytes:
        return http(200, envelope(LEADS[:2], page=int(q["page_number"]), total=10**15))

    server = await make(answer)
    async with client(server) as wc:
        with pytest.raises(PaginationError, match="kept changing"):
            await collect(wc, per_page=2, prefetch=4)
    assert len(server.requests) <= 4 * (1 + 4)


async def test_a_page_with_fewer_items_than_announced_is_not_silently_accepted(
    make: Make,
) -> None:
    def short(n: int, q: dict[str, str]) -> bytes:
        page = int(q["page_number"])
        body = honest(page)
        if page == 2:
            body["leads"] = body["leads"][:1]
        return http(200, body)

    server = await make(short)
    async with client(server) as wc:
        with pytest.raises(PaginationError, match="page 2 has 1 items, expected 2"):
            await collect(wc, per_page=2, prefetch=1)

    # Short only on the first reading (a replica catching up): the re-read settles it.
    def once(n: int, q: dict[str, str]) -> bytes:
        page = int(q["page_number"])
        body = honest(page)
        if page == 2 and n == 2:
            body["leads"] = body["leads"][:1]
        return http(200, body)

    server = await make(once)
    async with client(server) as wc:
        assert await collect(wc, per_page=2, prefetch=1) == [lead["lead_id"] for lead in LEADS]


async def test_a_page_holding_one_lead_twice_is_not_silently_accepted(make: Make) -> None:
    # Page 1 holds lead 0 twice and not lead 1; its count and the totals look right.
    def twice(n: int, q: dict[str, str]) -> bytes:
        page = int(q["page_number"])
        body = honest(page)
        if page == 1 and n <= limit:
            body["leads"] = [LEADS[0], LEADS[0]]
        return http(200, body)

    limit = 99
    server = await make(twice)
    async with client(server) as wc:
        with pytest.raises(PaginationError, match="page 1 holds the same item twice"):
            await collect(wc, per_page=2, prefetch=1)
    assert len(server.requests) == 4  # the window read again, within the bound

    # Only the first answer is wrong: the re-read yields every lead exactly once.
    limit = 1
    server = await make(twice)
    async with client(server) as wc:
        assert await collect(wc, per_page=2, prefetch=1) == [lead["lead_id"] for lead in LEADS]


async def test_a_server_ignoring_page_number_is_caught(make: Make) -> None:
    # Always page 1: without a check every later page would be dropped as repeats.
    server = await make(always(http(200, honest(1))))
    async with client(server) as wc:
        with pytest.raises(PaginationError, match="asked for page 2, the answer is page 1"):
            await collect(wc, per_page=2)


async def test_a_200_with_error_message_stops_a_scan(make: Make) -> None:
    def answer(n: int, q: dict[str, str]) -> bytes:
        page = int(q["page_number"])
        if page == 3:
            return http(200, {"error_message": "Something went wrong."})
        return http(200, honest(page))

    server = await make(answer)
    async with client(server) as wc:
        got: list[int] = []
        with pytest.raises(WhatConvertsError, match="Something went wrong"):

            async def run() -> None:
                async for lead in wc.leads.iterate(
                    start_date=date(2024, 1, 1), end_date=date(2024, 12, 31), per_page=2
                ):
                    got.append(lead.lead_id)

            await within(run())
    assert got == [lead["lead_id"] for lead in LEADS[:4]]  # a prefix, nothing skipped


# --- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2024-03-05T10:11:12Z", datetime(2024, 3, 5, 10, 11, 12, tzinfo=UTC)),
        ("2024-03-05 10:11:12", datetime(2024, 3, 5, 10, 11, 12, tzinfo=UTC)),
        ("2024-03-05T10:11:12+02:00", datetime(2024, 3, 5, 8, 11, 12, tzinfo=UTC)),
        ("2024-03-05T10:11:12-0500", datetime(2024, 3, 5, 15, 11, 12, tzinfo=UTC)),
        ("2024-03-05T10:11:12.250Z", datetime(2024, 3, 5, 10, 11, 12, 250000, tzinfo=UTC)),
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
    ],
)
async def test_timestamps_in_other_formats_are_read_as_utc(
    make: Make, wire: str, expected: datetime
) -> None:
    lead = {**LEADS[0], "date_created": wire}
    server = await make(always(http(200, envelope([lead], per_page=1, total=1))))
    async with client(server) as wc:
        page = await within(wc.leads.list(leads_per_page=1))
    (got,) = page.items
    assert got.date_created == expected and got.date_created.tzinfo is not None
    assert got.to_dict()["date_created"] == wire  # the export keeps what the API said


@pytest.mark.parametrize("wire", ["yesterday", "05/03/2024 10:11", 1709633472, "2024-13-45"])
async def test_unreadable_timestamps_are_malformed(make: Make, wire: Any) -> None:
    lead = {**LEADS[0], "date_created": wire}
    server = await make(always(http(200, envelope([lead], per_page=1, total=1))))
    async with client(server) as wc:
        with pytest.raises(MalformedResponseError, match="date_created"):
            await within(wc.leads.list(leads_per_page=1))


@pytest.mark.parametrize("absent", ["null", "missing"])
async def test_an_undated_lead_returned_for_every_window_is_not_duplicated(
    make: Make, absent: str, tmp_path: Any
) -> None:
    # A lead without date_created cannot be checked against its window; this server
    # returns it for every window of a two-window scan.
    undated = {**LEADS[1], "lead_id": 99}
    if absent == "null":
        undated["date_created"] = None
    else:
        del undated["date_created"]

    def per_window(n: int, q: dict[str, str]) -> bytes:
        start, end = (
            datetime.fromisoformat(q[k].replace("Z", "+00:00")) for k in ("start_date", "end_date")
        )
        dated = [
            lead
            for lead in LEADS
            if start <= datetime.fromisoformat(lead["date_created"].replace("Z", "+00:00")) <= end
        ]
        return http(200, envelope([*dated, undated], per_page=100, total=len(dated) + 1))

    range_ = {"start_date": date(2023, 1, 1), "end_date": date(2024, 12, 31)}
    server = await make(per_window)
    got: list[int] = []
    async with client(server) as wc:
        assert len(wc.leads.plan_scan(**range_).windows) == 2
        with pytest.raises(PaginationError, match="lead 99 has no date_created and came back"):
            async for lead in wc.leads.iterate(**range_, per_page=100):
                got.append(lead.lead_id)
    assert got == [99]  # the first window holds no dated lead; 99 once, then a loud stop

    from whatconverts_async.export import export_leads

    out = tmp_path / "leads.jsonl"
    server = await make(per_window)
    async with client(server) as wc:
        with pytest.raises(PaginationError, match="lead 99 has no date_created"):
            await within(export_leads(wc, out, **range_, per_page=100, format="jsonl"))
    written = [json.loads(line)["lead_id"] for line in out.read_text().splitlines()]
    assert written == [99]  # the first window's page, then the loud stop
