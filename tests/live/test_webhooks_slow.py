"""Slow and vanishing webhook senders over real loopback connections: bounded, and quiet."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from aiohttp import web

from whatconverts_async.errors import InvalidParameterError
from whatconverts_async.webhooks import WebhookEvent, serve_webhooks, webhook_app

LEAD = json.dumps({"trigger": "new", "lead_id": 123, "lead_type": "Chat"}).encode()


def _port_and_path(url: str) -> tuple[int, str]:
    rest = url.split("://", 1)[1]
    host_port, path = rest.split("/", 1)
    return int(host_port.rsplit(":", 1)[1]), "/" + path


def _head(path: str, length: int) -> bytes:
    return (
        f"POST {path}?secret=s3cret HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def _trickle(port: int, path: str, stop: asyncio.Event) -> tuple[bytes, float]:
    """Send a head, then one body byte every 0.1 s; returns (what the server answered,
    seconds until the server closed the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(_head(path, 100_000))
    await writer.drain()

    async def drip() -> None:
        while not stop.is_set():
            try:
                writer.write(b" ")
                await writer.drain()
            except ConnectionError:
                return
            await asyncio.sleep(0.1)

    dripping = asyncio.create_task(drip())
    try:
        answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes
        return answer, time.monotonic() - started
    finally:
        stop.set()
        await dripping
        writer.close()


async def test_a_trickled_body_gets_408_and_its_connection_closed() -> None:
    got: list[int] = []

    async def on_lead(event: WebhookEvent) -> None:
        got.append(event.lead_id)

    async with serve_webhooks(
        on_lead, port=0, shared_secret="s3cret", body_timeout=0.6, header_timeout=5
    ) as url:
        port, path = _port_and_path(url)
        stop = asyncio.Event()
        results = await asyncio.gather(*(_trickle(port, path, stop) for _ in range(5)))
        for answer, seconds in results:
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
            assert b"body not received within 0.6 s" in answer
            assert 0.5 < seconds < 3.0  # closed right after the answer, no lingering
        # A delivery sent at once is still served on the same server.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_head(path, len(LEAD)) + LEAD)
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200 ")
        writer.close()
    assert got == [123]


async def test_slow_headers_are_cut_off_by_the_header_timeout() -> None:
    async def on_lead(event: WebhookEvent) -> None:
        raise AssertionError("no request was complete")

    async with serve_webhooks(on_lead, port=0, header_timeout=0.5) as url:
        port, path = _port_and_path(url)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode())
        await writer.drain()

        async def drip() -> None:
            for _ in range(100):
                await asyncio.sleep(0.1)
                try:
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()
                except ConnectionError:
                    return

        dripping = asyncio.create_task(drip())
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without an answer
        assert time.monotonic() - started < 3.0
        dripping.cancel()
        writer.close()


async def test_a_sender_vanishing_mid_body_is_logged_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def on_lead(event: WebhookEvent) -> None:
        raise AssertionError("the body never arrived")

    caplog.set_level(logging.DEBUG)
    async with serve_webhooks(on_lead, port=0) as url:
        port, path = _port_and_path(url)
        for _ in range(3):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_head(path, 1000) + b'{"lead_id": 1')
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.close()
            await writer.wait_closed()
        await asyncio.sleep(0.3)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    assert not any(r.exc_info for r in caplog.records)
    quiet = [r for r in caplog.records if "disconnected before the body" in r.getMessage()]
    assert len(quiet) == 3 and all(r.levelno == logging.DEBUG for r in quiet)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "30", True, None])
async def test_timeouts_are_checked(value: object) -> None:
    async def noop(event: WebhookEvent) -> None:
        return None

    with pytest.raises(InvalidParameterError, match="body_timeout"):
        webhook_app(noop, body_timeout=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="header_timeout"):
        async with serve_webhooks(noop, port=0, header_timeout=value):  # type: ignore[arg-type]
            raise AssertionError("must not start")


async def test_a_mounted_handler_keeps_its_body_timeout() -> None:
    async def on_lead(event: WebhookEvent) -> None:
        raise AssertionError("the body never arrived")

    parent = web.Application()
    parent.add_subapp("/hooks/", webhook_app(on_lead, body_timeout=0.4))
    runner = web.AppRunner(parent)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        answer, seconds = await _trickle(port, "/hooks/", asyncio.Event())
        assert answer.startswith(b"HTTP/1.1 408 ") and seconds < 3.0
    finally:
        await runner.cleanup()
