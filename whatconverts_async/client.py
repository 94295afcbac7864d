"""The session wrapper: configuration, session lifecycle, and the one request path.

Every HTTP call of the library goes through :meth:`WhatConverts._request`, which applies,
in order: the throttle (daily budget, spacing, in-flight cap), HTTP Basic auth, the
request, the retry policy, error mapping and JSON decoding. Resources (``wc.leads``,
``wc.accounts``, ...) only build parameters and read models.

Example::

    async with WhatConverts("token", "secret", key_type="master") as wc:
        lead = await wc.leads.get(178849242)
        print(wc.quota.remaining)
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import aiohttp
import attrs
import yarl

from ._session import SessionOwner
from .convert import no_cyclic_gc
from .errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidParameterError,
    WhatConvertsError,
    error_for_status,
    malformed,
)
from .params import encode_form, encode_query, require_secure_transport
from .retry import RetryPolicy
from .throttle import Clock, LocalQuota, Quota, SystemClock, Throttle

if TYPE_CHECKING:
    from .resources.accounts import AccountsResource
    from .resources.leads import LeadsResource
    from .resources.other import RolesResource, TrackingResource, UsersResource
    from .resources.profiles import ProfilesResource
    from .resources.recordings import RecordingsResource

__all__ = ["DEFAULT_BASE_URL", "KeyType", "WhatConverts"]

DEFAULT_BASE_URL = "https://app.whatconverts.com/api/v1/"
DAILY_LIMITS = {"profile": 1_000, "master": 10_000}
USER_AGENT = "whatconverts-async"

logger = logging.getLogger("whatconverts_async")

T = TypeVar("T")
Reader = Callable[[aiohttp.ClientResponse], Awaitable[T]]

try:  # orjson is an optional speed-up; the standard module gives the same results.
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads


class KeyType(str, enum.Enum):
    """The kind of API key: a profile key (1,000 requests/day, one profile) or a master
    (agency) key (10,000 requests/day, every account and profile)."""

    PROFILE = "profile"
    MASTER = "master"


class _Credentials:
    """Holds the Authorization header; prints as a mask so it never leaks by repr."""

    __slots__ = ("header",)

    def __init__(self, token: str, secret: str) -> None:
        raw = f"{token}:{secret}".encode()
        self.header = "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        return "<credentials hidden>"


class WhatConverts(SessionOwner):
    """Async client for the WhatConverts REST API v1.

    Args:
        api_token: the API token (the Basic auth user).
        api_secret: the API secret (the Basic auth password). Never logged or shown.
        key_type: ``"profile"`` (default) or ``"master"``; sizes the daily budget and
            decides which filters are allowed.
        base_url: the API root, default ``https://app.whatconverts.com/api/v1/``. Plain
            ``http://`` is refused unless the host is loopback or ``allow_insecure=True``.
        timeout: seconds for one attempt of one request (default 30).
        max_retries: retries of transient failures per request (default 5).
        session: an ``aiohttp.ClientSession`` you own; the client then never closes it.
        daily_limit: the daily budget (default 1,000 for profile keys, 10,000 for master).
        on_quota_exhausted: ``"raise"`` (default) raises :class:`QuotaExhaustedError`
            before sending; ``"wait"`` waits for the UTC-midnight reset.
        max_concurrency: requests in flight at once (default 20, the API's maximum).
        quota: a shared :class:`~whatconverts_async.throttle.Quota` (e.g. Redis-backed)
            instead of the in-memory budget.
        clock: the clock of the budget (tests pass a
            :class:`~whatconverts_async.throttle.FastClock`).
        min_interval: seconds between request starts (default 0.001, the API's rate).
        retry_policy: backoff settings; ``max_retries`` overrides its count.
        max_response_bytes: answers larger than this are refused (default 256 MiB).

    Example::

        async with WhatConverts.from_env() as wc:
            async for lead in wc.leads.iterate(start_date=date(2024, 1, 1)):
                print(lead.lead_id, lead.lead_type)
    """

    def __init__(
        self,
        api_token: str,
        api_secret: str,
        *,
        key_type: KeyType | Literal["profile", "master"] = KeyType.PROFILE,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_retries: int = 5,
        session: aiohttp.ClientSession | None = None,
        daily_limit: int | None = None,
        on_quota_exhausted: Literal["raise", "wait"] = "raise",
        max_concurrency: int = 20,
        quota: Quota | None = None,
        clock: Clock | None = None,
        allow_insecure: bool = False,
        min_interval: float = 0.001,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        if not isinstance(api_token, str) or not api_token.strip():
            raise InvalidParameterError("api_token", "must be a non-empty string")
        if not isinstance(api_secret, str) or not api_secret.strip():
            raise InvalidParameterError("api_secret", "must be a non-empty string")
        try:
            self.key_type = KeyType(key_type)
        except ValueError:
            raise InvalidParameterError(
                "key_type", f"must be 'profile' or 'master', got {key_type!r}"
            ) from None
        self.base_url = self._check_base_url(base_url, allow_insecure)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidParameterError(
                "timeout", f"must be a number of seconds > 0, got {timeout!r}"
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidParameterError(
                "max_retries", f"must be an integer >= 0, got {max_retries!r}"
            )
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise InvalidParameterError(
                "max_concurrency", f"must be an integer >= 1, got {max_concurrency!r}"
            )
        if on_quota_exhausted not in ("raise", "wait"):
            raise InvalidParameterError(
                "on_quota_exhausted", f"must be 'raise' or 'wait', got {on_quota_exhausted!r}"
            )
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidParameterError("session", "must be an aiohttp.ClientSession")
        if (
            isinstance(min_interval, bool)
            or not isinstance(min_interval, (int, float))
            or not min_interval >= 0
        ):
            raise InvalidParameterError("min_interval", f"must be >= 0, got {min_interval!r}")
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise InvalidParameterError(
                "max_response_bytes", f"must be an integer >= 1, got {max_response_bytes!r}"
            )
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise InvalidParameterError(
                "retry_policy", f"must be a RetryPolicy, got {type(retry_policy).__name__}"
            )
        if clock is not None and not (
            callable(getattr(clock, "now", None)) and callable(getattr(clock, "sleep", None))
        ):
            raise InvalidParameterError(
                "clock", "must have now() and async sleep(seconds), like FastClock"
            )
        # Checked on the type: isinstance() against the protocol would read properties
        # such as ``limit``, which a shared quota may not know before it meets a client.
        if quota is not None and not callable(getattr(type(quota), "try_acquire", None)):
            raise InvalidParameterError(
                "quota", f"must implement the Quota protocol, got {type(quota).__name__}"
            )
        self._clock: Clock = clock or SystemClock()
        if quota is None:
            limit = DAILY_LIMITS[self.key_type.value] if daily_limit is None else daily_limit
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise InvalidParameterError(
                    "daily_limit", f"must be an integer >= 0, got {limit!r}"
                )
            quota = LocalQuota(limit, clock=self._clock)
        else:
            bind = getattr(quota, "set_default_limit", None)
            if bind is not None:
                # A shared quota created without a limit takes this client's.
                bind(DAILY_LIMITS[self.key_type.value] if daily_limit is None else daily_limit)
            elif daily_limit is not None:
                raise InvalidParameterError("daily_limit", "cannot be combined with quota=")
        self._credentials = _Credentials(api_token, api_secret)
        self.timeout = float(timeout)
        self.retry_policy = attrs.evolve(retry_policy or RetryPolicy(), max_retries=max_retries)
        self._throttle = Throttle(
            quota,
            max_concurrency=max_concurrency,
            min_interval=float(min_interval),
            on_exhausted=on_quota_exhausted,
            clock=self._clock,
        )
        self.max_response_bytes = max_response_bytes
        self._init_session(session)
        self._resources: dict[str, Any] = {}

    # -- construction -------------------------------------------------------------

    @staticmethod
    def _check_base_url(base_url: str, allow_insecure: bool) -> yarl.URL:
        if not isinstance(base_url, str):
            raise InvalidParameterError("base_url", "must be a string")
        url = yarl.URL(base_url)
        if url.scheme not in ("https", "http") or not url.host:
            raise InvalidParameterError("base_url", f"must be an http(s) URL, got {base_url!r}")
        if url.user or url.password:
            raise InvalidParameterError(
                "base_url", "must not contain credentials; pass api_token/api_secret"
            )
        require_secure_transport(
            url, "base_url", allow_insecure=allow_insecure, secret="credentials"
        )
        if not url.path.endswith("/"):
            url = url.with_path(url.path + "/")
        return url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> WhatConverts:
        """Build a client from ``WHATCONVERTS_API_TOKEN`` and ``WHATCONVERTS_API_SECRET``
        (required), ``WHATCONVERTS_KEY_TYPE`` and ``WHATCONVERTS_BASE_URL`` (optional).

        Keyword arguments override the environment::

            wc = WhatConverts.from_env(max_retries=2)
        """
        env = os.environ if environ is None else environ
        missing = [
            name
            for name in ("WHATCONVERTS_API_TOKEN", "WHATCONVERTS_API_SECRET")
            if not env.get(name)
        ]
        if missing:
            raise InvalidParameterError(missing[0], "is not set in the environment")
        if env.get("WHATCONVERTS_KEY_TYPE") and "key_type" not in kwargs:
            kwargs["key_type"] = env["WHATCONVERTS_KEY_TYPE"].strip().lower()
        if env.get("WHATCONVERTS_BASE_URL") and "base_url" not in kwargs:
            kwargs["base_url"] = env["WHATCONVERTS_BASE_URL"]
        return cls(env["WHATCONVERTS_API_TOKEN"], env["WHATCONVERTS_API_SECRET"], **kwargs)

    def __repr__(self) -> str:
        return f"WhatConverts(key_type={self.key_type.value!r}, base_url={str(self.base_url)!r})"

    # -- lifecycle ----------------------------------------------------------------

    def _session_options(self) -> dict[str, Any]:
        return {
            "connector": aiohttp.TCPConnector(limit=self._throttle.max_concurrency),
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        }

    # -- introspection ------------------------------------------------------------

    @property
    def quota(self) -> Quota:
        """The daily budget: ``limit``, ``used``, ``remaining``, ``resets_at``."""
        return self._throttle.quota

    @property
    def throttle(self) -> Throttle:
        """The throttle (``in_flight``, ``peak_in_flight``, ``max_concurrency``)."""
        return self._throttle

    def now(self) -> datetime:
        """The current instant (aware UTC) on this client's clock, the one the budget uses.

        Scans read "now" here, once, to fix the end of an open range.
        """
        return self._clock.now()

    # -- resources ------------------------------------------------------------------

    def _resource(self, name: str, factory: Callable[[WhatConverts], T]) -> T:
        if name not in self._resources:
            self._resources[name] = factory(self)
        resource: T = self._resources[name]
        return resource

    @property
    def leads(self) -> LeadsResource:
        """Leads: list, iterate, get, create, update."""
        from .resources.leads import LeadsResource

        return self._resource("leads", LeadsResource)

    @property
    def accounts(self) -> AccountsResource:
        """Accounts (master key): list, iterate, get, create, update, delete."""
        from .resources.accounts import AccountsResource

        return self._resource("accounts", AccountsResource)

    @property
    def profiles(self) -> ProfilesResource:
        """Profiles of an account (master key): list, iterate, get, create, update, delete."""
        from .resources.profiles import ProfilesResource

        return self._resource("profiles", ProfilesResource)

    @property
    def recordings(self) -> RecordingsResource:
        """Call recordings: get bytes, or download to a file."""
        from .resources.recordings import RecordingsResource

        return self._resource("recordings", RecordingsResource)

    @property
    def users(self) -> UsersResource:
        """Users (master key): list, iterate, get."""
        from .resources.other import UsersResource

        return self._resource("users", UsersResource)

    @property
    def roles(self) -> RolesResource:
        """Roles (master key): list, iterate, get."""
        from .resources.other import RolesResource

        return self._resource("roles", RolesResource)

    @property
    def tracking(self) -> TrackingResource:
        """Tracking numbers and forms."""
        from .resources.other import TrackingResource

        return self._resource("tracking", TrackingResource)

    # -- the one request path -------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        reader: Reader[T] | None = None,
    ) -> Any:
        """Send one logical request (with retries) and return its decoded JSON.

        ``path`` is relative to ``base_url``. ``form`` fields are sent as
        ``multipart/form-data``. ``idempotent`` defaults to False for POST (a create is
        retried only when it never reached the server). ``reader`` consumes a successful
        response itself (e.g. to stream audio to disk) and its result is returned.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method != "POST"
        url = self.base_url.join(yarl.URL(path.lstrip("/")))
        query = encode_query(params or {})
        pairs = encode_form(form) if form is not None else None
        attempts = 0

        def describe() -> str:
            return f"{method} {url.path}"

        async def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            try:
                return await self._send_once(method, url, query, pairs, attempts, reader)
            except APIConnectionError:
                if self._closed:
                    # close() cut this request off: say so at once instead of retrying.
                    raise RuntimeError(
                        f"this WhatConverts client was closed during {describe()}"
                    ) from None
                raise

        retrying = self.retry_policy.retrying(idempotent=idempotent, describe=describe)
        return await retrying(attempt)

    async def _send_once(
        self,
        method: str,
        url: yarl.URL,
        query: Sequence[tuple[str, str]],
        pairs: Sequence[tuple[str, str]] | None,
        attempt: int,
        reader: Reader[Any] | None,
    ) -> Any:
        session = self._get_session()
        shown = str(url)
        data: aiohttp.FormData | None = None
        if pairs is not None:
            # A FormData is consumed by sending, so each attempt builds its own.
            data = aiohttp.FormData(default_to_multipart=True)
            for name, value in pairs:
                data.add_field(name, value)
        headers = {"Authorization": self._credentials.header}
        async with self._throttle.slot():
            started = time.perf_counter()
            status = 0
            failure: WhatConvertsError | None = None
            location: str | None = None
            try:
                async with session.request(
                    method,
                    url,
                    params=list(query) or None,
                    data=data,
                    headers=headers,
                    timeout=(
                        # A streamed file may take longer than `timeout` in all; what must
                        # not exceed it is connecting, or silence between two chunks.
                        aiohttp.ClientTimeout(
                            total=None, sock_connect=self.timeout, sock_read=self.timeout
                        )
                        if reader is not None
                        else aiohttp.ClientTimeout(total=self.timeout)
                    ),
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    if reader is not None and 200 <= status < 300 and not _is_json(response):
                        result = await reader(response)
                        self._log(method, url, status, started, attempt)
                        return result
                    body = await self._read_body(response, method, shown)
                    retry_after = response.headers.get("Retry-After")
                    location = response.headers.get("Location")
                    content_type = response.content_type
            except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
                failure = self._connection_failure(exc, method, shown)
            finally:
                if status == 0:
                    self._log(method, url, None, started, attempt)
            if failure is not None:
                if status:
                    self._log(method, url, status, started, attempt)
                # Raised outside the ``except`` block on purpose: aiohttp's exceptions
                # carry the request (``request_info.headers``, with the Authorization
                # header) in their attributes and repr, so they must not be reachable as
                # ``__cause__`` or ``__context__`` of what we raise. The message keeps
                # their type name (and, for an unreadable answer, the parser's reason).
                raise failure
        self._log(method, url, status, started, attempt)
        if 300 <= status < 400:
            # Redirects are not followed: each hop would be a request the budget never
            # saw, and an API answering with one is misconfigured (or not the API).
            why = f"redirected (status {status}) to {location or 'nowhere'}; check base_url"
            raise malformed(status, body, method=method, url=shown, why=why)
        payload = self._decode(status, body, content_type, retry_after, method, shown)
        if reader is not None:
            raise malformed(status, body, method=method, url=shown, why="expected a file, got JSON")
        return payload

    def _connection_failure(self, exc: BaseException, method: str, url: str) -> WhatConvertsError:
        """Our exception for an aiohttp/timeout failure, without keeping a reference to it."""
        name = type(exc).__name__
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return APITimeoutError(
                f"timed out connecting after {self.timeout:g} s ({name})",
                method=method,
                url=url,
                request_sent=False,
            )
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return APITimeoutError(
                f"no complete answer within {self.timeout:g} s ({name})", method=method, url=url
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return APIConnectionError(
                f"could not connect: {name}", method=method, url=url, request_sent=False
            )
        if isinstance(exc, aiohttp.ClientResponseError):
            # The answer arrived but is not HTTP we can parse (a broken proxy, a
            # non-HTTP service): unreadable, like a body that is not JSON. Only the
            # parser's first line is quoted; the request (and its headers) are not.
            reason = str(getattr(exc, "message", "") or "").strip().splitlines()
            why = f"unreadable HTTP answer ({name}: {reason[0][:120] if reason else 'no reason'})"
            return malformed(0, b"", method=method, url=url, why=why)
        return APIConnectionError(f"connection failed: {name}", method=method, url=url)

    async def _read_body(self, response: aiohttp.ClientResponse, method: str, url: str) -> bytes:
        cap = self.max_response_bytes
        if response.content_length is not None and response.content_length > cap:
            raise malformed(
                response.status, b"", method=method, url=url, why=f"body larger than {cap} bytes"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise malformed(
                    response.status,
                    b"",
                    method=method,
                    url=url,
                    why=f"body larger than {cap} bytes",
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _decode(
        status: int,
        body: bytes,
        content_type: str,
        retry_after: str | None,
        method: str,
        url: str,
    ) -> Any:
        if status >= 400:
            raise error_for_status(status, body, method=method, url=url, retry_after=retry_after)
        if not body.strip():
            raise malformed(status, body, method=method, url=url, why="empty body")
        try:
            with no_cyclic_gc():
                payload = _loads(body)
        except ValueError:
            why = f"not JSON (content type {content_type or 'missing'})"
            raise malformed(status, body, method=method, url=url, why=why) from None
        if not isinstance(payload, dict):
            raise malformed(status, body, method=method, url=url, why="JSON is not an object")
        if "error_message" in payload:
            raise error_for_status(status, body, method=method, url=url, payload=payload)
        return payload

    def _log(
        self, method: str, url: yarl.URL, status: int | None, started: float, attempt: int
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.1f ms (attempt %d)",
                method,
                url.path,
                status if status is not None else "no answer",
                (time.perf_counter() - started) * 1000,
                attempt,
            )


def _is_json(response: aiohttp.ClientResponse) -> bool:
    return response.content_type in ("application/json", "text/json")
