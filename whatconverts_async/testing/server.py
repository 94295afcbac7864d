"""The simulator: an aiohttp.web application that answers like the WhatConverts API v1.

:class:`FakeWhatConverts` serves a generated :class:`~whatconverts_async.testing.Dataset`
over real HTTP on loopback, checks Basic auth and key types, enforces the daily
request limit, records every request and injects faults on demand. Requests are
routed by aiohttp's router; recording, latency, error answers, authentication with
the daily limit, faults and the agency-key rule are middlewares, each written once;
the handlers are in :mod:`.routes`, request reading in :mod:`.wire`, and the data in
:mod:`.data` (directory, lead generator, lead store).

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
import contextlib
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

import attrs
from aiohttp import web

from .data import LEAD_TYPES, Dataset
from .faults import Faults
from .realism import AGENCY_REFUSALS, Realism
from .records import (
    _CTX,
    _RECORD,
    API_ROOT,
    ENDPOINT_ROOT,
    STORAGE_ROOT,
    UTC,
    ApiKey,
    FakeEndpoint,
    KeyType,
    RecordedRequest,
    SimulatorConfig,
    _Ctx,
    _KeyInfo,
    recording_bytes,
)
from .routes import Routes
from .webhooks import WebhookDelivery, WebhookSender
from .wire import (
    _AGENCY_ONLY,
    _CREATE_FORM,
    _EDIT_FORM,
    _LEAD_LIST_PARAMS,
    _USER_FORM,
    ApiError,
    _credentials,
    _error,
    _parse_form,
    _reject_unknown,
    _token_of,
)

__all__ = [
    "ApiKey",
    "FakeEndpoint",
    "FakeWhatConverts",
    "RecordedRequest",
    "SimulatorConfig",
    "recording_bytes",
]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Dropped(Exception):
    pass


class FakeWhatConverts(Routes):
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
    # access (API paths only: Basic auth and the daily limit) -> faults (the injected
    # answer, drop or stall) -> agency (403 for a profile key on agency resources,
    # whatever the method). Faults thus apply after the quota check, so a faulted
    # request is still counted, as a real one would be. The handlers are in routes.py.

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
                raise ApiError(*AGENCY_REFUSALS[self.realism.agency_refusal])
        return await handler(request)

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
