"""Receiving WhatConverts webhooks: parse a delivery, or serve them with aiohttp.

WhatConverts POSTs a JSON object to your URL when a lead is created or updated: the lead
(the same vocabulary as ``GET leads``) plus ``"trigger"`` (``"new"``, ``"update"``, ...).
:func:`parse_webhook` turns such a body into a :class:`WebhookEvent` holding a
:class:`~whatconverts_async.models.Lead`; :func:`webhook_app` and :func:`webhook_handler`
serve deliveries with aiohttp and call your coroutine once per delivery.

>>> event = parse_webhook(b'{"trigger": "new", "lead_id": 153928, "lead_type": "Chat",'
...                       b' "last_updated": "2025-02-01T14:10:00Z", "lead_state": "In Progess"}')
>>> event.trigger, event.lead.lead_id, event.lead.lead_type, event.in_progress
(<WebhookTrigger.NEW: 'new'>, 153928, <LeadType.CHAT: 'Chat'>, True)
>>> event.key  # doctest: +ELLIPSIS
'153928:new:2025-02-01T14:10:00Z:sha256-...'

Serving them (see :func:`webhook_app` for the status codes)::

    async def on_lead(event: WebhookEvent) -> None:
        if await seen_before(event.key):   # WhatConverts may deliver twice
            return
        await save(event.lead)

    app = webhook_app(on_lead, shared_secret=os.environ["WEBHOOK_SECRET"])
    web.run_app(app, port=8080)

WhatConverts signs nothing, so the only authentication available is a secret you put into
the webhook URL you configure (``https://you.example/hooks?secret=...``) or, behind a proxy
that can add headers, an ``X-Webhook-Secret`` header. Query strings end up in access logs:
run the server with ``access_log=None`` or a format without the request line (``%r``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from . import _json
from .convert import format_timestamp, structure_lead, unstructure_lead
from .errors import InvalidJSONError, InvalidParameterError, WebhookError
from .models import Lead
from .vocab import MAX_ID

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "MAX_DEPTH",
    "SECRET_HEADER",
    "SECRET_QUERY_PARAMETER",
    "WebhookError",
    "WebhookEvent",
    "WebhookHandler",
    "WebhookTrigger",
    "parse_webhook",
    "serve_webhooks",
    "webhook_app",
    "webhook_handler",
]

logger = logging.getLogger("whatconverts_async.webhooks")

DEFAULT_MAX_BODY = 1024 * 1024
"""Largest delivery body accepted by :func:`webhook_app` (1 MiB); larger ones get 413."""

DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds a delivery's body may take to arrive in full (from the end of its headers);
a slower one gets 408 and its connection is closed, so trickling clients cannot hold
connections open."""

DEFAULT_HEADER_TIMEOUT = 30.0
"""Seconds :func:`serve_webhooks` waits for a complete request head on a connection (from
its start or the previous answer) before closing it: aiohttp's ``keepalive_timeout``."""

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a delivery body (a lead needs 3)."""

SECRET_QUERY_PARAMETER = "secret"
"""Query parameter that may carry the shared secret (``?secret=...``)."""

SECRET_HEADER = "X-Webhook-Secret"
"""Header that may carry the shared secret."""

WebhookHandler = Callable[["WebhookEvent"], Awaitable[object]]
"""Your coroutine function: called with each :class:`WebhookEvent`; its result is ignored."""

_IN_PROGRESS = frozenset({"in progress", "in progess"})  # the docs' own spelling too


class WebhookTrigger(str, enum.Enum):
    """Why a webhook was sent. Compares equal to the wire string.

    ``"new"`` is documented; ``"update"`` is the presumed value of the Update Lead trigger.
    A value this list does not know is kept as a plain ``str`` on
    :attr:`WebhookEvent.trigger`.

    >>> WebhookTrigger.NEW == "new"
    True
    """

    NEW = "new"
    UPDATE = "update"

    def __str__(self) -> str:
        return str(self.value)


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """One webhook delivery: the ``trigger`` and the :class:`~whatconverts_async.models.Lead`.

    ``trigger`` is not a lead field: it is taken out of the body, so ``event.lead.extra`` holds
    only the lead's unknown fields, and :meth:`to_dict` puts it back. ``trigger`` is ``None``
    when the body has none.

    >>> event = parse_webhook('{"trigger": "update", "lead_id": 7, "sales_value": 750}')
    >>> event.trigger == "update", event.lead.sales_value, event.to_dict()
    (True, Decimal('750'), {'trigger': 'update', 'lead_id': 7, 'sales_value': 750})
    """

    trigger: WebhookTrigger | str | None
    lead: Lead

    @property
    def lead_id(self) -> int:
        """The lead's id (``event.lead.lead_id``)."""
        return self.lead.lead_id

    @property
    def key(self) -> str:
        """A key equal for repeated deliveries of the same event, to drop duplicates.

        ``"<lead_id>:<trigger>:<last_updated>:<digest>"``, the digest being of the whole
        body: a redelivery (same body) matches, while two different updates of one lead
        never do, even within the same second or with an unchanged ``last_updated``.

        >>> parse_webhook('{"trigger": "new", "lead_id": 1}').key  # doctest: +ELLIPSIS
        '1:new::sha256-...'
        """
        trigger = "" if self.trigger is None else str(self.trigger)
        stamp = self.lead.last_updated
        when = "" if stamp is None else format_timestamp(stamp)
        body = json.dumps(self.to_dict(), sort_keys=True, default=str, ensure_ascii=True)
        digest = hashlib.sha256(body.encode()).hexdigest()[:32]
        return f"{self.lead.lead_id}:{trigger}:{when}:sha256-{digest}"

    @property
    def in_progress(self) -> bool:
        """True when ``lead_state`` or ``call_status`` says the lead is still in progress.

        Accepts the documentation's own spelling ``"In Progess"`` besides ``"In Progress"``.
        """
        for value in (self.lead.lead_state, self.lead.call_status):
            if isinstance(value, str) and value.strip().lower() in _IN_PROGRESS:
                return True
        return False

    @classmethod
    def from_dict(cls, payload: Any) -> WebhookEvent:
        """Build the event from an already decoded body (for frameworks that decode JSON).

        Same rules and the same :class:`WebhookError` as :func:`parse_webhook`.

        >>> WebhookEvent.from_dict({"trigger": "new", "lead_id": "42"}).lead_id
        42
        """
        if not isinstance(payload, dict):
            raise WebhookError(
                f"malformed webhook: expected a JSON object, got {_json_type(payload)}"
            )
        if not all(isinstance(k, str) for k in payload):
            raise WebhookError("malformed webhook: object keys must be strings")
        data = dict(payload)
        raw_trigger = data.pop("trigger", None)
        trigger: WebhookTrigger | str | None
        if raw_trigger is None:
            trigger = None
        elif isinstance(raw_trigger, str):
            try:
                trigger = WebhookTrigger(raw_trigger)
            except ValueError:
                trigger = raw_trigger
        else:
            raise WebhookError(
                f"malformed webhook: trigger must be a string, got {_json_type(raw_trigger)}"
            )
        try:
            lead = structure_lead(data)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise WebhookError(f"malformed webhook: {exc}") from None
        if lead.lead_id < 1:
            raise WebhookError(f"malformed webhook: lead_id must be positive, got {lead.lead_id}")
        if lead.lead_id > MAX_ID:
            raise WebhookError(f"malformed webhook: lead_id must be at most {MAX_ID}")
        return cls(trigger=trigger, lead=lead)

    def to_dict(self) -> dict[str, Any]:
        """The delivery body again: ``trigger`` first (when there was one), then the lead."""
        body: dict[str, Any] = {}
        if self.trigger is not None:
            body["trigger"] = str(self.trigger)
        body.update(unstructure_lead(self.lead))
        return body


def parse_webhook(body: bytes | bytearray | memoryview | str) -> WebhookEvent:
    """Read one webhook delivery body (JSON text) into a :class:`WebhookEvent`.

    Every lead type and every field ``GET leads`` knows is read into the typed
    :class:`~whatconverts_async.models.Lead`; unknown fields land in ``lead.extra``. Only a
    body that cannot be a lead raises, always :class:`WebhookError`: not UTF-8 JSON (read by
    the package's one decoder, so the same with or without orjson: one leading byte-order
    mark is skipped, ``NaN`` and nesting deeper than :data:`MAX_DEPTH` are refused), not an
    object, ``lead_id`` missing or not a positive integer, an unreadable ``date_created``, a
    ``trigger`` that is not a string. An odd value in any other field (``"last_updated":
    "0000-00-00 00:00:00"``) is read as ``None`` with the original kept (see
    :class:`~whatconverts_async.models.Lead`), so such a delivery is accepted.

    >>> parse_webhook(b'{"trigger": "new", "lead_id": 153928, "lead_type": "Phone Call",'
    ...               b' "quote_value": null, "brand_new": 1}').lead.extra
    {'brand_new': 1}
    >>> parse_webhook(b'{"trigger": "new"}')
    Traceback (most recent call last):
    ...
    whatconverts_async.errors.WebhookError: malformed webhook: malformed Lead: lead_id missing
    """
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    if not isinstance(body, (bytes, str)):
        raise WebhookError(f"malformed webhook: expected bytes or str, got {type(body).__name__}")
    try:
        payload = _json.loads(body, max_depth=MAX_DEPTH)
    except InvalidJSONError as exc:
        raise WebhookError(f"malformed webhook: not JSON ({exc.reason})") from None
    return WebhookEvent.from_dict(payload)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return type(value).__name__


# --- serving ------------------------------------------------------------------------------


def _reply(status: int, message: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True} if message is None else {"ok": False, "error": message}
    return web.json_response(body, status=status)


def _check_timeout(value: object, parameter: str) -> float:
    """``value`` as seconds: a finite number > 0, else :class:`InvalidParameterError`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidParameterError(parameter, f"must be a number of seconds > 0, got {value!r}")
    return float(value)


def _check_options(shared_secret: str | None, max_body: int) -> bytes | None:
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise ValueError(f"max_body must be an integer >= 1, got {max_body!r}")
    if shared_secret is None:
        return None
    if not isinstance(shared_secret, str) or not shared_secret:
        raise ValueError("shared_secret must be a non-empty string or None")
    return shared_secret.encode("utf-8")


def _authorised(request: web.Request, secret: bytes) -> bool:
    ok = False
    for candidate in (
        request.query.get(SECRET_QUERY_PARAMETER),
        request.headers.get(SECRET_HEADER),
    ):
        if candidate is not None:
            # compare_digest on bytes: constant time for the same length, any characters.
            ok |= hmac.compare_digest(candidate.encode("utf-8", "replace"), secret)
    return ok


async def _timed_out(request: web.Request, seconds: float) -> web.StreamResponse:
    """Answer 408 and close the connection at once: a trickling client must not keep it
    (aiohttp would otherwise linger reading the rest of the body)."""
    logger.warning(
        "webhook refused (path %s): body not received within %g s", request.path, seconds
    )
    response = _reply(408, f"body not received within {seconds:g} s")
    response.force_close()
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    if request.transport is not None:
        request.transport.close()  # close() sends what is buffered first
    return response


async def _read_capped(request: web.Request, max_body: int) -> bytes | None:
    length = request.content_length
    if length is not None and length > max_body:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > max_body:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_handler(
    handler: WebhookHandler,
    *,
    shared_secret: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp request handler that serves webhook deliveries, to mount in your own app.

    Register it for every method so other methods get a proper 405::

        app.router.add_route("*", "/hooks/whatconverts", webhook_handler(on_lead, shared_secret=s))

    Answers, in the order checked:

    * **405** for any method but POST;
    * **401** when ``shared_secret`` is set and neither ``?secret=`` nor the
      ``X-Webhook-Secret`` header matches it (compared in constant time);
    * **413** for a body over ``max_body`` bytes (default 1 MiB);
    * **408** for a body not received in full within ``body_timeout`` seconds (default
      30; the connection is then closed). A client that disconnects mid-body gets no
      answer and is logged at DEBUG only;
    * **400** ``{"ok": false, "error": "..."}`` for a body :func:`parse_webhook` rejects;
    * **422** ``{"ok": false, "error": "..."}`` when ``handler`` raises
      :class:`~whatconverts_async.WebhookError` (a body it cannot use);
    * **500** when ``handler`` raises (logged with the lead id, never the secret), so
      WhatConverts may deliver again; an ``aiohttp.web.HTTPException`` raised by ``handler``
      is passed through as its own answer;
    * **200** ``{"ok": true}`` once ``handler`` has returned.
    """
    if not callable(handler):
        raise TypeError("handler must be an async function taking a WebhookEvent")
    secret = _check_options(shared_secret, max_body)
    read_timeout = _check_timeout(body_timeout, "body_timeout")

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            response = _reply(405, "method not allowed; use POST")
            response.headers["Allow"] = "POST"
            return response
        if secret is not None and not _authorised(request, secret):
            logger.warning("webhook refused: missing or wrong secret (path %s)", request.path)
            return _reply(401, "missing or wrong secret")
        try:
            # aiohttp's server has no timeout for reading a body: without this a client
            # sending a byte now and then holds its connection (and this task) forever.
            body = await asyncio.wait_for(_read_capped(request, max_body), read_timeout)
        except asyncio.TimeoutError:
            return await _timed_out(request, read_timeout)
        except ConnectionResetError:
            # The sender went away mid-body: nothing to answer, and not an error of ours.
            logger.debug(
                "webhook sender disconnected before the body was complete (path %s)", request.path
            )
            return _reply(400, "connection lost before the body was complete")
        if body is None:
            return _reply(413, f"body larger than {max_body} bytes")
        try:
            event = parse_webhook(body)
        except WebhookError as exc:
            logger.warning("webhook refused (path %s): %s", request.path, exc)
            return _reply(400, str(exc)[:200])
        try:
            await handler(event)
        except WebhookError as exc:
            # The handler found the body is not a delivery it can use: redelivery won't help.
            logger.warning("webhook refused by the handler (path %s): %s", request.path, exc)
            return _reply(422, str(exc)[:200])
        except web.HTTPException:
            raise
        except Exception:
            logger.exception(
                "webhook handler failed for lead %s (trigger %s, path %s)",
                event.lead_id,
                event.trigger,
                request.path,
            )
            return _reply(500, "handler failed")
        logger.debug(
            "webhook handled: lead %s, trigger %s (path %s)",
            event.lead_id,
            event.trigger,
            request.path,
        )
        return _reply(200)

    return handle


def webhook_app(
    handler: WebhookHandler,
    *,
    shared_secret: str | None = None,
    path: str = "/",
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> web.Application:
    """An ``aiohttp.web.Application`` that serves webhook deliveries at ``path``.

    Status codes as in :func:`webhook_handler` (``body_timeout`` bounds the body). Run it
    on its own, or mount it in an existing app with ``parent.add_subapp("/hooks/",
    webhook_app(...))``. The time allowed for a request's headers is the server's: pass
    ``keepalive_timeout`` (e.g. 30) to ``web.run_app`` or ``web.AppRunner``, as
    :func:`serve_webhooks` does.

    >>> async def on_lead(event: WebhookEvent) -> None:
    ...     print(event.trigger, event.lead_id)
    >>> app = webhook_app(on_lead, shared_secret="s3cret", path="/whatconverts")
    >>> [r.resource.canonical for r in app.router.routes()]
    ['/whatconverts']
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    route = webhook_handler(
        handler, shared_secret=shared_secret, max_body=max_body, body_timeout=body_timeout
    )
    # The body is read by the handler under its own cap, so aiohttp's cap is set to match.
    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", path, route)
    return app


@contextlib.asynccontextmanager
async def serve_webhooks(
    handler: WebhookHandler,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    shared_secret: str | None = None,
    path: str = "/",
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
) -> AsyncIterator[str]:
    """Serve :func:`webhook_app` on ``host:port`` for the duration of the ``async with``;
    yields the delivery URL (``http://host:port/path``, without the secret).

    The access log is off, because a delivery's query string may carry the shared secret.
    ``port=0`` picks a free port (the yielded URL has the real one). A connection that
    has not sent a complete request head within ``header_timeout`` seconds (from its
    start or the previous answer; idle keep-alive connections too) is closed; a body
    slower than ``body_timeout`` seconds gets 408 (see :func:`webhook_handler`). Both
    default to 30 s; a bad value raises :class:`~whatconverts_async.InvalidParameterError`.

    Example::

        async with serve_webhooks(mirror.on_webhook, port=8080, shared_secret=secret) as url:
            print("receiving webhooks on", url)
            await mirror.run()
    """
    idle = _check_timeout(header_timeout, "header_timeout")
    app = webhook_app(
        handler,
        shared_secret=shared_secret,
        path=path,
        max_body=max_body,
        body_timeout=body_timeout,
    )
    # aiohttp's keepalive timer runs from a connection's start (and from each answer)
    # until a request head is complete, so it is what bounds slowly sent headers.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=idle)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = port
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        for sock in sockets:
            bound = sock.getsockname()[1]
            break
        yield f"http://{host}:{bound}{path}"
    finally:
        await runner.cleanup()
