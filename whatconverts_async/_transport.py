"""The one transport: every HTTP request of the library is sent and read here.

:class:`Transport` sends one attempt of one request over an aiohttp session, reads the
body with a size cap (or hands a file's chunks to a sink), and turns whatever went wrong
into this library's errors through two pure tables kept side by side:

* :data:`FAILURES` — an aiohttp/timeout exception (no usable answer) → the error to raise;
* :data:`STATUSES` — an HTTP error status → the :class:`~whatconverts_async.errors.APIError`
  subclass (with the API's ``"Invalid ... ID."`` read as not found, 5xx as server errors,
  and redirects, which are never followed, as malformed answers).

:func:`loads` is the one JSON decoder of responses; :func:`decode_object` (the API's
strict envelope) and :func:`decode_lenient` (an Endpoint's informative answer) use it.

Retries, the budget and authentication are not done here; the API client
(:mod:`whatconverts_async.client`) and the Endpoint client wrap each attempt.
Nothing here logs or raises a request header, so the ``Authorization`` header and
secrets in URLs stay out of errors, logs and exception chains.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import logging
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

import aiohttp
import attrs
import yarl
from aiohttp.http_exceptions import ContentEncodingError

from . import _json
from ._gc import no_cyclic_gc
from ._headers import NO_HEADERS, Headers
from ._redact import REDACTIONS as REDACTIONS  # the clients register credentials here
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CertificateError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    WhatConvertsError,
)

T = TypeVar("T")
Sink = Callable[[AsyncIterator[bytes]], Awaitable[T]]
"""Consumes the body of a successful answer as chunks of bytes (e.g. writes a file)."""

logger = logging.getLogger("whatconverts_async")

JSON_TYPES = frozenset({"application/json", "text/json"})


def loads(body: bytes) -> Any:
    """Decode a JSON body (the one place responses are decoded) with the package's one
    decoder, :func:`whatconverts_async._json.loads` (same result with or without orjson);
    :class:`~whatconverts_async.errors.InvalidJSONError` (a ``ValueError``) if it is not JSON.

    >>> loads(b'{"leads": []}')
    {'leads': []}
    """
    with no_cyclic_gc():
        return _json.loads(body)


# --- the tables (pure) --------------------------------------------------------------------

# How much of an unreadable body is quoted in an error: enough to recognise a proxy's
# HTML page, not enough to flood a log.
_SNIPPET = 200
_INVALID_ID = re.compile(r"\binvalid\b.*\bid\b", re.IGNORECASE)

STATUSES: Mapping[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}
"""Error statuses with their own class; other 5xx are :class:`ServerError`, other 4xx
:class:`APIError`."""

FAILURES: tuple[tuple[type[BaseException], type[WhatConvertsError], str, bool], ...] = (
    # (caught, raised, message, request_sent); the first match wins, so subclasses first.
    (aiohttp.ConnectionTimeoutError, APITimeoutError, "timed out connecting after {s:g} s", False),
    (asyncio.TimeoutError, APITimeoutError, "no complete answer within {s:g} s", True),
    # Untrusted, expired or wrong-host certificates: never retried (see retry.py).
    (
        aiohttp.ClientConnectorCertificateError,
        CertificateError,
        "TLS certificate verification failed",
        False,
    ),
    # Refused, DNS failure, TLS handshake failure: the request never left the machine.
    (aiohttp.ClientConnectorError, APIConnectionError, "could not connect", False),
    # A body whose Content-Encoding (gzip, deflate, br) cannot be decoded arrived whole
    # and is unreadable, like a body that is not JSON; asking again gets the same bytes.
    (ContentEncodingError, MalformedResponseError, "body could not be decoded", True),
    # The answer arrived but is not HTTP we can parse (a broken proxy, a non-HTTP service):
    # unreadable, like a body that is not JSON.
    (aiohttp.ClientResponseError, MalformedResponseError, "unreadable HTTP answer", True),
    (aiohttp.ClientError, APIConnectionError, "connection failed", True),
)
"""What an exception of one attempt (no usable answer) becomes. ``request_sent`` is False
only when the request provably never reached the server (the connection, DNS lookup or
TLS handshake failed), which is what makes repeating a create safe and lets the client
give the budget unit back. A ``ClientPayloadError`` caused by an undecodable
Content-Encoding is matched as that cause (:class:`ContentEncodingError`)."""


def _cause(exc: BaseException) -> BaseException:
    """The exception to look up in :data:`FAILURES`: aiohttp reports a body it cannot
    decompress as a ``ClientPayloadError`` (like a dropped connection), with the
    decoding error as its cause."""
    if isinstance(exc, aiohttp.ClientPayloadError) and isinstance(
        exc.__cause__, ContentEncodingError
    ):
        return exc.__cause__
    return exc


def error_for_failure(
    exc: BaseException, *, method: str, url: str, timeout: float, status: int = 0
) -> WhatConvertsError:
    """Our error for an aiohttp or timeout exception, through :data:`FAILURES` (pure).

    The result never references ``exc``: aiohttp's exceptions carry the request (its
    headers, ``Authorization`` included) in their attributes and repr. Only the type name
    is kept (and, for an unreadable answer or a certificate, the first line of the
    reason). ``status`` is the answer's status when one had arrived (0: none).

    >>> error_for_failure(asyncio.TimeoutError(), method="GET", url="https://x/leads",
    ...                   timeout=30)
    APITimeoutError('no complete answer within 30 s (TimeoutError) (GET https://x/leads)')
    """
    exc = _cause(exc)
    name = type(exc).__name__
    for caught, raised, template, sent in FAILURES:
        if not isinstance(exc, caught):
            continue
        text = template.format(s=timeout)
        if raised is MalformedResponseError:
            reason = str(getattr(exc, "message", "") or "").strip().splitlines()
            why = f"{text} ({name}: {reason[0][:120] if reason else 'no reason'})"
            return malformed(status, b"", method=method, url=url, why=why, unread="not kept")
        if raised is CertificateError:
            # ssl's own words ("self-signed certificate", "Hostname mismatch, ...").
            verify = getattr(getattr(exc, "certificate_error", None), "verify_message", None)
            text = f"{text}: {str(verify)[:120]}" if verify else text
        assert issubclass(raised, APIConnectionError)
        return raised(
            f"{text} ({name}{_os_reason(exc)})", method=method, url=url, request_sent=sent
        )
    raise TypeError(f"not a transport failure: {name}")  # a bug here, not a network event


def _os_reason(exc: BaseException) -> str:
    """Why the socket failed, from the OS error inside ``exc``: ``", ECONNREFUSED: ..."``.

    Only the error number and its standard text (or the resolver's): never the address,
    the request or anything else the exception carries.
    """
    cause = getattr(exc, "os_error", None)
    if isinstance(cause, socket.gaierror):
        return f", DNS lookup failed: {cause.strerror or 'no address'}"
    if isinstance(cause, OSError) and cause.errno:
        return f", {errno.errorcode.get(cause.errno, cause.errno)}: {os.strerror(cause.errno)}"
    return ""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds, fractional, or HTTP date).

    Returns None when absent or unreadable; 0 for a date in the past (never negative);
    ``inf`` for a wait too large to represent (``inf``, ``1e400``, a date beyond year
    9999), which is beyond any cap and so is raised, not slept through.

    >>> parse_retry_after("1.5")
    1.5
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc))
    30.0
    >>> parse_retry_after("1e400"), parse_retry_after("later"), parse_retry_after("\u0661")
    (inf, None, None)
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        # float() also reads other scripts' digits ("١") and "1_0": not HTTP numbers.
        if not value.isascii() or "_" in value:
            return None
        seconds = float(value)
    except ValueError:
        parts = email.utils.parsedate_tz(value)
        if parts is None:
            return None
        if parts[0] > 9999:
            return float("inf")  # a date Python cannot hold is far in the future
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN says nothing
        return None
    return max(0.0, seconds)


# Headers whose value is a URL: a signed storage link (or an Endpoint URL) hides in its
# path or query, so only what ``mask`` shows of it, without the query, is kept.
_URL_HEADERS = frozenset({"location", "content-location"})


def safe_headers(
    headers: Mapping[str, str],
    *,
    mask: Callable[[str], str] = str,
    hide: Sequence[str] = (),
) -> Headers:
    """A read-only, case-insensitive copy of response ``headers`` that may be shown (pure).

    Every value is scrubbed of the credentials in :data:`REDACTIONS` (a server or proxy
    that echoes the token, the secret or the ``Authorization`` header) and of the strings
    in ``hide`` (e.g. the secret part of an Endpoint URL); a URL header (``Location``,
    ``Content-Location``) keeps only what ``mask`` shows of it, without its query.
    Repeated headers (``Set-Cookie``) are all kept, in order.

    >>> h = safe_headers({"Location": "https://files.example/r.mp3?Signature=abc",
    ...                   "X-Request-Id": "7"})
    >>> h["location"], h["x-request-id"]
    ('https://files.example/r.mp3 (query hidden)', '7')
    """
    items = headers.items()
    copy: list[tuple[str, str]] = []
    for name, value in items:
        if name.lower() in _URL_HEADERS:
            value = _shown_url(value, mask)
        # A name is server data too: an echoed secret may arrive as one.
        copy.append((_hidden(name, hide), _hidden(value, hide)))
    return Headers(copy)


def _hidden(text: str, hide: Sequence[str]) -> str:
    for secret in hide:
        if secret and secret in text:
            text = text.replace(secret, "<redacted>")
    return REDACTIONS.scrub(text)


def _shown_url(value: str, mask: Callable[[str], str]) -> str:
    try:
        url = yarl.URL(value.strip())
    except (ValueError, TypeError):
        return "<unreadable URL>"
    return _shown_target(url, mask)


def _shown_target(url: yarl.URL, mask: Callable[[str], str]) -> str:
    """What may be shown of a URL a server pointed at: without user info (a password),
    query or fragment (a signed link's signature), and scrubbed of :data:`REDACTIONS`."""
    hidden = [
        part
        for part, present in (
            ("user info", url.raw_user or url.raw_password),
            ("query", url.query_string),
        )
        if present
    ]
    if url.absolute:
        url = url.with_user(None).with_password(None)
    shown = mask(str(url.with_query(None).with_fragment(None)))
    if hidden:
        shown += f" ({' and '.join(hidden)} hidden)"
    return REDACTIONS.scrub(shown)


def _snippet(body: bytes) -> str:
    """At most :data:`_SNIPPET` characters of ``body``, whitespace collapsed, scrubbed of
    :data:`REDACTIONS` *before* it is cut, so a secret straddling the cut shows no part."""
    # Enough text that any secret starting within the excerpt ends within it; grown until
    # collapsing whitespace still leaves that much (a body of blanks), never beyond it.
    need = _SNIPPET + REDACTIONS.longest + 2
    size = 4 * need
    while True:
        text = " ".join(body[:size].decode("utf-8", "replace").split())
        if len(text) > need or size >= len(body):
            break
        size *= 4
    more = size < len(body) or len(text) > need
    text = REDACTIONS.scrub(text[:need])
    more = more or len(text) > _SNIPPET
    return text[:_SNIPPET] + ("…" if more else "")


def error_for_status(
    status: int,
    body: bytes,
    *,
    method: str,
    url: str,
    retry_after: str | None = None,
    payload: Any = None,
    headers: Headers = NO_HEADERS,
) -> APIError:
    """The exception for an error answer, through :data:`STATUSES` (pure; no I/O).

    ``payload`` is the decoded JSON body when the caller already has it; otherwise the
    body is decoded here if it is JSON. A 2xx status is accepted too, for the API's
    habit of answering 200 with ``{"error_message": ...}``. ``headers`` (already made
    safe by :func:`safe_headers`) become the error's ``headers``.

    >>> e = error_for_status(400, b'{"error_message": "Invalid lead ID."}',
    ...                      method="GET", url="https://x/api/v1/leads/1")
    >>> type(e).__name__, e.status, e.error_message
    ('NotFoundError', 400, 'Invalid lead ID.')
    """
    if payload is None and body:
        try:
            payload = loads(body)
        except ValueError:
            payload = None
    message = None
    if isinstance(payload, dict) and payload.get("error_message") is not None:
        message = REDACTIONS.scrub(str(payload["error_message"]))
    excerpt = None if message is not None or not body else _snippet(body)

    cls: type[APIError]
    if message is not None and _INVALID_ID.search(message) and status in (200, 400, 404):
        cls = NotFoundError
    elif status in STATUSES:
        cls = STATUSES[status]
    elif status >= 500:
        cls = ServerError
    elif status < 400:
        cls = BadRequestError
    else:
        cls = APIError

    text = (
        f"{status} from {method} {url}: {message if message is not None else excerpt or 'no body'}"
    )
    kwargs: dict[str, Any] = dict(
        status=status, method=method, url=url, error_message=message, body=excerpt, headers=headers
    )
    seconds = parse_retry_after(retry_after)
    if seconds is not None:
        text += f" (retry after {seconds:g} s)"
    return cls(text, retry_after=seconds, **kwargs)


def malformed(
    status: int,
    body: bytes,
    *,
    method: str,
    url: str,
    why: str,
    headers: Headers = NO_HEADERS,
    unread: str | None = None,
) -> MalformedResponseError:
    """A :class:`MalformedResponseError` quoting a short excerpt of the body (``headers``:
    the answer's, made safe by :func:`safe_headers`, when there was one). ``unread`` says
    why the body was not kept, when it was not (too large, undecodable), instead of
    calling it empty. ``why`` is scrubbed of :data:`REDACTIONS` like the excerpt."""
    excerpt = _snippet(body) if body else (unread or "empty body")
    why = REDACTIONS.scrub(why)
    return MalformedResponseError(
        f"unreadable response to {method} {url} (status {status}): {why}; body: {excerpt}",
        status=status,
        method=method,
        url=url,
        body=excerpt,
        headers=headers,
    )


def redirect_reason(
    status: int,
    location: str | None,
    url: yarl.URL,
    *,
    mask: Callable[[str], str] = str,
    setting: str | None = "base_url",
) -> str:
    """Why a redirect is refused, for the error message (pure).

    The target is shown without user info (a password) and query string (a storage link
    is signed there), and scrubbed of :data:`REDACTIONS` (an echoed secret in its path). A
    redirect to another host (storage, a login page) is said to be one, and not blamed on
    the ``setting`` unless one is given: the request's ``Authorization`` header must not
    go there, and the hop would be a request the budget never saw.

    >>> redirect_reason(302, "https://files.example/r.mp3?Signature=s3cret",
    ...                 yarl.URL("https://app.example/api/v1/recording"), setting=None)
    'redirected (status 302) to another host, https://files.example/r.mp3 (query \
hidden); not followed: the Authorization header must not go to another host, and the \
hop would not be counted in the budget'
    """
    check = f"; check {setting}" if setting else ""
    if not location:
        return f"redirected (status {status}) to nowhere{check}"
    target: yarl.URL | None
    try:
        target = url.join(yarl.URL(location))
    except (ValueError, TypeError):
        target = None
    if target is None or not target.host:
        return f"redirected (status {status}) to an unreadable location{check}"
    where = _shown_target(target, mask)
    if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
        return (
            f"redirected (status {status}) to another host, {where}; not followed: the "
            "Authorization header must not go to another host, and the hop would not be "
            f"counted in the budget{check}"
        )
    return f"redirected (status {status}) to {where}{check}"


# --- answers ------------------------------------------------------------------------------


@attrs.frozen
class Answer:
    """A complete 2xx answer: ``status``, the ``body`` as read (capped), its content type,
    the ``method``/``url`` it answered (as they may be shown) and its ``headers`` (made
    safe by :func:`safe_headers`)."""

    status: int
    body: bytes = attrs.field(repr=False)
    content_type: str
    method: str
    url: str
    headers: Headers = attrs.field(default=NO_HEADERS, repr=False)

    @property
    def is_json(self) -> bool:
        """Whether the content type says JSON (the API sometimes says otherwise)."""
        return self.content_type in JSON_TYPES


def decode_object(answer: Answer) -> dict[str, Any]:
    """The JSON object of an API answer: anything else is a
    :class:`MalformedResponseError`, and ``{"error_message": ...}`` is the error it names.
    """
    where: dict[str, Any] = {
        "method": answer.method,
        "url": answer.url,
        "headers": answer.headers,
    }
    if not answer.body.strip():
        raise malformed(answer.status, answer.body, **where, why="empty body")
    try:
        payload = loads(answer.body)
    except ValueError as exc:
        reason = getattr(exc, "reason", None)
        why = f"not JSON (content type {answer.content_type or 'missing'})"
        if reason:
            why = f"{why}: {reason}"
        raise malformed(answer.status, answer.body, **where, why=why) from None
    error = _object_error(answer, payload)
    if error is not None:
        # The payload may echo the credentials (``error_message``): not to be shown among
        # the locals of a frame the error propagates through.
        del payload
        raise error
    return cast("dict[str, Any]", payload)


async def decode_object_sliced(answer: Answer) -> dict[str, Any]:
    """:func:`decode_object` (the same result and errors) for use on the event loop: a body
    larger than :data:`~whatconverts_async._json.SLICE_BYTES` is decoded a slice at a time
    (:func:`~whatconverts_async._json.loads_steps`) with a turn of the loop between slices,
    so a 4 MB page of leads never holds the loop for the whole decode."""
    if len(answer.body) > _json.SLICE_BYTES:
        steps = _json.loads_steps(answer.body)
        payload: Any = steps  # not decoded (yet)
        try:
            while True:
                with no_cyclic_gc():
                    next(steps)
                await asyncio.sleep(0)
        except StopIteration as done:
            payload = done.value
        except ValueError:
            pass  # not JSON: decode_object says so, as for any body
        if payload is not steps:
            # Outside the ``except`` block, so no local of this frame holds the payload
            # (through the StopIteration) when its error propagates.
            error = _object_error(answer, payload)
            if error is not None:
                del payload  # as in decode_object
                raise error
            return cast("dict[str, Any]", payload)
    return decode_object(answer)


def _object_error(answer: Answer, payload: Any) -> APIError | None:
    """The error an API answer's JSON is, if any: not an object, or ``error_message``."""
    where: dict[str, Any] = {
        "method": answer.method,
        "url": answer.url,
        "headers": answer.headers,
    }
    if not isinstance(payload, dict):
        return malformed(answer.status, answer.body, **where, why="JSON is not an object")
    if "error_message" in payload:
        return error_for_status(answer.status, answer.body, **where, payload=payload)
    return None


def decode_lenient(answer: Answer) -> Any:
    """An answer that is informative only: its JSON when it is JSON, else its text; a JSON
    object with ``error_message`` is still the error it names."""
    decoded: Any = answer.body.decode("utf-8", "replace")
    if answer.is_json or decoded[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            decoded = loads(answer.body)
    if isinstance(decoded, dict) and "error_message" in decoded:
        error = error_for_status(
            answer.status,
            answer.body,
            method=answer.method,
            url=answer.url,
            payload=decoded,
            headers=answer.headers,
        )
        del decoded  # as in decode_object: server data, not to be shown among locals
        raise error
    return decoded


class Body(AsyncIterator[bytes]):
    """The chunks of a file answer handed to a sink, with its ``content_type`` (lower
    case, without parameters; ``""`` when missing), so a sink can check what it got."""

    __slots__ = ("_chunks", "content_type")

    def __init__(self, chunks: AsyncIterator[bytes], content_type: str) -> None:
        self._chunks = chunks
        self.content_type = content_type

    def __aiter__(self) -> Body:
        return self

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()


# --- sending ------------------------------------------------------------------------------


def _refusal(
    status: int,
    raw: bytes,
    url: str,
    method: str,
    redirect: str | None,
    retry_after: str | None,
    headers: Headers,
) -> APIError:
    """The error for an answer that is not a usable 2xx (built here, so the raw body is a
    local of a frame that has returned, not of one the error propagates through)."""
    if redirect is not None:
        # Redirects are not followed: each hop would be a request the budget never
        # saw, and an API answering with one is misconfigured (or not the API).
        return malformed(status, raw, method=method, url=url, why=redirect, headers=headers)
    return error_for_status(
        status, raw, method=method, url=url, retry_after=retry_after, headers=headers
    )


@attrs.frozen(kw_only=True)
class Transport:
    """Sends one attempt of one request and reads its answer.

    ``timeout`` bounds one attempt in seconds (a streamed file: connecting, and each
    silence between two chunks). A body longer than ``max_body`` bytes is refused
    (:class:`MalformedResponseError`), or with ``truncate`` cut to its start (for answers
    that are informative only). ``mask`` turns a URL into what may be shown (the Endpoint
    URL is a secret), ``setting`` names the setting a redirect points at.
    """

    timeout: float
    max_body: int
    truncate: bool = False
    mask: Callable[[str], str] = str
    setting: str = "base_url"

    async def send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: yarl.URL,
        *,
        attempt: int,
        params: Sequence[tuple[str, str]] = (),
        form: Sequence[tuple[str, str]] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        sink: Sink[None] | None = None,
        limit: int | None = None,
    ) -> Answer | None:
        """One attempt: the 2xx :class:`Answer`, or the error for anything else.

        ``form`` fields go as ``multipart/form-data``, ``body`` as the raw request body.
        With a ``sink``, a 2xx answer that is not JSON (a file) is handed to it as chunks
        of at most ``limit`` bytes in all (None: no limit), and None is returned.
        """
        shown = self.mask(str(url))
        data: aiohttp.FormData | bytes | None = body
        if form is not None:
            # A FormData is consumed by sending, so each attempt builds its own.
            data = aiohttp.FormData(default_to_multipart=True)
            for name, value in form:
                data.add_field(name, value)
        timeout = (
            # A streamed file may take longer than `timeout` in all; what must not exceed
            # it is connecting, or silence between two chunks.
            aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=self.timeout)
            if sink is not None
            else aiohttp.ClientTimeout(total=self.timeout)
        )
        started = time.perf_counter()
        status = 0  # no answer (yet)
        failure: WhatConvertsError | None = None
        try:
            async with session.request(
                method,
                url,
                params=list(params) or None,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                ok = 200 <= status < 300
                if sink is not None and ok and response.content_type not in JSON_TYPES:
                    chunks = self._chunks(response, limit, method, shown)
                    await sink(Body(chunks, response.content_type))
                    return None
                raw = await self._read(response, method, shown)
                answered = self._safe_headers(response.headers, url, shown)
                retry_after = response.headers.get("Retry-After")
                content_type = response.content_type
                # Read here and kept only as the reason: a Location may be a signed link,
                # and no local of this frame (shown by tracebacks with locals) may hold it.
                redirect = (
                    redirect_reason(
                        status,
                        response.headers.get("Location"),
                        url,
                        mask=self.mask,
                        # A file may well live on storage elsewhere: not a wrong setting.
                        setting=self.setting if sink is None else None,
                    )
                    if 300 <= status < 400
                    else None
                )
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            failure = error_for_failure(
                exc, method=method, url=shown, timeout=self.timeout, status=status
            )
        finally:
            self._log(method, shown, status or None, started, attempt)
        if failure is not None:
            # Raised outside the ``except`` block on purpose, so that aiohttp's exception
            # (which carries the request headers) is not our error's ``__context__``.
            raise failure
        # Its repr shows the answer's headers, a redirect's signed Location among them.
        del response
        if redirect is not None or not ok:
            error = _refusal(status, raw, shown, method, redirect, retry_after, answered)
            # The raw body (and header) may echo the credentials: no local of this frame,
            # which tracebacks with locals show, may hold them once the error propagates.
            del raw, retry_after
            raise error
        return Answer(status, raw, content_type, method, shown, answered)

    def _safe_headers(self, headers: Mapping[str, str], url: yarl.URL, shown: str) -> Headers:
        # When the URL itself is a secret (an Endpoint), an answer echoing it in a header
        # must not carry it out; the API's URLs are not secret (``shown`` is the URL).
        hide = (
            [part for part in (str(url), url.raw_path, url.raw_query_string) if len(part) >= 8]
            if shown != str(url)
            else []
        )
        return safe_headers(headers, mask=self.mask, hide=hide)

    async def _chunks(
        self, response: aiohttp.ClientResponse, limit: int | None, method: str, url: str
    ) -> AsyncIterator[bytes]:
        def too_large() -> MalformedResponseError:
            # Only the API client reads with a cap (``truncate`` is off), set by this setting.
            why = f"body larger than {limit} bytes (max_response_bytes)"
            return malformed(
                response.status, b"", method=method, url=url, why=why, unread="not read (too large)"
            )

        if limit is not None and (response.content_length or 0) > limit:
            raise too_large()
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if limit is not None and size > limit:
                del chunk  # server data, not to be shown among this frame's locals
                raise too_large()
            yield chunk

    async def _read(self, response: aiohttp.ClientResponse, method: str, url: str) -> bytes:
        if not self.truncate:
            return b"".join([c async for c in self._chunks(response, self.max_body, method, url)])
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            chunks.append(chunk[: self.max_body - size])
            size += len(chunk)
            if size >= self.max_body:
                break  # the answer is informative only; keep its start
        return b"".join(chunks)

    def _log(self, method: str, url: str, status: int | None, started: float, attempt: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.1f ms (attempt %d)",
                method,
                url,
                status if status is not None else "no answer",
                (time.perf_counter() - started) * 1000,
                attempt,
            )
