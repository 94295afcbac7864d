"""Small loopback servers several suites share: a forward proxy and a server that hangs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

_HOP = {"host", "proxy-connection", "proxy-authorization", "content-length", "transfer-encoding"}


@asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    route: str = "/{tail:.*}",
) -> AsyncIterator[str]:
    """Serve ``handler`` for every method on ``route`` (every path by default; its
    ``{tail}`` is in ``request.match_info``); yields ``http://127.0.0.1:PORT``."""
    app = web.Application()
    app.router.add_route("*", route, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def forward_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP forward proxy: yields its URL and the ``METHOD absolute-URL`` of each
    request it received (a proxy is sent the absolute form, ``GET http://host/path``)."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        target = request.raw_path if request.raw_path.startswith("http") else None
        seen.append(f"{request.method} {target or request.raw_path}")
        if target is None:
            return web.Response(status=400, text="not a proxy request")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.request(
                request.method,
                target,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer,
        ):
            body = await answer.read()
            return web.Response(
                status=answer.status, body=body, headers={"Content-Type": answer.content_type}
            )

    async with serve(forward) as url:
        yield url, seen


@asynccontextmanager
async def hanging_server(record: str = "path") -> AsyncIterator[tuple[str, list[str]]]:
    """A server that takes every request and never answers: yields its URL and, per
    request, its ``path`` (or ``method`` with ``record="method"``)."""
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.method if record == "method" else request.path)
        await release.wait()
        return web.json_response({})

    async with serve(handler) as url:
        try:
            yield url, seen
        finally:
            release.set()
