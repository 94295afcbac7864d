"""The simulator: an aiohttp.web application that answers like the WhatConverts API v1.

:class:`FakeWhatConverts` serves a generated :class:`~whatconverts_async.testing.Dataset`
over real HTTP on loopback, checks Basic auth and key types, enforces the daily
request limit, records every request and injects faults on demand. Requests are
routed by aiohttp's router; recording, latency, error answers, authentication with
the daily limit, faults and the agency-key rule are middlewares, each written once.

Example::

    import base64, aiohttp
    from whatconverts_async.testing import FakeWhatConverts

    async with FakeWhatConverts(leads=5_000, key_type="master") as fake:
        auth = base64.b64encode(f"{fake.token}:{fake.secret}".encode()).decode()
        async with aiohttp.ClientSession(headers={"Authorization": f"Basic {auth}"}) as s:
            async with s.get(fake.url + "leads", params={"leads_per_page": 100}) as r:
                page = await r.json()
        assert page["total_leads"] == 5_000
        assert fake.requests[-1].params["leads_per_page"] == "100"

Behaviour the public documentation leaves open, as this simulator implements it (the
questions with more than one plausible answer are switches of
:class:`~whatconverts_async.testing.Realism`, passed as ``realism=``):

* Errors are JSON ``{"error_message": "..."}``: 401 for missing or wrong credentials,
  403 for a profile key on accounts/profiles/users/roles, 400 for bad parameters,
  unknown ids (``invalid_id_status`` switches that to e.g. 404), and date ranges over
  400 days, 404 for a lead without a recording, 429 once the daily limit is spent
  (no ``Retry-After``; ``Realism.spent_key_status`` switches it to 403 or 200).
* Unknown query and form parameters are ignored (``Realism.strict`` rejects them).
* ``leads_per_page`` above 2,500 (other page sizes above 250) is rejected, not clamped.
* Lead lists without ``start_date``/``end_date`` are unbounded on that side; the
  400-day limit applies only when both are given, to the effective instants (a bare
  ``end_date`` means 23:59:59 of that day, so bare dates may span 400 calendar days).
  Both bounds are inclusive. ``+00:00`` is accepted besides ``Z``.
* ``spam=true``/``duplicate=true`` return only spam/duplicate leads; absent or
  ``false``, spam and duplicate leads are included like any other
  (``Realism.hide_spam_by_default`` hides spam when ``spam`` is absent).
* Creates answer 200, not 201. POST bodies may be urlencoded, multipart or JSON;
  ``additional_fields[Name]=value`` sets ``additional_fields["Name"]`` (and
  ``mapped_fields[Name]`` likewise). A create may carry ``gclid``, ``msclkid``,
  ``fbclid`` and a ``date_created`` (ISO 8601 UTC) that back-dates the lead, as
  integrations send them.
* Users: create with ``POST users`` (``email`` required, ``user_type``
  ``master_account``/``account``, ``role_id``); edit with ``POST users/{id}`` or
  ``POST users`` carrying ``user_id``; both answer the user object. Deleting users
  and tracking forms is documented nowhere, so it is served only with
  ``Realism(undocumented_endpoints=True)``.
* Deleting an account or profile leaves its leads readable by id.
* Webhooks (``fake.webhooks``, :mod:`whatconverts_async.testing.webhooks`): a lead created
  or edited through the API or an inbound Endpoint is POSTed, in the background, to every
  subscribed URL as its full wire object plus ``"trigger"`` (``"new"``/``"update"``).
* Inbound Endpoints (``fake.endpoint_url(profile_id)``): ``POST /endpoints/<token>`` with a
  CSV (``text/csv``) or JSON array (``application/json``) body, in the format the Endpoint
  was created with (else 415). No API key and no daily quota; faults apply. The whole batch
  is refused with 400 ``{"error_message": "Row N: ..."}`` when a row is bad (unknown or
  missing columns, a bad date or number, a ``Profile ID`` other than the Endpoint's);
  otherwise 200 ``{"rows": n, "created": [...], "updated": [...], "ignored": n}``
  (``Realism.endpoint_answer`` switches it to an empty or a ``text/plain`` body). A row
  whose ``Lead ID`` exists updates that lead (``on_existing="update"``, the default),
  or creates a new one (``"create"``), or is ignored (``"ignore"``). Unknown token: 404.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple

import attrs
from aiohttp import web

from .data import (
    LEAD_TYPES,
    QUOTABLE_VALUES,
    Dataset,
    EndpointRow,
    LeadFilter,
    format_timestamp,
    parse_endpoint_row,
)
from .faults import Faults
from .realism import Realism
from .webhooks import WebhookDelivery, WebhookSender
from .wire import (
    _AGENCY_ONLY,
    _CREATE_FORM,
    _CREATE_TEXT_FIELDS,
    _EDIT_FORM,
    _LEAD_LIST_PARAMS,
    _LOGIN_PAGE,
    _TEXT_FILTERS,
    _USER_FORM,
    ApiError,
    _additional_fields,
    _bool_field,
    _choice,
    _choices_error,
    _credentials,
    _csv_rows,
    _date_param,
    _error,
    _flag,
    _id_param,
    _int_param,
    _json,
    _json_rows,
    _money_field,
    _order,
    _parse_form,
    _presence,
    _quotable_field,
    _reject_unknown,
    _required,
    _token_of,
    _wire_ts,
)

__all__ = [
    "ApiKey",
    "FakeEndpoint",
    "FakeWhatConverts",
    "RecordedRequest",
    "SimulatorConfig",
]

UTC: Final = timezone.utc
API_ROOT: Final = "/api/v1/"
ENDPOINT_ROOT: Final = "/endpoints/"
STORAGE_ROOT: Final = "/storage/recordings/"
KeyType = Literal["profile", "master"]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiKey(NamedTuple):
    """An API key: the token is the Basic-auth user, the secret the password."""

    token: str
    secret: str

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value for this key."""
        raw = f"{self.token}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@attrs.frozen
class RecordedRequest:
    """One request as the simulator received it (``fake.requests``).

    ``status`` is the status answered, or ``None`` when the connection was dropped
    (or the request is still being handled).
    """

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    form: dict[str, str] | None
    content_type: str
    key_token: str | None
    status: int | None = None
    received_at: float = 0.0

    @property
    def params(self) -> dict[str, str]:
        """Query parameters as a dict (the last value wins)."""
        return dict(self.query)


@attrs.frozen
class SimulatorConfig:
    """Everything that shapes a :class:`FakeWhatConverts`; see its constructor."""

    leads: int = 30_000
    seed: int = 0
    key_type: KeyType = "profile"
    start: datetime = datetime(2017, 1, 1, tzinfo=UTC)
    end: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    accounts: int = 1
    profiles_per_account: int = 1
    daily_limit: int | None = None
    clock: Callable[[], datetime] | None = None
    host: str = "127.0.0.1"
    port: int = 0
    invalid_id_status: int = 400
    recording_size: int = 64 * 1024
    max_leads_per_page: int = 2_500
    max_page_size: int = 250
    max_range_days: int = 400
    latency: float | tuple[float, float] | None = None
    lead_cache_size: int = 10_000
    realism: Realism = attrs.field(factory=Realism)


@attrs.define
class FakeEndpoint:
    """An inbound Endpoint of the simulator (``fake.endpoints[token]``).

    ``lead_ids`` lists the leads it created or updated, ``rows`` the rows it accepted.
    """

    token: str
    profile_id: int
    format: Literal["csv", "json"] = "csv"
    on_existing: Literal["update", "create", "ignore"] = "update"
    default_lead_type: str = "other"
    rows: int = 0
    lead_ids: list[int] = attrs.field(factory=list)


@attrs.define
class _KeyInfo:
    secret: str
    key_type: KeyType
    profile_id: int | None


class _Dropped(Exception):
    pass


class FakeWhatConverts:
    """A local WhatConverts API v1 over HTTP; use ``async with`` or ``start()``/``close()``.

    Args:
        leads: number of generated leads.
        seed: seed of the data (and of random faults); same seed, same data.
        key_type: ``"profile"`` or ``"master"``: which key ``token``/``secret`` give.
        start, end: generated leads are dated within ``[start, end)``.
        accounts, profiles_per_account: size of the account tree.
        daily_limit: requests per key per UTC day; ``None`` means 1,000 for profile
            keys and 10,000 for master keys.
        clock: returns "now" as an aware UTC datetime (daily reset, created leads).
        host, port: where to listen; port 0 picks a free port.
        invalid_id_status: status for unknown ids (the API is seen using 400).
        recording_size: size in bytes of each simulated MP3 recording.
        max_leads_per_page, max_page_size, max_range_days: the API's limits.
        latency: initial ``faults.latency``.
        lead_cache_size: how many rendered leads to keep (about 3 KB each).
        realism: how to answer what the API documentation leaves open (spent key,
            unknown parameters, spam default, recordings...); see :class:`Realism`.
            ``None`` means ``Realism()``, what we believe the API does.
    """

    def __init__(
        self,
        leads: int = 30_000,
        *,
        seed: int = 0,
        key_type: KeyType = "profile",
        start: datetime = datetime(2017, 1, 1, tzinfo=UTC),
        end: datetime = datetime(2026, 1, 1, tzinfo=UTC),
        accounts: int = 1,
        profiles_per_account: int = 1,
        daily_limit: int | None = None,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        invalid_id_status: int = 400,
        recording_size: int = 64 * 1024,
        max_leads_per_page: int = 2_500,
        max_page_size: int = 250,
        max_range_days: int = 400,
        latency: float | tuple[float, float] | None = None,
        lead_cache_size: int = 10_000,
        realism: Realism | None = None,
    ) -> None:
        if key_type not in ("profile", "master"):
            raise ValueError(f"key_type must be 'profile' or 'master', got {key_type!r}")
        self.config = SimulatorConfig(
            leads=leads,
            seed=seed,
            key_type=key_type,
            start=start,
            end=end,
            accounts=accounts,
            profiles_per_account=profiles_per_account,
            daily_limit=daily_limit,
            clock=clock,
            host=host,
            port=port,
            invalid_id_status=invalid_id_status,
            recording_size=recording_size,
            max_leads_per_page=max_leads_per_page,
            max_page_size=max_page_size,
            max_range_days=max_range_days,
            latency=latency,
            lead_cache_size=lead_cache_size,
            realism=Realism() if realism is None else realism,
        )
        if not isinstance(self.config.realism, Realism):
            raise TypeError(f"realism must be a Realism, got {type(realism).__name__}")
        self.realism: Realism = self.config.realism
        """The :class:`Realism` switches; fixed at construction (routes depend on them)."""
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.data: Dataset = Dataset.generate(
            leads=leads,
            seed=seed,
            start=start,
            end=end,
            accounts=accounts,
            profiles_per_account=profiles_per_account,
            cache_size=lead_cache_size,
        )
        self.faults = Faults(seed)
        if latency is not None:
            self.faults.latency = latency
        self._keys: dict[str, _KeyInfo] = {}
        first_profile = self.data.profile_ids()[0]
        self.master_key: ApiKey = self._new_key("master", None)
        self.profile_key: ApiKey = self.add_profile_key(first_profile)
        self.key_type: KeyType = key_type
        self._requests: list[RecordedRequest] = []
        self._generation = 0
        self._in_flight = 0
        self.max_in_flight = 0
        self._daily: dict[str, tuple[str, int]] = {}
        self._outside: dict[str, int] = {}
        self._outside_pending: dict[str, list[int]] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._port = 0  # the bound port, known once started
        self.webhooks = WebhookSender(
            self.data.wire_lead, partial_updates=self.realism.update_webhooks == "partial"
        )
        """Outbound webhooks: ``subscribe(url)``, ``deliveries``, ``drain()``."""
        self.endpoints: dict[str, FakeEndpoint] = {}
        """Inbound Endpoints by token (see :meth:`endpoint_url`)."""
        self.app: web.Application = self._make_app()

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> FakeWhatConverts:
        """Build a simulator from a :class:`SimulatorConfig`."""
        return cls(**attrs.asdict(config, recurse=False))

    # --- keys -----------------------------------------------------------------------

    def _new_key(self, key_type: KeyType, profile_id: int | None) -> ApiKey:
        n = len(self._keys)
        digest = hashlib.sha256(f"{self.config.seed}:{key_type}:{profile_id}:{n}".encode())
        hexed = digest.hexdigest()
        prefix = str(profile_id) if profile_id is not None else "master"
        key = ApiKey(f"{prefix}-{hexed[:16]}", hexed[16:48])
        self._keys[key.token] = _KeyInfo(key.secret, key_type, profile_id)
        return key

    def add_profile_key(self, profile_id: int) -> ApiKey:
        """Create another profile key, scoped to ``profile_id``, and return it."""
        if not self.data.has_profile(profile_id):
            raise KeyError(f"unknown profile_id {profile_id}")
        return self._new_key("profile", profile_id)

    @property
    def token(self) -> str:
        """Token of the key of the requested ``key_type``."""
        return self._key().token

    @property
    def secret(self) -> str:
        """Secret of the key of the requested ``key_type``."""
        return self._key().secret

    @property
    def key(self) -> ApiKey:
        """The key of the requested ``key_type``."""
        return self._key()

    def _key(self) -> ApiKey:
        return self.master_key if self.key_type == "master" else self.profile_key

    @property
    def profile_id(self) -> int:
        """The profile the profile key is scoped to."""
        info = self._keys[self.profile_key.token]
        assert info.profile_id is not None
        return info.profile_id

    # --- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the API, with a trailing slash: ``http://127.0.0.1:PORT/api/v1/``."""
        if not self._port:
            raise RuntimeError("the simulator has not been started")
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}{API_ROOT}"

    async def start(self) -> FakeWhatConverts:
        """Start listening; returns ``self``."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        self._closing = asyncio.Event()
        runner = web.AppRunner(
            self.app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=0.5,
            handler_cancellation=True,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def close(self) -> None:
        """Stop listening and release every resource; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._closing.set()
            await runner.cleanup()
        # After the handlers are done, so no delivery is scheduled behind our back.
        await self.webhooks.close()

    # --- webhooks and endpoints ------------------------------------------------------

    async def send_webhook(
        self,
        url: str,
        lead_id: int,
        *,
        trigger: str = "new",
        headers: Mapping[str, str] | None = None,
    ) -> WebhookDelivery:
        """POST one webhook delivery of ``lead_id`` to ``url`` now; returns the delivery.

        The body is the lead's wire object plus ``"trigger"``, as WhatConverts sends it.
        """
        if not self.data.has_lead(lead_id):
            raise KeyError(f"unknown lead_id {lead_id}")
        return await self.webhooks.send(url, lead_id, trigger=trigger, headers=headers)

    def endpoint_url(
        self,
        profile_id: int | None = None,
        *,
        format: Literal["csv", "json"] = "csv",
        on_existing: Literal["update", "create", "ignore"] = "update",
        default_lead_type: str = "other",
    ) -> str:
        """Create an inbound Endpoint for ``profile_id`` and return its secret URL.

        ``http://127.0.0.1:PORT/endpoints/<random token>``; ``profile_id`` defaults to the
        profile key's profile. ``default_lead_type`` (snake form) applies to rows without a
        ``Lead Type`` column.
        """
        pid = self.profile_id if profile_id is None else profile_id
        if not self.data.has_profile(pid):
            raise KeyError(f"unknown profile_id {pid}")
        if format not in ("csv", "json"):
            raise ValueError(f"format must be 'csv' or 'json', got {format!r}")
        if on_existing not in ("update", "create", "ignore"):
            raise ValueError(f"on_existing must be update, create or ignore, got {on_existing!r}")
        if default_lead_type not in LEAD_TYPES:
            raise ValueError(f"default_lead_type must be one of {', '.join(LEAD_TYPES)}")
        token = secrets.token_urlsafe(24)
        self.endpoints[token] = FakeEndpoint(
            token=token,
            profile_id=pid,
            format=format,
            on_existing=on_existing,
            default_lead_type=default_lead_type,
        )
        root = self.url[: -len(API_ROOT)]
        return f"{root}{ENDPOINT_ROOT}{token}"

    async def __aenter__(self) -> FakeWhatConverts:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- records and counters ------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since start (or :meth:`reset_records`), in arrival order."""
        return list(self._requests)

    @property
    def request_count(self) -> int:
        """``len(fake.requests)``."""
        return len(self._requests)

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._in_flight

    def reset_records(self) -> None:
        """Forget recorded requests and ``max_in_flight`` (daily counters stay)."""
        self._requests.clear()
        self._generation += 1
        self.max_in_flight = self._in_flight

    def daily_limit_for(self, token: str) -> int:
        """The daily request limit of a key."""
        if self.config.daily_limit is not None:
            return self.config.daily_limit
        return 10_000 if self._keys[token].key_type == "master" else 1_000

    def requests_today(self, token: str) -> int:
        """Authenticated requests counted today (UTC, by ``clock``) for a key."""
        day, count = self._daily.get(token, ("", 0))
        return count if day == self._today() else 0

    def add_outside_requests(self, count: int, token: str | None = None) -> None:
        """Count ``count`` requests today against a key, as another user of it would.

        ``token`` defaults to ``fake.token``. They are counted by :meth:`requests_today`
        and :meth:`outside_requests`, never recorded in :attr:`requests`.
        Raises ``ValueError`` for a negative count, ``KeyError`` for an unknown token.
        """
        token = self._known_token(token)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an integer >= 0, got {count!r}")
        today = self._today()
        day, used = self._daily.get(token, (today, 0))
        used = used if day == today else 0
        self._daily[token] = (today, used + count)
        self._outside[token] = self._outside.get(token, 0) + count

    def spend_daily_limit(
        self, token: str | None = None, *, after: int = 0, leave: int = 0
    ) -> None:
        """Make an outside user on the same key spend its day early.

        After ``after`` more requests with the key (0: now), the key's count for the
        day jumps to its daily limit minus ``leave``, so exactly ``leave`` further
        requests are answered before the spent-key answer (see
        :attr:`Realism.spent_key_status`). The next UTC midnight resets the key as
        usual. ``token`` defaults to ``fake.token``. A later call replaces a pending
        one. Raises ``ValueError`` for negative ``after``/``leave``, ``KeyError`` for an
        unknown token.

        Example: a backfill soak whose key is shared with another tool::

            fake.spend_daily_limit(after=40)   # the 41st request onwards is refused
        """
        token = self._known_token(token)
        for name, value in (("after", after), ("leave", leave)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if after == 0:
            self._outside_pending.pop(token, None)
            self._spend_outside(token, leave)
        else:
            self._outside_pending[token] = [after, leave]

    def outside_requests(self, token: str | None = None) -> int:
        """Requests counted against a key by :meth:`add_outside_requests` and
        :meth:`spend_daily_limit` since start (all days)."""
        return self._outside.get(self._known_token(token), 0)

    def _spend_outside(self, token: str, leave: int) -> None:
        target = max(self.daily_limit_for(token) - leave, 0)
        used = self.requests_today(token)
        if target > used:
            self.add_outside_requests(target - used, token)

    def _known_token(self, token: str | None) -> str:
        token = self.token if token is None else token
        if token not in self._keys:
            raise KeyError("unknown API token")
        return token

    def _today(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%d")

    def now(self) -> datetime:
        """The simulator's current time, from ``clock``, truncated to seconds."""
        return self._clock().astimezone(UTC).replace(microsecond=0)

    # --- HTTP plumbing -------------------------------------------------------------
    #
    # A request passes these middlewares, outermost first, then its route's handler:
    # record (arrival, in-flight count, final status, dropped connections) -> latency
    # -> errors (any ApiError or routing error becomes {"error_message": ...}) ->
    # access (API paths only: Basic auth, the daily limit, the agency-key rule) ->
    # faults (the injected answer, drop or stall). Faults thus apply after the quota
    # check, so a faulted request is still counted, as a real one would be.

    def _make_app(self) -> web.Application:
        app = web.Application(
            client_max_size=16 * 1024 * 1024,
            middlewares=[
                self._record_middleware,
                self._latency_middleware,
                self._error_middleware,
                self._access_middleware,
                self._fault_middleware,
                self._agency_middleware,
            ],
        )
        self._add_routes(app.router)
        return app

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        lead_list = _LEAD_LIST_PARAMS
        paging = ("page_number", "start_date", "end_date", "order")
        scope = ("page_number", "account_id", "profile_id")
        table: list[tuple[str, str, Callable[..., Any], tuple[str, ...], tuple[str, ...]]] = [
            ("GET", "leads", self._list_leads, lead_list, ()),
            ("POST", "leads", self._create_lead, (), _CREATE_FORM),
            ("GET", "leads/{lead_id}", self._get_lead, ("customer_journey",), ()),
            ("POST", "leads/{lead_id}", self._edit_lead, (), _EDIT_FORM),
            ("GET", "recording", self._recording, ("lead_id",), ()),
            ("GET", "accounts", self._list_accounts, ("accounts_per_page", *paging), ()),
            ("POST", "accounts", self._create_account, (), ("account_name", "create_profile")),
            ("GET", "accounts/{account_id}", self._get_account, (), ()),
            ("POST", "accounts/{account_id}", self._rename_account, (), ("account_name",)),
            ("DELETE", "accounts/{account_id}", self._delete_account, (), ()),
            (
                "GET",
                "accounts/{account_id}/profiles",
                self._list_profiles,
                ("profiles_per_page", *paging),
                (),
            ),
            ("POST", "accounts/{account_id}/profiles", self._create_profile, (), ("profile_name",)),
            ("GET", "accounts/{account_id}/profiles/{profile_id}", self._get_profile, (), ()),
            (
                "POST",
                "accounts/{account_id}/profiles/{profile_id}",
                self._rename_profile,
                (),
                ("profile_name",),
            ),
            ("DELETE", "accounts/{account_id}/profiles/{profile_id}", self._delete_profile, (), ()),
            ("GET", "users", self._list_users, ("users_per_page", "user_type", *paging), ()),
            ("POST", "users", self._post_users, (), ("user_id", *_USER_FORM)),
            ("GET", "users/{user_id}", self._get_user, (), ()),
            ("POST", "users/{user_id}", self._edit_user, (), _USER_FORM),
            (
                "GET",
                "roles",
                self._list_roles,
                ("roles_per_page", "role_type", "page_number", "order"),
                (),
            ),
            ("GET", "roles/{role_id}", self._get_role, (), ()),
            ("GET", "tracking/numbers", self._list_numbers, ("numbers_per_page", *scope), ()),
            ("GET", "tracking/forms", self._list_forms, ("forms_per_page", *scope), ()),
        ]
        if self.realism.undocumented_endpoints:
            table += [
                ("DELETE", "users/{user_id}", self._delete_user, (), ()),
                ("DELETE", "tracking/forms/{form_id}", self._delete_form, (), ()),
            ]
        for method, path, handler, query, form in table:
            router.add_route(method, API_ROOT + path, self._api_handler(handler, query, form))
        router.add_route("*", ENDPOINT_ROOT + "{token}", self._endpoint_handler)
        router.add_route("GET", STORAGE_ROOT + "{name}", self._storage_handler)

    def _api_handler(
        self,
        handler: Callable[..., Any],
        query: tuple[str, ...],
        form: tuple[str, ...],
    ) -> Callable[[web.Request], Any]:
        known_query, known_form = frozenset(query), frozenset(form)

        async def handle(request: web.Request) -> web.StreamResponse:
            ctx: _Ctx = request[_CTX]
            if self.realism.strict:
                _reject_unknown(ctx.params, known_query)
                _reject_unknown(ctx.form, known_form)
            result = handler(ctx, **request.match_info)
            if asyncio.iscoroutine(result):
                result = await result
            assert isinstance(result, web.StreamResponse)
            return result

        return handle

    @web.middleware
    async def _record_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        body = await request.read()
        token = _token_of(request.headers.get("Authorization"))
        ctype = request.content_type if request.body_exists else ""
        form = _parse_form(ctype, request.headers.get("Content-Type", ""), body)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=list(request.rel_url.query.items()),
            headers=request.headers,
            body=body,
            form=form,
            content_type=ctype,
            key_token=token,
            received_at=time.monotonic(),
        )
        request[_RECORD] = record
        generation, index = self._generation, len(self._requests)
        self._requests.append(record)
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        status: int | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except _Dropped:
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError from None
        finally:
            self._in_flight -= 1
            if generation == self._generation:
                self._requests[index] = attrs.evolve(record, status=status)

    @web.middleware
    async def _latency_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        delay = self.faults.delay()
        if delay:
            await self._sleep(delay)
        return await handler(request)

    @web.middleware
    async def _error_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            return _error(err.status, err.message)
        except web.HTTPMethodNotAllowed:
            return _error(405, "Method not allowed.")
        except web.HTTPException as exc:
            if exc.status == 404:
                return _error(404, "Not found.")
            raise

    @web.middleware
    async def _access_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        rec: RecordedRequest = request[_RECORD]
        if rec.path.startswith((ENDPOINT_ROOT, STORAGE_ROOT)):
            # The secret URL (or the signature) is the credential; no key, no quota.
            return await handler(request)
        key = self._authenticate(request.headers.get("Authorization"))
        self._count(rec.key_token or "", key)
        request[_CTX] = _Ctx(key, rec.params, rec.form or {}, rec.method, request)
        return await handler(request)

    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        rec: RecordedRequest = request[_RECORD]
        action = self.faults.decide(rec.path)
        if action is not None:
            if action.kind == "drop":
                raise _Dropped
            if action.kind == "respond":
                return web.Response(
                    status=action.status, body=action.body, headers=dict(action.headers)
                )
            await self._sleep(action.delay)
        return await handler(request)

    @web.middleware
    async def _agency_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        # Before routing answers 405, so a profile key learns only that it needs an
        # Agency Key, whatever the method.
        ctx: _Ctx | None = request.get(_CTX)
        if ctx is not None and ctx.key.key_type != "master":
            rel = request.path[len(API_ROOT) :] if request.path.startswith(API_ROOT) else ""
            if rel.split("/", 1)[0] in _AGENCY_ONLY:
                raise ApiError(403, "Agency Key is required to access this resource.")
        return await handler(request)

    async def _endpoint_handler(self, request: web.Request) -> web.StreamResponse:
        response = self._endpoint(request[_RECORD])
        if self.realism.endpoint_answer == "empty":
            return web.Response(status=response.status)
        if self.realism.endpoint_answer == "text":
            return web.Response(status=response.status, text="OK", content_type="text/plain")
        return response

    def _endpoint(self, rec: RecordedRequest) -> web.Response:
        endpoint = self.endpoints.get(rec.path[len(ENDPOINT_ROOT) :])
        if endpoint is None:
            raise ApiError(404, "Endpoint not found.")
        if rec.method != "POST":
            raise ApiError(405, "Method not allowed.")
        json_body = rec.content_type in ("application/json", "text/json")
        if json_body != (endpoint.format == "json"):
            expected = "JSON (application/json)" if endpoint.format == "json" else "CSV (text/csv)"
            raise ApiError(415, f"This endpoint expects {expected}.")
        raw_rows = _json_rows(rec.body) if json_body else _csv_rows(rec.body)
        parsed: list[EndpointRow] = []
        for number, raw in enumerate(raw_rows, start=1):
            try:
                row = parse_endpoint_row(raw)
            except ValueError as exc:
                raise ApiError(400, f"Row {number}: {exc}") from None
            if row.profile_id != endpoint.profile_id:
                raise ApiError(
                    400, f"Row {number}: Profile ID {row.profile_id} is not this endpoint's."
                )
            parsed.append(row)
        created: list[int] = []
        updated: list[int] = []
        ignored = 0
        for row in parsed:
            exists = row.lead_id is not None and self.data.has_lead(row.lead_id)
            if exists and endpoint.on_existing == "ignore":
                ignored += 1
                continue
            if exists and endpoint.on_existing == "update" and row.lead_id is not None:
                fields = dict(row.fields)
                if row.lead_type is not None:
                    fields["lead_type"] = LEAD_TYPES[row.lead_type]
                if "additional_fields" in fields:
                    current = self.data.wire_lead(row.lead_id).get("additional_fields")
                    merged = dict(current) if isinstance(current, dict) else {}
                    merged.update(fields["additional_fields"])
                    fields["additional_fields"] = merged
                fields["last_updated"] = format_timestamp(int(self.now().timestamp()))
                self.data.patch_lead(row.lead_id, fields)
                updated.append(row.lead_id)
                self.webhooks.notify(row.lead_id, "update", changed=fields)
                continue
            lead = self.data.add_lead(
                ts=row.date_created,
                lead_type=row.lead_type or endpoint.default_lead_type,
                profile_id=row.profile_id,
                fields=row.fields,
                generated=False,
            )
            created.append(int(lead["lead_id"]))
            self.webhooks.notify(int(lead["lead_id"]), "new")
        endpoint.rows += len(parsed)
        endpoint.lead_ids.extend(created + updated)
        return _json(
            {"rows": len(parsed), "created": created, "updated": updated, "ignored": ignored}
        )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _authenticate(self, header: str | None) -> _KeyInfo:
        creds = _credentials(header)
        if creds is not None:
            info = self._keys.get(creds[0])
            if info is not None and info.secret == creds[1]:
                return info
        raise ApiError(401, "Invalid API credentials.")

    def _count(self, token: str, key: _KeyInfo) -> None:
        today = self._today()
        day, count = self._daily.get(token, (today, 0))
        count = count + 1 if day == today else 1
        self._daily[token] = (today, count)
        pending = self._outside_pending.get(token)
        if pending is not None:
            pending[0] -= 1
            if pending[0] <= 0:
                del self._outside_pending[token]
                self._spend_outside(token, pending[1])
        if count > self.daily_limit_for(token):
            raise ApiError(self.realism.spent_key_status, "Daily request limit reached.")

    def _invalid(self, what: str) -> ApiError:
        return ApiError(self.config.invalid_id_status, f"Invalid {what} ID.")

    def _lead_id(self, raw: str, key: _KeyInfo) -> int:
        try:
            lead_id = int(raw)
        except ValueError:
            raise self._invalid("lead") from None
        if not self.data.has_lead(lead_id):
            raise self._invalid("lead")
        if key.profile_id is not None and self.data.lead_profile_id(lead_id) != key.profile_id:
            raise self._invalid("lead")
        return lead_id

    def _envelope(
        self,
        plural: str,
        items: Sequence[Any],
        *,
        page: int = 1,
        per_page: int | None = None,
        total: int | None = None,
        singular_key: str | None = None,
    ) -> web.Response:
        total = len(items) if total is None else total
        per_page = len(items) if per_page is None else per_page
        pages = math.ceil(total / per_page) if per_page and total else 0
        key = singular_key or plural
        body = {
            "page_number": page,
            f"{key}_per_page": per_page,
            "total_pages": pages,
            f"total_{key}": total,
            plural: list(items),
        }
        return _json(body)

    # --- leads ---------------------------------------------------------------------

    def _list_leads(self, ctx: _Ctx) -> web.Response:
        p = ctx.params
        per_page = _int_param(p, "leads_per_page", 25, 1, self.config.max_leads_per_page)
        page = _int_param(p, "page_number", 1, 1, None)
        profile_ids = self._scope(ctx)
        lead_type = None
        if "lead_type" in p:
            if p["lead_type"] not in LEAD_TYPES:
                raise _choices_error("lead_type", LEAD_TYPES)
            if not self.realism.ignore_lead_type:
                lead_type = list(LEAD_TYPES).index(p["lead_type"])
        repeat = None
        if "lead_status" in p:
            repeat = {"unique": False, "repeat": True}.get(p["lead_status"])
            if repeat is None:
                raise _choices_error("lead_status", ("unique", "repeat"))
        quotable = None
        if "quotable" in p:
            if p["quotable"] not in QUOTABLE_VALUES:
                raise _choices_error("quotable", QUOTABLE_VALUES)
            quotable = list(QUOTABLE_VALUES).index(p["quotable"])
        has_quote = _presence(p, "quote_value")
        has_sales = _presence(p, "sales_value")
        start_ts, end_ts = self._date_range(p)
        order = _order(p, "desc")
        spam = _flag(p, "spam")
        if self.realism.spam_any_value_is_only_spam and "spam" in p:
            spam = True
        spam_hidden = "spam" not in p and self.realism.hide_spam_by_default
        duplicate = _flag(p, "duplicate")
        if "customer_journey" in p:
            _flag(p, "customer_journey")
        text = tuple((name, p[name]) for name in _TEXT_FILTERS if name in p)
        flt = LeadFilter(
            start_ts=start_ts,
            end_ts=end_ts,
            profile_ids=profile_ids,
            lead_type=lead_type,
            repeat=repeat,
            quotable=quotable,
            has_quote=has_quote,
            has_sales=has_sales,
            spam_only=spam,
            spam_hidden=spam_hidden,
            duplicate_only=duplicate,
            text=text,
        )
        sel = self.data.select(flt)
        ids = sel.page((page - 1) * per_page, per_page, order == "desc")
        wire = self.data.wire_lead
        response = self._envelope(
            "leads", [wire(i) for i in ids], page=page, per_page=per_page, total=len(sel)
        )
        self._after_lead_list(ctx)
        return response

    def _after_lead_list(self, ctx: _Ctx) -> None:
        for ins in self.faults.lead_list_served():
            lo, hi = int(ins.start.timestamp()), int(ins.end.timestamp())
            profile_id = ins.profile_id
            if profile_id is None:
                profile_id = ctx.key.profile_id or self.profile_id
            for _ in range(ins.count):
                ts = self.faults.random_between(lo, hi)
                when = datetime.fromtimestamp(ts, UTC)
                self.data.insert_lead(when, profile_id=profile_id)

    def _scope(self, ctx: _Ctx) -> frozenset[int] | None:
        """Profiles visible to the request: the key's own, or the agency filters."""
        p, key = ctx.params, ctx.key
        if key.profile_id is not None:
            for name in ("account_id", "profile_id"):
                if name in p:
                    raise ApiError(400, f"{name} is only supported with an Agency Key.")
            return frozenset({key.profile_id})
        scope: set[int] | None = None
        if "account_id" in p:
            account_id = _id_param(p, "account_id")
            if not self.data.has_account(account_id):
                raise ApiError(400, "Invalid account ID.")
            scope = set(self.data.profile_ids(account_id))
        if "profile_id" in p:
            profile_id = _id_param(p, "profile_id")
            if not self.data.has_profile(profile_id):
                raise ApiError(400, "Invalid profile ID.")
            scope = {profile_id} if scope is None else scope & {profile_id}
        return None if scope is None else frozenset(scope)

    def _date_range(self, p: Mapping[str, str]) -> tuple[int | None, int | None]:
        start = _date_param(p, "start_date", end=False)
        end = _date_param(p, "end_date", end=True)
        if start is not None and end is not None:
            if start > end:
                raise ApiError(400, "start_date must not be after end_date.")
            if end - start > self.config.max_range_days * 86_400:
                raise ApiError(400, f"Date range cannot exceed {self.config.max_range_days} days.")
        return start, end

    def _create_lead(self, ctx: _Ctx) -> web.Response:
        form, key = ctx.form, ctx.key
        raw_type = form.get("lead_type")
        if not raw_type:
            raise ApiError(400, "lead_type is required.")
        if raw_type not in LEAD_TYPES:
            raise _choices_error("lead_type", LEAD_TYPES)
        if key.profile_id is not None:
            profile_id = key.profile_id
        else:
            if not form.get("profile_id"):
                raise ApiError(400, "profile_id is required when using an Agency Key.")
            profile_id = _id_param(form, "profile_id")
            if not self.data.has_profile(profile_id):
                raise ApiError(400, "Invalid profile ID.")
        if "send_notification" in form:
            _bool_field(form, "send_notification")
        fields: dict[str, Any] = {}
        for name in _CREATE_TEXT_FIELDS:
            if name in form:
                fields[name] = form[name]
        if "email_address" in fields:
            fields["contact_email_address"] = fields["email_address"]
        if "phone_number" in fields:
            fields["contact_phone_number"] = fields["phone_number"]
        if "quotable" in form:
            fields["quotable"] = _quotable_field(form)
        for name in ("quote_value", "sales_value"):
            if name in form:
                fields[name] = _money_field(form, name)
        if "call_duration_seconds" in form:
            secs = _id_param(form, "call_duration_seconds", minimum=0)
            if raw_type == "phone_call":
                fields["call_duration_seconds"] = secs
                fields["call_duration"] = f"{secs} seconds"
        extra = _additional_fields(form)
        if extra:
            fields["additional_fields"] = extra
        mapped = _additional_fields(form, "mapped_fields")
        if mapped:
            fields["mapped_fields"] = mapped
        # Integrations back-date offline leads this way; unconfirmed, so it is read
        # like the list filters' dates and refused with 400 when unreadable.
        created = _date_param(form, "date_created", end=False)
        ts = int(self.now().timestamp()) if created is None else created
        lead = self.data.add_lead(
            ts=ts,
            lead_type=raw_type,
            profile_id=profile_id,
            fields=fields,
            generated=False,
        )
        self.webhooks.notify(int(lead["lead_id"]), "new")
        return _json({"lead_id": lead["lead_id"]})

    def _get_lead(self, ctx: _Ctx, lead_id: str) -> web.Response:
        return self._envelope("leads", [self.data.wire_lead(self._lead_id(lead_id, ctx.key))])

    def _edit_lead(self, ctx: _Ctx, lead_id: str) -> web.Response:
        lid = self._lead_id(lead_id, ctx.key)
        form = ctx.form
        fields: dict[str, Any] = {}
        if "quotable" in form:
            fields["quotable"] = _quotable_field(form)
        for name in ("quote_value", "sales_value"):
            if name in form:
                fields[name] = _money_field(form, name)
        if "lead_url" in form:
            fields["lead_url"] = form["lead_url"]
        extra = _additional_fields(form)
        if extra:
            current = self.data.wire_lead(lid).get("additional_fields")
            merged = dict(current) if isinstance(current, dict) else {}
            merged.update(extra)
            fields["additional_fields"] = merged
        fields["last_updated"] = format_timestamp(int(self.now().timestamp()))
        self.data.patch_lead(lid, fields)
        self.webhooks.notify(lid, "update", changed=fields)
        return _json({"lead_id": lid})

    async def _recording(self, ctx: _Ctx) -> web.StreamResponse:
        raw = ctx.params.get("lead_id")
        if not raw:
            raise ApiError(400, "lead_id is required.")
        lead_id = self._lead_id(raw, ctx.key)
        if self.data.lead_type_code(lead_id) != "phone_call":
            raise ApiError(404, "Recording not found.")
        if self.realism.recording == "html":
            return web.Response(status=200, text=_LOGIN_PAGE, content_type="text/html")
        if self.realism.recording == "redirect":
            raise web.HTTPFound(self.storage_url(lead_id))
        return await self._stream_audio(ctx.request, lead_id)

    def storage_url(self, lead_id: int) -> str:
        """The signed storage URL ``recording`` redirects to (``recording="redirect"``).

        Served on the same port under another host name (``localhost`` when listening
        on ``127.0.0.1``, else ``127.0.0.1``), so a client can see that the redirect
        leaves the API's host; it needs no API key, only the ``Signature``.
        """
        host = "localhost" if self.config.host != "localhost" else "127.0.0.1"
        return (
            f"http://{host}:{self._port}{STORAGE_ROOT}{lead_id}.mp3"
            f"?Expires=4102444800&Signature={self._storage_signature(lead_id)}"
        )

    def _storage_signature(self, lead_id: int) -> str:
        return hashlib.sha256(f"{self.master_key.secret}:storage:{lead_id}".encode()).hexdigest()

    async def _storage_handler(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        lead_id = int(name[:-4]) if name.endswith(".mp3") and name[:-4].isdigit() else -1
        signature = request.rel_url.query.get("Signature", "")
        if lead_id < 0 or not self.data.has_lead(lead_id):
            raise ApiError(404, "Not found.")
        if not secrets.compare_digest(signature, self._storage_signature(lead_id)):
            raise ApiError(403, "Signature does not match.")
        return await self._stream_audio(request, lead_id)

    async def _stream_audio(self, request: web.Request, lead_id: int) -> web.StreamResponse:
        audio = recording_bytes(self.config.seed, lead_id, self.config.recording_size)
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "audio/mpeg",
                "Content-Disposition": f'attachment; filename="recording-{lead_id}.mp3"',
            },
        )
        response.content_length = len(audio)
        await response.prepare(request)
        view = memoryview(audio)
        for offset in range(0, len(audio), 16 * 1024):
            await response.write(view[offset : offset + 16 * 1024])
        await response.write_eof()
        return response

    # --- accounts and profiles -----------------------------------------------------

    def _list_accounts(self, ctx: _Ctx) -> web.Response:
        data = self.data
        items = [(data.account_created_ts(a), a) for a in data.account_ids()]
        ids = self._created_window(ctx, items)
        return self._paged(ctx, "accounts", [data.account(a) for a in ids])

    def _create_account(self, ctx: _Ctx) -> web.Response:
        name = _required(ctx.form, "account_name")
        create_profile = _bool_field(ctx.form, "create_profile", default=True)
        now = int(self.now().timestamp())
        account_id = self.data.create_account(name, now=now, create_profile=create_profile)
        return _json({"account_id": account_id, "account_name": name})

    def _account_id(self, raw: str) -> int:
        return self._existing(raw, self.data.has_account, "account")

    def _get_account(self, ctx: _Ctx, account_id: str) -> web.Response:
        return self._envelope("accounts", [self.data.account(self._account_id(account_id))])

    def _rename_account(self, ctx: _Ctx, account_id: str) -> web.Response:
        aid = self._account_id(account_id)
        name = _required(ctx.form, "account_name")
        self.data.rename_account(aid, name)
        return _json({"account_id": aid, "account_name": name})

    def _delete_account(self, ctx: _Ctx, account_id: str) -> web.Response:
        aid = self._account_id(account_id)
        self.data.delete_account(aid)
        return _json({"account_id": aid})

    def _list_profiles(self, ctx: _Ctx, account_id: str) -> web.Response:
        data = self.data
        pids = data.profile_ids(self._account_id(account_id))
        ids = self._created_window(ctx, [(data.profile_created_ts(p), p) for p in pids])
        return self._paged(ctx, "profiles", [data.profile(p) for p in ids])

    def _create_profile(self, ctx: _Ctx, account_id: str) -> web.Response:
        aid = self._account_id(account_id)
        name = _required(ctx.form, "profile_name")
        now = int(self.now().timestamp())
        profile_id = self.data.create_profile(aid, name, now=now)
        return _json(self.data.profile(profile_id))

    def _profile_of(self, account_id: str, profile_id: str) -> int:
        data, aid = self.data, self._account_id(account_id)
        return self._existing(
            profile_id,
            lambda p: data.has_profile(p) and data.profile_account(p) == aid,
            "profile",
        )

    def _get_profile(self, ctx: _Ctx, account_id: str, profile_id: str) -> web.Response:
        pid = self._profile_of(account_id, profile_id)
        return self._envelope("profiles", [self.data.profile(pid)])

    def _rename_profile(self, ctx: _Ctx, account_id: str, profile_id: str) -> web.Response:
        pid = self._profile_of(account_id, profile_id)
        self.data.rename_profile(pid, _required(ctx.form, "profile_name"))
        return _json(self.data.profile(pid))

    def _delete_profile(self, ctx: _Ctx, account_id: str, profile_id: str) -> web.Response:
        pid = self._profile_of(account_id, profile_id)
        self.data.delete_profile(pid)
        return _json({"profile_id": pid})

    def _existing(self, raw: str, exists: Callable[[int], bool], what: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise self._invalid(what) from None
        if not exists(value):
            raise self._invalid(what)
        return value

    def _created_window(self, ctx: _Ctx, items: list[tuple[int, int]]) -> list[int]:
        """Ids of ``(created_ts, id)`` items within the date filters, in ``order``."""
        start, end = self._date_range(ctx.params)
        if start is None and self.realism.list_default_window == "today":
            start = int(self.now().replace(hour=0, minute=0, second=0).timestamp())
        order = _order(ctx.params, "desc")
        kept = [
            item
            for item in items
            if (start is None or item[0] >= start) and (end is None or item[0] <= end)
        ]
        kept.sort(reverse=order == "desc")
        return [i for _, i in kept]

    def _paged(self, ctx: _Ctx, plural: str, items: list[Any], per_name: str = "") -> web.Response:
        per_name = per_name or plural
        per_page = _int_param(ctx.params, f"{per_name}_per_page", 25, 1, self.config.max_page_size)
        page = _int_param(ctx.params, "page_number", 1, 1, None)
        chunk = items[(page - 1) * per_page : page * per_page]
        return self._envelope(
            plural, chunk, page=page, per_page=per_page, total=len(items), singular_key=per_name
        )

    # --- users and roles -----------------------------------------------------------

    def _list_users(self, ctx: _Ctx) -> web.Response:
        users = self.data.users
        wanted = _choice(ctx.params, "user_type", ("master_account", "account"))
        wanted = wanted or "master_account"
        items = [
            (_wire_ts(u["date_created"]), uid)
            for uid, u in users.items()
            if u["user_type"] == f"{wanted}_user"
        ]
        ids = self._created_window(ctx, items)
        return self._paged(ctx, "users", [users[i] for i in ids])

    def _post_users(self, ctx: _Ctx) -> web.Response:
        form = ctx.form
        if form.get("user_id"):
            return self._save_user(form, self._user_id(form["user_id"]))
        return self._save_user(form, None)

    def _user_id(self, raw: str) -> int:
        return self._existing(raw, self.data.users.__contains__, "user")

    def _get_user(self, ctx: _Ctx, user_id: str) -> web.Response:
        return self._envelope("users", [self.data.users[self._user_id(user_id)]])

    def _edit_user(self, ctx: _Ctx, user_id: str) -> web.Response:
        return self._save_user(ctx.form, self._user_id(user_id))

    def _delete_user(self, ctx: _Ctx, user_id: str) -> web.Response:
        uid = self._user_id(user_id)
        del self.data.users[uid]
        return _json({"user_id": uid})

    def _save_user(self, form: Mapping[str, str], uid: int | None) -> web.Response:
        users = self.data.users
        user: dict[str, Any]
        if uid is None:
            email = _required(form, "email")
            user = {
                "user_id": self.data.new_id(),
                "user_type": "master_account_user",
                "email": email,
                "pending_activation": True,
            }
        else:
            user = dict(users[uid])
            if "email" in form:
                user["email"] = _required(form, "email")
        if "email" in form and "@" not in user["email"]:
            raise ApiError(400, "Invalid email.")
        user_type = _choice(form, "user_type", ("master_account", "account"))
        if user_type:
            user["user_type"] = f"{user_type}_user"
        if "role_id" in form:
            role_id = _id_param(form, "role_id")
            role = self.data.roles.get(role_id)
            if role is None:
                raise ApiError(400, "Invalid role ID.")
            user["role_id"] = role_id
            user["role_name"] = role["role_name"]
        if user["user_type"] == "account_user":
            user.pop("role_id", None)
            user.pop("role_name", None)
        if uid is None:
            user["date_created"] = format_timestamp(int(self.now().timestamp()))
        users[user["user_id"]] = user
        return _json(user)

    def _get_role(self, ctx: _Ctx, role_id: str) -> web.Response:
        roles = self.data.roles
        rid = self._existing(role_id, roles.__contains__, "role")
        return self._envelope("roles", [roles[rid]])

    def _list_roles(self, ctx: _Ctx) -> web.Response:
        roles = self.data.roles
        wanted = _choice(ctx.params, "role_type", ("master_account", "account")) or "master_account"
        order = _order(ctx.params, "asc")
        items = sorted(
            (r for r in roles.values() if r["role_type"] == f"{wanted}_role"),
            key=lambda r: (r["role_name"], r["role_id"]),
            reverse=order == "desc",
        )
        return self._paged(ctx, "roles", items)

    # --- tracking ------------------------------------------------------------------

    def _list_numbers(self, ctx: _Ctx) -> web.Response:
        return self._tracking_list(ctx, "numbers", self.data.numbers)

    def _list_forms(self, ctx: _Ctx) -> web.Response:
        return self._tracking_list(ctx, "forms", self.data.forms)

    def _tracking_list(self, ctx: _Ctx, kind: str, items: list[dict[str, Any]]) -> web.Response:
        scope = self._scope(ctx)
        visible = [x for x in items if scope is None or x["profile_id"] in scope]
        return self._paged(ctx, kind, visible)

    def _delete_form(self, ctx: _Ctx, form_id: str) -> web.Response:
        forms = self.data.forms
        known = {x["form_id"] for x in forms}
        fid = self._existing(form_id, known.__contains__, "form")
        forms[:] = [x for x in forms if x["form_id"] != fid]
        return _json({"form_id": fid})


class _Ctx:
    __slots__ = ("form", "key", "method", "params", "request")

    def __init__(
        self,
        key: _KeyInfo,
        params: dict[str, str],
        form: dict[str, str],
        method: str,
        request: web.Request,
    ) -> None:
        self.key = key
        self.params = params
        self.form = form
        self.method = method
        self.request = request


_RECORD: Final = web.RequestKey("record", RecordedRequest)
_CTX: Final = web.RequestKey("ctx", _Ctx)


# --- helpers -----------------------------------------------------------------------


def recording_bytes(seed: int, lead_id: int, size: int) -> bytes:
    """The simulated MP3 of a lead: an ``ID3`` header, then seeded pseudo-random bytes."""
    header = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    rng = random.Random(f"{seed}:recording:{lead_id}")
    return (header + rng.randbytes(max(0, size - len(header))))[: max(size, 0)]
