"""The simulator's outbound webhooks: POST lead JSON to your server, like WhatConverts does.

Every :class:`~whatconverts_async.testing.FakeWhatConverts` has a :class:`WebhookSender` at
``fake.webhooks``. Subscribe a URL and every lead created (``"new"``) or edited
(``"update"``) through the simulated API or an inbound Endpoint is delivered to it in the
background: the lead's wire object plus ``"trigger"``. Or send one delivery yourself with
``await fake.send_webhook(url, lead_id)``.

Example::

    received = []

    async def on_lead(event):
        received.append(event)

    server = TestServer(webhook_app(on_lead, shared_secret="s3cret"))
    await server.start_server()
    fake.webhooks.subscribe(str(server.make_url("/")) + "?secret=s3cret")
    lead_id = await wc.leads.create(lead_type="web_form", contact_name="Jane")
    await fake.webhooks.drain()          # wait for background deliveries
    assert received[0].lead_id == lead_id
    assert fake.webhooks.deliveries[0].status == 200

What WhatConverts leaves undocumented, as simulated: the body is the full lead (also for
updates, unless ``Realism(update_webhooks="partial")`` asks for only the changed fields),
``trigger`` comes first; a delivery is attempted ``max_attempts`` times (default 1)
until it gets a 2xx answer; no signature header is sent.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
import attrs

from .data import LEAD_TYPES

__all__ = ["WebhookDelivery", "WebhookSender", "WebhookSubscription"]

TRIGGERS = ("new", "update")


@attrs.frozen
class WebhookSubscription:
    """Where and what the simulator delivers (``fake.webhooks.subscribe(...)``).

    ``lead_types`` holds display strings (``"Phone Call"``), or is ``None`` for every type.
    """

    url: str
    triggers: frozenset[str]
    lead_types: frozenset[str] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    max_attempts: int = 1
    retry_delay: float = 0.05


@attrs.frozen
class WebhookDelivery:
    """One delivery attempt: where, what, and the answer (``status`` None: no answer)."""

    url: str
    trigger: str
    lead_id: int | None
    body: bytes
    status: int | None
    error: str | None = None
    attempt: int = 1

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def payload(self) -> Any:
        """The body decoded from JSON (``None`` when it was not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class WebhookSender:
    """Delivers lead webhooks from the simulator to subscribed URLs.

    ``lead_source`` returns a lead's wire dict by id (the simulator passes its data set).
    """

    def __init__(
        self,
        lead_source: Callable[[int], Mapping[str, Any]],
        *,
        timeout: float = 10.0,
        partial_updates: bool = False,
    ) -> None:
        self._lead_source = lead_source
        self.timeout = timeout
        self.partial_updates = partial_updates
        """Send ``update`` deliveries with only ``lead_id`` and the changed fields."""
        self._subscriptions: list[WebhookSubscription] = []
        self._deliveries: list[WebhookDelivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # --- configuration -------------------------------------------------------------

    def subscribe(
        self,
        url: str,
        *,
        triggers: Iterable[str] = TRIGGERS,
        lead_types: Iterable[str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_attempts: int = 1,
        retry_delay: float = 0.05,
    ) -> WebhookSubscription:
        """Deliver matching lead events to ``url`` from now on; returns the subscription.

        ``triggers``: ``"new"`` and/or ``"update"``. ``lead_types``: snake (``"web_form"``)
        or display (``"Web Form"``) names; ``None`` means all. ``headers`` are added to each
        POST (WhatConverts itself sends none; put a secret in the URL's query instead).
        """
        wanted = frozenset(triggers)
        unknown = wanted - set(TRIGGERS)
        if not wanted or unknown:
            raise ValueError(f"triggers must be among {TRIGGERS}, got {sorted(wanted)}")
        types: frozenset[str] | None = None
        if lead_types is not None:
            names = set()
            for name in lead_types:
                if name in LEAD_TYPES:
                    names.add(LEAD_TYPES[name])
                elif name in LEAD_TYPES.values():
                    names.add(name)
                else:
                    raise ValueError(f"unknown lead type {name!r}")
            types = frozenset(names)
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        subscription = WebhookSubscription(
            url=url,
            triggers=wanted,
            lead_types=types,
            headers=tuple((headers or {}).items()),
            max_attempts=max_attempts,
            retry_delay=retry_delay,
        )
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: WebhookSubscription) -> None:
        """Stop delivering to ``subscription``."""
        self._subscriptions.remove(subscription)

    @property
    def subscriptions(self) -> list[WebhookSubscription]:
        """Current subscriptions."""
        return list(self._subscriptions)

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every delivery attempt so far, in completion order."""
        return list(self._deliveries)

    @property
    def pending(self) -> int:
        """Background deliveries not finished yet."""
        return len(self._tasks)

    # --- sending -------------------------------------------------------------------

    def payload_for(
        self, lead_id: int, trigger: str, changed: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The body WhatConverts would send: ``{"trigger": ..., **lead}``.

        With ``partial_updates`` and ``changed`` (field names) given for an ``update``,
        the body holds only ``trigger``, ``lead_id`` and those fields (current values).
        """
        lead = copy.deepcopy(dict(self._lead_source(lead_id)))
        lead.pop("trigger", None)
        if self.partial_updates and trigger == "update" and changed is not None:
            keep = {"lead_id", *changed}
            lead = {k: v for k, v in lead.items() if k in keep}
        return {"trigger": trigger, **lead}

    async def send(
        self,
        url: str,
        lead_id: int | None = None,
        *,
        trigger: str = "new",
        body: bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebhookDelivery:
        """POST one delivery to ``url`` now and return it (also recorded in ``deliveries``).

        The body is the lead ``lead_id`` with ``trigger``, or ``body`` as given (a dict is
        sent as JSON, bytes as they are; for testing receivers with odd deliveries).
        """
        if body is None:
            if lead_id is None:
                raise ValueError("give lead_id or body")
            raw = json.dumps(self.payload_for(lead_id, trigger)).encode()
        elif isinstance(body, (bytes, bytearray)):
            raw = bytes(body)
        else:
            raw = json.dumps(dict(body)).encode()
        return await self._post(url, raw, trigger, lead_id, dict(headers or {}), 1)

    async def _post(
        self,
        url: str,
        raw: bytes,
        trigger: str,
        lead_id: int | None,
        headers: dict[str, str],
        attempt: int,
    ) -> WebhookDelivery:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(
                url,
                data=raw,
                headers={"Content-Type": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = type(exc).__name__
        delivery = WebhookDelivery(
            url=url,
            trigger=trigger,
            lead_id=lead_id,
            body=raw,
            status=status,
            error=error,
            attempt=attempt,
        )
        self._deliveries.append(delivery)
        return delivery

    def notify(self, lead_id: int, trigger: str, changed: Iterable[str] | None = None) -> None:
        """Schedule deliveries of ``lead_id`` to every subscription that wants ``trigger``.

        Called by the simulator when a lead is created or edited (``changed`` names the
        edited fields, used by ``partial_updates``); needs a running loop.
        """
        if not self._subscriptions:
            return
        lead = self._lead_source(lead_id)
        for subscription in self._subscriptions:
            if trigger not in subscription.triggers:
                continue
            types = subscription.lead_types
            if types is not None and lead.get("lead_type") not in types:
                continue
            raw = json.dumps(self.payload_for(lead_id, trigger, changed)).encode()
            task = asyncio.get_running_loop().create_task(
                self._deliver(subscription, raw, trigger, lead_id)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, subscription: WebhookSubscription, raw: bytes, trigger: str, lead_id: int
    ) -> None:
        for attempt in range(1, subscription.max_attempts + 1):
            delivery = await self._post(
                subscription.url, raw, trigger, lead_id, dict(subscription.headers), attempt
            )
            if delivery.ok:
                return
            if attempt < subscription.max_attempts:
                await asyncio.sleep(subscription.retry_delay)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every scheduled delivery has finished (``TimeoutError`` after ``timeout``)."""

        async def wait_all() -> None:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

        await asyncio.wait_for(wait_all(), timeout)

    async def close(self) -> None:
        """Cancel pending deliveries and close the HTTP session; safe to call twice."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
