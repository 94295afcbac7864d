"""An aiohttp service with one shared WhatConverts client for the app's whole life.

- ``GET /leads/{lead_id}`` answers the lead as the API's JSON (404 if there is none).
- ``POST /hooks/whatconverts?secret=...`` receives WhatConverts webhooks.

The client is opened in the app's ``cleanup_ctx`` (its lifespan), so every request shares
one HTTP session, one daily budget and one throttle, and the session is closed on shutdown.

Run it::

    export WHATCONVERTS_API_TOKEN=... WHATCONVERTS_API_SECRET=... WHATCONVERTS_WEBHOOK_SECRET=...
    python examples/service.py --port 8080

Or try it against the built-in simulator (starts it, calls both routes, exits)::

    python examples/service.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from whatconverts_async import InvalidParameterError, Lead, NotFoundError, WhatConverts
from whatconverts_async.testing import FakeWhatConverts
from whatconverts_async.webhooks import WebhookEvent, webhook_handler

CLIENT = web.AppKey("client", WhatConverts)
# lead_id -> the latest Lead a webhook brought
RECEIVED = web.AppKey("received", dict[int, Lead])


async def get_lead(request: web.Request) -> web.Response:
    """``GET /leads/{lead_id}``: one lead through the shared client."""
    try:
        lead = await request.app[CLIENT].leads.get(int(request.match_info["lead_id"]))
    except (ValueError, InvalidParameterError):
        raise web.HTTPBadRequest(text="lead_id must be a positive integer") from None
    except NotFoundError:
        raise web.HTTPNotFound(text="no such lead") from None
    return web.json_response(lead.to_dict())


def make_app(client: Callable[[], WhatConverts], webhook_secret: str) -> web.Application:
    """The service; ``client`` builds the WhatConverts client when the app starts."""
    app = web.Application()
    received: dict[int, Lead] = {}
    app[RECEIVED] = received

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with client() as wc:
            app[CLIENT] = wc
            yield

    async def on_lead(event: WebhookEvent) -> None:
        # Deliveries may repeat; keeping the latest copy per lead makes that harmless.
        received[event.lead.lead_id] = event.lead

    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/leads/{lead_id}", get_lead)
    app.router.add_route(
        "*", "/hooks/whatconverts", webhook_handler(on_lead, shared_secret=webhook_secret)
    )
    return app


async def demo() -> None:
    """Start the simulator and the service on loopback, and use both routes."""
    hook_secret = secrets.token_urlsafe(16)
    async with FakeWhatConverts(leads=200, seed=1) as fake:

        def client() -> WhatConverts:
            return WhatConverts(fake.token, fake.secret, base_url=fake.url)

        app = make_app(client, hook_secret)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            lead_id = fake.data.lead_ids()[0]
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/leads/{lead_id}") as resp:
                    body = await resp.json()
                    assert resp.status == 200 and body["lead_id"] == lead_id, resp.status
                async with http.get(f"{base}/leads/999999999") as resp:
                    assert resp.status == 404, resp.status
            # WhatConverts calls us back when a lead changes: subscribe, then edit a lead.
            fake.webhooks.subscribe(f"{base}/hooks/whatconverts?secret={hook_secret}")
            async with client() as wc:
                await wc.leads.update(lead_id, quotable="yes", sales_value=750)
            await fake.webhooks.drain()
            received: dict[int, Lead] = app[RECEIVED]
            assert lead_id in received, "the webhook did not arrive"
            print(f"served lead {lead_id}; webhook received for {sorted(received)}")
        finally:
            await runner.cleanup()
    print("demo ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run against the simulator")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    if args.demo:
        asyncio.run(demo())
        return
    app = make_app(WhatConverts.from_env, os.environ["WHATCONVERTS_WEBHOOK_SECRET"])
    # Access logs would record the ?secret= of each webhook URL: keep them off.
    web.run_app(app, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
