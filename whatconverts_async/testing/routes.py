"""The simulator's route handlers: leads, recordings, accounts, profiles, users, roles,
tracking and inbound Endpoints.

:class:`Routes` is a mixin of :class:`~whatconverts_async.testing.FakeWhatConverts`:
each handler takes the request context (key, query, form) and the path's
``match_info`` values, and answers or raises :class:`~.wire.ApiError`. Routing,
authentication, the daily limit and faults happen before, in the server's
middlewares (:mod:`.server`).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

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
from .records import (
    _RECORD,
    ENDPOINT_ROOT,
    STORAGE_ROOT,
    UTC,
    ApiKey,
    FakeEndpoint,
    RecordedRequest,
    SimulatorConfig,
    _Ctx,
    _KeyInfo,
    recording_bytes,
)
from .webhooks import WebhookSender
from .wire import (
    _CREATE_TEXT_FIELDS,
    _LOGIN_PAGE,
    _TEXT_FILTERS,
    ApiError,
    _additional_fields,
    _bool_field,
    _choice,
    _choices_error,
    _csv_rows,
    _date_param,
    _flag,
    _id_param,
    _int_param,
    _json,
    _json_rows,
    _money_field,
    _order,
    _presence,
    _quotable_field,
    _required,
    _wire_ts,
)

__all__ = ["Routes"]


class Routes:
    """Route handlers of the simulator; mixed into ``FakeWhatConverts``, which sets
    the attributes below."""

    data: Dataset
    config: SimulatorConfig
    realism: Realism
    faults: Faults
    webhooks: WebhookSender
    endpoints: dict[str, FakeEndpoint]
    master_key: ApiKey
    _port: int

    def now(self) -> datetime:
        """The simulator's current time (set by the server)."""
        raise NotImplementedError

    @property
    def profile_id(self) -> int:
        """The profile the profile key is scoped to (set by the server)."""
        raise NotImplementedError

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
