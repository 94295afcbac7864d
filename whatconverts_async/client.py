"""The API client: configuration, session lifecycle, and the one request path.

Every API call of the library goes through :meth:`WhatConverts.request` (or
:meth:`WhatConverts.stream` for a file), which applies, in order: the throttle (daily
budget, spacing, in-flight cap), HTTP Basic auth, one attempt through the transport
(:mod:`whatconverts_async._transport`: send, capped read, error mapping), the retry
policy around the attempts (:mod:`whatconverts_async.retry`), and JSON decoding. An
answer that says the key's daily limit is reached leaves the retries at once: the budget
is marked spent until UTC midnight, then the client raises or waits for the reset.
Resources (``wc.leads``, ``wc.accounts``, ...) only build parameters and read models,
through that narrow surface.

Example::

    async with WhatConverts("token", "secret", key_type="master") as wc:
        lead = await wc.leads.get(178849242)
        print(wc.quota.remaining)
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import enum
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

import attrs
import yarl

from ._headers import Headers
from ._session import ClientSession, ConnectionConfig, SessionOwner, option_changes
from ._transport import (
    REDACTIONS,
    Answer,
    Sink,
    Transport,
    decode_object,
    decode_object_sliced,
    malformed,
)
from ._validators import has_methods, one_of, seconds, whole
from .budget import Clock, LocalQuota, Quota, SystemClock, daily_limit_for, wait_for_reset
from .errors import (
    APIConnectionError,
    APIError,
    InvalidParameterError,
    KeyTypeError,
    PermissionDeniedError,
    QuotaExhaustedError,
)
from .params import encode_form, encode_query, format_datetime, require_secure_transport
from .resources.accounts import AccountsResource
from .resources.leads import LeadsResource
from .resources.profiles import ProfilesResource
from .resources.recordings import RecordingsResource
from .resources.roles import RolesResource
from .resources.tracking import TrackingResource
from .resources.users import UsersResource
from .retry import RetryPolicy
from .throttle import MAX_IN_FLIGHT, Throttle
from .vocab import AGENCY_ONLY_RESOURCES

__all__ = [
    "DEFAULT_BASE_URL",
    "APIResponse",
    "ClientConfig",
    "KeyType",
    "RequestTally",
    "WhatConverts",
]

DEFAULT_BASE_URL = "https://app.whatconverts.com/api/v1/"

T = TypeVar("T")

logger = logging.getLogger("whatconverts_async")

AGENCY_KEY_MESSAGE = re.compile(r"\b(?:agency|master)\b.{0,40}\bkey\b", re.IGNORECASE)
"""An ``error_message`` saying an Agency (master) key is needed (the API documents
"Agency Key is required to access this resource")."""


def _agency_only(path: str) -> bool:
    return path.lstrip("/").split("/", 1)[0] in AGENCY_ONLY_RESOURCES


class _DailyLimitReached(Exception):
    """Internal: an answer said the key's day is spent (never retried, never escapes)."""

    def __init__(self, error: APIError) -> None:
        super().__init__(error.status)
        self.error = error


class RequestTally:
    """The requests one piece of work put on the wire: see :meth:`WhatConverts.count_requests`.

    ``sent`` counts attempts (retries included) that took budget, less those given back
    because they provably never left the machine: the same rule as the throttle's
    ``requests_sent``, restricted to the work inside the ``count_requests()`` block.
    """

    __slots__ = ("_throttle", "sent")

    def __init__(self, throttle: Throttle) -> None:
        self._throttle = throttle
        self.sent = 0

    def __repr__(self) -> str:
        return f"RequestTally(sent={self.sent})"


# The tallies open in the current context. A task copies its creator's context, so the
# requests of tasks started inside a count_requests() block (prefetching pages) count too,
# and those of tasks started elsewhere do not.
_TALLIES: contextvars.ContextVar[tuple[RequestTally, ...]] = contextvars.ContextVar(
    "whatconverts_async_request_tallies", default=()
)


def _tally(throttle: Throttle, step: int) -> None:
    for tally in _TALLIES.get():
        if tally._throttle is throttle:
            tally.sent += step


@attrs.frozen
class APIResponse:
    """One API answer with its metadata, from :meth:`WhatConverts.request_raw`.

    ``data`` is the JSON object answered; ``status`` the HTTP status; ``headers`` the
    answer's headers (read-only, case-insensitive, without our credentials; see
    :class:`~whatconverts_async.errors.APIError`); ``method`` and ``url`` the request
    that got it (the last attempt's, when it was retried).
    """

    data: dict[str, Any] = attrs.field(repr=False)
    status: int
    headers: Headers = attrs.field(repr=False)
    method: str
    url: str


class KeyType(str, enum.Enum):
    """The kind of API key: a profile key (1,000 requests/day, one profile) or a master
    (agency) key (10,000 requests/day, every account and profile)."""

    PROFILE = "profile"
    MASTER = "master"


def _key_type(value: Any) -> KeyType:
    try:
        return KeyType(value)
    except ValueError:
        raise InvalidParameterError(
            "key_type", f"must be 'profile' or 'master', got {value!r}"
        ) from None


def _base_url(value: Any) -> yarl.URL:
    if isinstance(value, yarl.URL):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidParameterError("base_url", "must be a string")
    url = yarl.URL(value)
    if url.scheme not in ("https", "http") or not url.host:
        raise InvalidParameterError("base_url", f"must be an http(s) URL, got {value!r}")
    if url.user or url.password:
        raise InvalidParameterError(
            "base_url", "must not contain credentials; pass api_token/api_secret"
        )
    if url.raw_query_string or url.raw_fragment or "?" in value or "#" in value:
        # Requests are built by joining paths to it, which drops both: refused rather than
        # kept in reprs and silently not sent (a key in a query is a secret, not shown).
        raise InvalidParameterError(
            "base_url", "must not have a query string or fragment (they would not be sent)"
        )
    return url if url.path.endswith("/") else url.with_path(url.path + "/")


def _in_flight_cap(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    whole(1)(_instance, attribute, value)
    if value > MAX_IN_FLIGHT:
        # More would only earn refusals: the API allows 20 requests in flight per key.
        raise InvalidParameterError(
            "max_concurrency",
            f"must be at most {MAX_IN_FLIGHT} (the API's limit of requests in flight per "
            f"key), got {value!r}",
        )


@attrs.frozen(kw_only=True, repr=False)
class ClientConfig(ConnectionConfig):
    """The settings of a :class:`WhatConverts` client, checked when built (each bad value
    raises :class:`~whatconverts_async.errors.InvalidParameterError` naming it). The
    fields are the client's keyword arguments of the same names.

    >>> ClientConfig(key_type="master", base_url="http://127.0.0.1:8080/api/v1").base_url
    URL('http://127.0.0.1:8080/api/v1/')
    """

    key_type: KeyType = attrs.field(default=KeyType.PROFILE, converter=_key_type)
    base_url: yarl.URL = attrs.field(default=yarl.URL(DEFAULT_BASE_URL), converter=_base_url)
    daily_limit: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(whole(0))
    )
    on_quota_exhausted: Literal["raise", "wait"] = attrs.field(
        default="raise", validator=one_of("raise", "wait")
    )
    max_concurrency: int = attrs.field(default=MAX_IN_FLIGHT, validator=_in_flight_cap)
    quota: Quota | None = attrs.field(
        default=None,
        validator=has_methods("try_acquire", like="a Quota", on_type=True),
        repr=False,
    )
    clock: Clock | None = attrs.field(
        default=None,
        validator=has_methods("now", "sleep", like="a clock with now() and async sleep()"),
        repr=False,
    )
    min_interval: float = attrs.field(default=0.001, validator=seconds())
    max_response_bytes: int = attrs.field(default=256 * 1024 * 1024, validator=whole(1))

    def __attrs_post_init__(self) -> None:
        require_secure_transport(
            self.base_url, "base_url", allow_insecure=self.allow_insecure, secret="credentials"
        )

    def __repr__(self) -> str:
        # Not attrs' repr: that one fails on a half-built config, which is what a traceback
        # rendered with locals shows when a setting was refused.
        shown = [
            f"{field.name}={getattr(self, field.name, '<unset>')!r}"
            for field in attrs.fields(type(self))
            if field.repr
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


class _Secret:
    """A credential string that prints as a mask (in reprs, and so in frame locals)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret hidden>"


class _AuthHeaders(Mapping[str, str]):
    """Request headers holding ``Authorization``: a mapping aiohttp reads like a dict, whose
    repr is a mask, so a traceback rendered with locals (pytest ``-l``, rich, error
    trackers) never shows the header."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<headers {sorted(self._items)} (values hidden)>"


def _credential_problem(token: Any, secret: Any) -> tuple[str, str] | None:
    """The name of the credential argument that is unusable and what is wrong with it
    (never its value), if any."""
    for name, value in (("api_token", token), ("api_secret", secret)):
        raw = value.value if isinstance(value, _Secret) else value
        if not isinstance(raw, str) or not raw.strip():
            return name, "must be a non-empty string"
    raw_token = token.value if isinstance(token, _Secret) else token
    if ":" in raw_token:
        # HTTP Basic auth joins user and password with the first ':' (RFC 7617), so the
        # server would split such a token in the wrong place: every request a 401.
        return "api_token", "must not contain ':' (is it 'token:secret' in one string?)"
    return None


def _basic(token: str, secret: str | _Secret) -> _Secret:
    """The Basic auth header of ``token``/``secret`` (cannot raise: see :class:`_Credentials`)."""
    plain = secret.value if isinstance(secret, _Secret) else secret
    # surrogatepass: any str encodes, so nothing can raise while the secret is a local.
    raw = f"{token}:{plain}".encode("utf-8", "surrogatepass")
    encoded = base64.b64encode(raw).decode("ascii")
    # A server or proxy that echoes the header (or the secret, or the token) back must not
    # put it in our error messages or in the response headers errors carry.
    REDACTIONS.add(encoded, plain, token)
    return _Secret("Basic " + encoded)


class _Credentials:
    """Holds the Authorization header; prints as a mask so it never leaks by repr.

    Building one never raises (the frame raising would hold the secret among its locals);
    :meth:`check` raises afterwards, once the caller has dropped its own copies.
    """

    __slots__ = ("_from_env", "_header", "_problem")

    def __init__(self, token: Any, secret: Any, *, from_env: bool = False) -> None:
        self._problem = _credential_problem(token, secret)
        self._header = _Secret("") if self._problem else _basic(token, secret)
        self._from_env = from_env
        del token, secret

    def check(self) -> None:
        """Raise :class:`InvalidParameterError` naming a credential that was not usable."""
        if self._problem is not None:
            name, problem = self._problem
            if self._from_env:
                variable = "WHATCONVERTS_" + name.upper()
                if problem.startswith("must be a non-empty"):
                    problem = f"was not passed and {variable} is not set in the environment"
                else:
                    problem = f"(from {variable}) {problem}"
            raise InvalidParameterError(name, problem)

    @property
    def header(self) -> str:
        """The ``Authorization`` header value (``Basic ...``)."""
        return self._header.value

    def headers(self, *, accept: str | None = None) -> _AuthHeaders:
        """The request headers that carry the credentials (and ``Accept``, if given)."""
        items = {"Authorization": self._header.value}
        if accept is not None:
            items["Accept"] = accept
        return _AuthHeaders(items)

    def __repr__(self) -> str:
        return "<credentials hidden>"


def _credentials_from_env() -> _Credentials:
    """Credentials from ``WHATCONVERTS_API_TOKEN``/``WHATCONVERTS_API_SECRET`` (the secret is
    wrapped before it becomes a local); an unset variable is named by :meth:`_Credentials.check`."""
    token = os.environ.get("WHATCONVERTS_API_TOKEN") or None
    secret = os.environ.get("WHATCONVERTS_API_SECRET") or None
    return _Credentials(token, None if secret is None else _Secret(secret), from_env=True)


def _derived_options(client: SessionOwner, config_name: str) -> str:
    """For the repr of a client made by ``with_options()``: the settings (timeout,
    max_retries) in which it differs from its parent, so two clients that behave
    differently do not print alike. Empty for a client that was not derived."""
    parent = getattr(client, "_parent", None)
    mine = getattr(client, config_name, None)
    theirs = getattr(parent, config_name, None)
    if parent is None or mine is None or theirs is None:
        return ""
    changed = ", ".join(
        f"{name}={getattr(mine, name)!r}"
        for name in ("timeout", "max_retries")
        if getattr(mine, name, None) != getattr(theirs, name, None)
    )
    return f", with_options({changed})"


class WhatConverts(SessionOwner):
    """Async client for the WhatConverts REST API v1.

    Args:
        api_token: the API token (the Basic auth user). When neither credential is passed,
            both are read from ``WHATCONVERTS_API_TOKEN`` and ``WHATCONVERTS_API_SECRET``
            (an unset one raises :class:`InvalidParameterError` naming it).
        api_secret: the API secret (the Basic auth password). Never logged or shown.
        key_type: ``"profile"`` (default) or ``"master"``; sizes the daily budget and
            decides which filters are allowed.
        base_url: the API root, default ``https://app.whatconverts.com/api/v1/``. Plain
            ``http://`` is refused unless the host is loopback or ``allow_insecure=True``.
        timeout: seconds for one attempt of one request (default 30).
        max_retries: retries of transient failures per request (default 5).
        session: an ``aiohttp.ClientSession`` you own; the client then never closes it.
        daily_limit: the daily budget (default 1,000 for profile keys, 10,000 for master).
        on_quota_exhausted: what happens when the budget is spent, or an answer says the
            key's daily limit is reached (the key is shared with another process or tool;
            see ``RetryPolicy.is_daily_limit``): ``"raise"`` (default) raises
            :class:`QuotaExhaustedError`; ``"wait"`` waits for the UTC-midnight reset and
            goes on. Either way such an answer is not retried and the budget is marked
            spent until the reset. Waiting does not use up the retry time allowance.
        max_concurrency: requests in flight at once (default 20, the API's maximum).
        quota: a shared :class:`~whatconverts_async.budget.Quota` (e.g. Redis-backed)
            instead of the in-memory budget.
        clock: the clock of the budget (tests pass a
            :class:`~whatconverts_async.budget.FastClock`).
        min_interval: seconds between request starts (default 0.001, the API's rate).
        retry_policy: what is retried and how long to wait (see
            :class:`~whatconverts_async.retry.RetryPolicy`); ``max_retries`` overrides
            its count.
        max_response_bytes: answers larger than this are refused (default 256 MiB).
        trust_env: let the session this client creates use proxy settings
            (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) and ``~/.netrc`` from the
            environment, as ``aiohttp.ClientSession(trust_env=True)`` does (default
            False: the environment is ignored). Has no effect on a ``session`` you pass.

    Per-call settings: :meth:`with_options` returns a client with its own ``timeout``
    and retries that shares this one's session, budget and throttle.

    The budget counts what reached the wire: every attempt that may have reached the
    API spends one unit (retries too); an attempt that provably never left the machine
    (connection refused, DNS failure, TLS handshake or certificate failure) gives its
    unit back. A certificate that fails verification is never retried.

    Example::

        async with WhatConverts.from_env() as wc:
            async for lead in wc.leads.iterate(start_date=date(2024, 1, 1)):
                print(lead.lead_id, lead.lead_type)
    """

    def __init__(
        self,
        api_token: str | None = None,
        api_secret: str | None = None,
        *,
        key_type: KeyType | Literal["profile", "master"] = KeyType.PROFILE,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_retries: int = 5,
        session: ClientSession | None = None,
        daily_limit: int | None = None,
        on_quota_exhausted: Literal["raise", "wait"] = "raise",
        max_concurrency: int = 20,
        quota: Quota | None = None,
        clock: Clock | None = None,
        allow_insecure: bool = False,
        min_interval: float = 0.001,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = 256 * 1024 * 1024,
        trust_env: bool = False,
    ) -> None:
        if api_token is None and api_secret is None:
            # As openai-python reads OPENAI_API_KEY: credentials from the environment.
            self._credentials = _credentials_from_env()
        else:
            self._credentials = _Credentials(api_token, api_secret)
        # Out of this frame's locals: a traceback rendered with locals must not show them.
        del api_token, api_secret
        self._credentials.check()
        self.config = config = ClientConfig(
            key_type=key_type,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            session=session,
            daily_limit=daily_limit,
            on_quota_exhausted=on_quota_exhausted,
            max_concurrency=max_concurrency,
            quota=quota,
            clock=clock,
            allow_insecure=allow_insecure,
            min_interval=min_interval,
            retry_policy=retry_policy,
            max_response_bytes=max_response_bytes,
            trust_env=trust_env,
        )
        self._clock: Clock = config.clock or SystemClock()
        self._throttle = Throttle(
            self._budget(config),
            max_concurrency=config.max_concurrency,
            min_interval=float(config.min_interval),
            on_exhausted=config.on_quota_exhausted,
            clock=self._clock,
        )
        self._init_session(
            config.session,
            headers={"Accept": "application/json"},
            connection_limit=config.max_concurrency,
            trust_env=config.trust_env,
        )
        self._configure(config)

    def _configure(self, config: ClientConfig) -> None:
        """Set what follows from ``config`` alone (the per-call settings and the
        resources); the budget, throttle, clock and session are set by the caller."""
        self.config = config
        self.key_type = config.key_type
        self.base_url = config.base_url
        self.timeout = float(config.timeout)
        self.retry_policy = config.retries
        self.max_response_bytes = config.max_response_bytes
        self._transport = Transport(timeout=self.timeout, max_body=self.max_response_bytes)
        self.leads = LeadsResource(self)
        """Leads: list, iterate, get, create, update."""
        self.accounts = AccountsResource(self)
        """Accounts (master key): list, iterate, get, create, update, delete."""
        self.profiles = ProfilesResource(self)
        """Profiles of an account (master key): list, iterate, get, create, update, delete."""
        self.recordings = RecordingsResource(self)
        """Call recordings: get bytes, or download to a file."""
        self.users = UsersResource(self)
        """Users (master key): list, iterate, get."""
        self.roles = RolesResource(self)
        """Roles (master key): list, iterate, get."""
        self.tracking = TrackingResource(self)
        """Tracking numbers and forms."""

    def _budget(self, config: ClientConfig) -> Quota:
        limit = daily_limit_for(config.key_type.value, config.daily_limit)
        if config.quota is None:
            return LocalQuota(limit, clock=self._clock)
        bind = getattr(config.quota, "set_default_limit", None)
        if bind is not None:
            # A shared quota created without a limit takes this client's.
            bind(limit)
        elif config.daily_limit is not None:
            raise InvalidParameterError("daily_limit", "cannot be combined with quota=")
        return config.quota

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> WhatConverts:
        """A client with other per-call settings that shares everything else with this one.

        The new client uses this one's HTTP session, daily budget (units it spends show in
        ``wc.quota``), spacing and in-flight cap, credentials and clock; only what is
        passed differs (None keeps this client's value):

        * ``timeout``: seconds for one attempt (finite, > 0);
        * ``max_retries``: retries of transient failures per request (>= 0);
        * ``retry_policy``: a :class:`~whatconverts_async.retry.RetryPolicy`; its own
          ``max_retries`` is used unless ``max_retries`` is passed too.

        Bad values raise :class:`~whatconverts_async.errors.InvalidParameterError`
        naming the argument, before anything is sent. Closing the new client (or
        leaving ``async with`` on it) never closes the shared session: this client
        owns it. Once this client is closed, the new one raises ``RuntimeError`` on use.
        Costs nothing: no request, no new connection.

        Example::

            fast = wc.with_options(timeout=2, max_retries=0)
            lead = await fast.leads.get(178849242)   # at most one attempt of 2 s
        """
        config = attrs.evolve(self.config, **option_changes(timeout, max_retries, retry_policy))
        derived = object.__new__(type(self))
        derived._credentials = self._credentials
        derived._clock = self._clock
        derived._throttle = self._throttle
        # The session's owner, not a derived client: closing a derived client must not
        # cut off the clients derived from it.
        derived._share_session(self._parent if isinstance(self._parent, WhatConverts) else self)
        derived._configure(config)
        return derived

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
        token = env["WHATCONVERTS_API_TOKEN"]
        secret = _Secret(env["WHATCONVERTS_API_SECRET"])
        # The environment holds the secret in clear: out of this frame's locals.
        del env, environ
        return cls(token, cast(str, secret), **kwargs)

    def __repr__(self) -> str:
        # Works on a half-built client too (repr() while reporting what stopped __init__).
        key_type = getattr(getattr(self, "key_type", None), "value", None)
        base_url = getattr(self, "base_url", None)
        return (
            f"WhatConverts(key_type={key_type!r}, "
            f"base_url={str(base_url) if base_url is not None else None!r}"
            f"{_derived_options(self, 'config')})"
        )

    # -- introspection ------------------------------------------------------------

    @property
    def quota(self) -> Quota:
        """The daily budget: ``limit``, ``used``, ``remaining``, ``resets_at``."""
        return self._throttle.quota

    @contextlib.contextmanager
    def count_requests(self) -> Iterator[RequestTally]:
        """Count the requests made on behalf of the code inside the ``with`` block.

        The tally's ``sent`` grows with each request this client (or a client derived
        from it with :meth:`with_options`: they share one throttle) puts on the wire from
        inside the block, or from a task started inside it; requests that other tasks
        make on the same client meanwhile are not counted. Blocks may nest; each counts
        its own. Enter and leave it in one task (it is a context variable)::

            with wc.count_requests() as tally:
                page = await wc.leads.list(leads_per_page=100)
            print(tally.sent)
        """
        tally = RequestTally(self._throttle)
        token = _TALLIES.set((*_TALLIES.get(), tally))
        try:
            yield tally
        finally:
            _TALLIES.reset(token)

    @property
    def throttle(self) -> Throttle:
        """The throttle (``in_flight``, ``peak_in_flight``, ``max_concurrency``)."""
        return self._throttle

    @property
    def clock(self) -> Clock:
        """The clock of the budget (and of "now" in scans): ``SystemClock`` unless given."""
        return self._clock

    def now(self) -> datetime:
        """The current time by :attr:`clock`, an aware UTC datetime."""
        return self._clock.now()

    # -- the one request path -------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Send one logical API request (throttled, authenticated, retried) and return the
        JSON object it answered.

        ``path`` is relative to ``base_url`` (``"leads"``, ``"accounts/7/profiles"``);
        ``params`` become the query and ``form`` fields a ``multipart/form-data`` body
        (values are encoded as the API expects: ``None`` dropped, booleans as
        ``true``/``false``, datetimes as ISO 8601 UTC, a mapping as ``name[key]``).
        ``idempotent`` defaults to False for POST: a create is retried only when it never
        reached the server. Raises the errors of :mod:`whatconverts_async.errors`; an
        answer saying the key's daily limit is reached raises
        :class:`~whatconverts_async.errors.QuotaExhaustedError` (or, in ``"wait"`` mode,
        waits for the reset and sends again).

        Example::

            payload = await wc.request("GET", "leads", params={"leads_per_page": 1})

        :meth:`request_raw` does the same and returns the answer's headers too.
        """
        answer = await self.request_raw(
            method, path, params=params, form=form, idempotent=idempotent
        )
        return answer.data

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> APIResponse:
        """Like :meth:`request` (same arguments, path, budget, retries and errors), but
        returns an :class:`APIResponse`: the JSON object as ``data`` with the answer's
        ``status`` and ``headers``.

        Example::

            answer = await wc.request_raw("GET", "leads", params={"leads_per_page": 1})
            print(answer.headers.get("Date"), answer.data["total_leads"])
        """
        method = method.upper()
        pairs = encode_form(form) if form is not None else None

        async def attempt(
            url: yarl.URL, query: list[tuple[str, str]], number: int, waited: list[float]
        ) -> Any:
            answer = await self._on_wire(
                waited, method, url, query, number, form=pairs, headers=self._credentials.headers()
            )
            assert answer is not None  # no sink: always an answer
            return APIResponse(
                await decode_object_sliced(answer),
                answer.status,
                answer.headers,
                answer.method,
                answer.url,
            )

        response: APIResponse = await self._retried(method, path, params, idempotent, attempt)
        return response

    async def _request_read(
        self,
        method: str,
        path: str,
        read: Callable[[Answer], Awaitable[T]],
        *,
        params: Mapping[str, Any] | None = None,
    ) -> T:
        """:meth:`request` for a resource that reads the answer itself: ``read`` gets each
        complete 2xx answer (within the attempt, so its errors are treated as those of
        the JSON decode of :meth:`request`) and its result is returned. Used by the lead
        list to build leads from the answer's bytes (``convert.lead_page_steps``)."""
        method = method.upper()

        async def attempt(
            url: yarl.URL, query: list[tuple[str, str]], number: int, waited: list[float]
        ) -> Any:
            answer = await self._on_wire(
                waited, method, url, query, number, headers=self._credentials.headers()
            )
            assert answer is not None  # no sink: always an answer
            return await read(answer)

        result: T = await self._retried(method, path, params, None, attempt)
        return result

    async def stream(
        self,
        method: str,
        path: str,
        sink: Sink[T],
        *,
        params: Mapping[str, Any] | None = None,
        capped: bool = True,
        accept: str | None = None,
    ) -> T:
        """Send one logical request whose answer is a file, and hand its body to ``sink``
        as chunks of bytes; returns what ``sink`` returns.

        The sink may run more than once (once per attempt); each run must start afresh.
        With ``capped`` the body may not exceed ``max_response_bytes``
        (:class:`~whatconverts_async.errors.MalformedResponseError`). ``accept`` is the
        ``Accept`` header (default JSON, the session's). A JSON answer is the error it
        names. Example::

            async def collect(chunks):
                return b"".join([c async for c in chunks])

            audio = await wc.stream("GET", "recording", collect, params={"lead_id": 1})
        """
        method = method.upper()
        results: list[T] = []

        async def run(chunks: AsyncIterator[bytes]) -> None:
            results.append(await sink(chunks))

        async def attempt(
            url: yarl.URL, query: list[tuple[str, str]], number: int, waited: list[float]
        ) -> Any:
            answer = await self._on_wire(
                waited,
                method,
                url,
                query,
                number,
                headers=self._credentials.headers(accept=accept),
                sink=run,
                limit=self.max_response_bytes if capped else None,
            )
            if answer is None:
                return results[-1]
            decode_object(answer)  # the error it names, if it names one
            why = "expected a file, got JSON"
            raise malformed(answer.status, answer.body, method=method, url=answer.url, why=why)

        result: T = await self._retried(method, path, params, None, attempt)
        return result

    async def _on_wire(
        self,
        waited: list[float],
        method: str,
        url: yarl.URL,
        query: list[tuple[str, str]],
        number: int,
        **send: Any,
    ) -> Answer | None:
        """One attempt through the throttle and the transport (``send`` holds the rest of
        :meth:`Transport.send`'s arguments): adds the seconds spent waiting for a slot
        (budget, spacing, in-flight cap) to ``waited[0]``, and gives the budget unit back
        when the request provably never left the machine."""
        session = self._get_session()
        queued = time.monotonic()
        async with self._throttle.slot():
            waited[0] += time.monotonic() - queued
            _tally(self._throttle, 1)
            try:
                return await self._transport.send(
                    session, method, url, attempt=number, params=query, **send
                )
            except APIConnectionError as exc:
                if not exc.request_sent:
                    # Refused, DNS, TLS handshake or certificate: the API never saw it, so
                    # it spent nothing of the key's day.
                    await self._refund()
                raise

    async def _refund(self) -> None:
        refund = getattr(self._throttle.quota, "refund", None)
        if refund is None:
            return  # a user's quota without refunds: over-counting is the safe side
        await refund()
        self._throttle.requests_sent -= 1
        _tally(self._throttle, -1)

    async def _retried(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        idempotent: bool | None,
        attempt: Callable[[yarl.URL, list[tuple[str, str]], int, list[float]], Awaitable[Any]],
    ) -> Any:
        url = self.base_url.join(yarl.URL(path.lstrip("/")))
        query = encode_query(params or {})
        attempts = 0
        policy = self.retry_policy
        waited = [0.0]  # seconds of this request spent waiting for a slot, not retrying

        def describe() -> str:
            return f"{method} {url.path}"

        async def once() -> Any:
            nonlocal attempts
            attempts += 1
            try:
                return await attempt(url, query, attempts, waited)
            except APIConnectionError:
                if self._shut:
                    # close() cut this request off: say so at once instead of retrying.
                    whose = (
                        "this WhatConverts client"
                        if self._closed
                        else ("the client this one was derived from (with_options())")
                    )
                    raise RuntimeError(f"{whose} was closed during {describe()}") from None
                raise
            except APIError as exc:
                if policy.is_daily_limit(exc.status, exc.error_message, exc.retry_after):
                    raise _DailyLimitReached(exc) from None
                hinted = self._key_type_hint(exc, path)
                if hinted is not None:
                    raise hinted from None
                raise

        if idempotent is None:
            idempotent = method != "POST"
        while True:
            # A fresh controller (attempt count, time cap) each time: a wait for the
            # daily reset must leave the next day's request its whole retry allowance.
            retrying = policy.retrying(
                idempotent=idempotent, describe=describe, not_retrying=lambda: waited[0]
            )
            try:
                return await retrying(once)
            except _DailyLimitReached as reached:
                error = await self._day_spent(reached.error)
            if self.config.on_quota_exhausted == "raise":
                raise error
            logger.warning("%s; waiting for the reset", error)
            # Waited here, not only in the throttle: a user's quota whose mark_spent does
            # not stop try_acquire must not turn this loop into a stream of refusals.
            await wait_for_reset(self._throttle.quota, self._clock)

    def _key_type_hint(self, exc: APIError, path: str) -> APIError | None:
        """For a client told ``key_type="master"``, a 403 (or 401) from an agency-only
        resource says what it likely means: a 403 with the API's "Agency Key is required"
        message is a :class:`KeyTypeError` (the key is a profile key, its budget is
        1,000/day); any other such refusal is the same error with a hint, since it has
        other causes too."""
        if (
            self.key_type is not KeyType.MASTER
            or exc.status not in (401, 403)
            or not _agency_only(path)
        ):
            return None
        same: dict[str, Any] = dict(
            status=exc.status,
            method=exc.method,
            url=exc.url,
            error_message=exc.error_message,
            body=exc.body,
            retry_after=exc.retry_after,
            headers=exc.headers,
        )
        resource = path.lstrip("/").split("/", 1)[0]
        if (
            exc.status == 403
            and exc.error_message is not None
            and AGENCY_KEY_MESSAGE.search(exc.error_message)
        ):
            return KeyTypeError(
                f"{exc}: this client was built with key_type='master', but the API says "
                f"{resource} needs an Agency (master) key, so this key is a profile key. "
                "Its daily limit is 1,000 requests, not the 10,000 this client's budget "
                "assumes: build the client with key_type='profile'",
                declared=KeyType.MASTER.value,
                detected=KeyType.PROFILE.value,
                **same,
            )
        return type(exc)(
            f"{exc} (this client was built with key_type='master'; if the key is in fact a "
            f"profile key, which may not use {resource}, build it with key_type='profile': "
            "await wc.check_key_type() tells, for one request)",
            **same,
        )

    async def check_key_type(self, *, raise_on_mismatch: bool = True) -> KeyType:
        """Ask the API which kind of key this is, and return it.

        Makes ONE request (``GET accounts``, one account per page), which spends one unit
        of the daily budget: a master (agency) key is answered, a profile key is refused
        with 403 "Agency Key is required ...". Call it once at start-up when the key's
        type is not certain; the budget (1,000 or 10,000 a day) and the agency-only
        resources and filters depend on ``key_type``.

        Returns :attr:`KeyType.MASTER` or :attr:`KeyType.PROFILE`. When it differs from
        the ``key_type`` this client was built with, raises :class:`KeyTypeError`
        (``declared``, ``detected``) unless ``raise_on_mismatch=False``. A 403 that does
        not say an Agency key is needed is not guessed at: that
        :class:`~whatconverts_async.errors.PermissionDeniedError` is raised as it came.
        Other errors (authentication, budget, connection) are raised as usual.

        Example::

            async with WhatConverts(token, secret, key_type="master") as wc:
                await wc.check_key_type()   # KeyTypeError if it is a profile key
        """
        if not isinstance(raise_on_mismatch, bool):
            raise InvalidParameterError("raise_on_mismatch", "must be True or False")
        params = {"accounts_per_page": 1, "page_number": 1}
        refused: APIError | None = None
        try:
            await self.request("GET", "accounts", params=params)
            detected = KeyType.MASTER
        except KeyTypeError as exc:
            detected, refused = KeyType.PROFILE, exc
        except PermissionDeniedError as exc:
            if exc.error_message is None or not AGENCY_KEY_MESSAGE.search(exc.error_message):
                raise
            detected, refused = KeyType.PROFILE, exc
        if detected is self.key_type or not raise_on_mismatch:
            return detected
        if refused is not None:
            if isinstance(refused, KeyTypeError):
                raise refused
            url = refused.url
        else:
            url = str(self.base_url.join(yarl.URL("accounts")))
        if detected is KeyType.MASTER:
            message = (
                f"GET {url} was answered, so this key is a master (agency) key, but this "
                "client was built with key_type='profile': build it with key_type='master' "
                "for the key's 10,000 requests a day and the account/profile filters"
            )
        else:
            message = (
                f"GET {url} was refused as needing an Agency key, so this key is a profile "
                "key, but this client was built with key_type='master' (a budget of 10,000 "
                "a day against the key's 1,000): build it with key_type='profile'"
            )
        raise KeyTypeError(
            message,
            declared=self.key_type.value,
            detected=detected.value,
            status=200 if refused is None else refused.status,
            method="GET",
            url=url,
            error_message=None if refused is None else refused.error_message,
            headers=None if refused is None else refused.headers,
        )

    async def _day_spent(self, answer: APIError) -> QuotaExhaustedError:
        """Mark the budget spent until the next UTC midnight after ``answer`` said the
        key's day is used up, and return the error that says so."""
        quota = self._throttle.quota
        await quota.mark_spent()
        said = answer.error_message if answer.error_message is not None else "no message"
        return QuotaExhaustedError(
            quota.limit,
            quota.resets_at,
            f"the API says the daily request limit of this key is reached ({answer.status} "
            f"from {answer.method} {answer.url}: {said}); the budget of {quota.limit} is "
            f"marked spent until {format_datetime(quota.resets_at)} (UTC midnight)",
            status=answer.status,
            error_message=answer.error_message,
        )
