"""Leads: list one page, stream any date range, get, create and update.

Filters (keyword arguments of :meth:`LeadsResource.list`, :meth:`~LeadsResource.iterate`
and :meth:`~LeadsResource.iterate_pages`) use the API's own names and values:

=====================  =========================================================
``lead_type``          phone_call, web_form, chat, text_message, email,
                       appointment, event, transaction, other (or a ``LeadType``)
``lead_status``        unique, repeat
``quotable``           yes, no, pending, not_set
``quote_value``        has_value, no_value (presence, not an amount)
``sales_value``        has_value, no_value
``phone_number``       E.164, e.g. ``"+17045551234"``
``email_address``      the contact's email
``user_id``            a visitor id
``spam``               True: only spam leads
``duplicate``          True: only duplicate leads
``lead_source`` ...    ``lead_medium``, ``lead_campaign``, ``lead_content``,
                       ``lead_keyword``: exact attribution values
``customer_journey``   True: include the customer journey (Elite plans)
``account_id``         master key only
``profile_id``         master key only
=====================  =========================================================

Dates: a ``date`` (a bare ``end_date`` covers its whole day), an aware ``datetime``
(converted to UTC), a naive ``datetime`` (taken as UTC) or an ISO 8601 string.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ..errors import InvalidParameterError, UpdateNotAppliedError
from ..models import Lead, LeadType, Page, Quotable
from ..pagination import PageStream, PaginationError, WindowJob
from ..params import (
    DateLike,
    check_bool,
    check_choice,
    check_id,
    check_int_range,
    check_money,
    check_text,
)
from ..windows import split_windows
from ._base import Resource, check_max_items, check_order, check_prefetch, date_range, paging

__all__ = ["LEAD_TYPES", "LeadsResource"]

LEAD_TYPES = (
    "phone_call",
    "web_form",
    "chat",
    "text_message",
    "email",
    "appointment",
    "event",
    "transaction",
    "other",
)
LEAD_STATUSES = ("unique", "repeat")
QUOTABLE = ("yes", "no", "pending", "not_set")
PRESENCE = ("has_value", "no_value")
MAX_LEADS_PER_PAGE = 2500

_CHOICE_FILTERS: dict[str, tuple[str, ...]] = {
    "lead_type": LEAD_TYPES,
    "lead_status": LEAD_STATUSES,
    "quotable": QUOTABLE,
    "quote_value": PRESENCE,
    "sales_value": PRESENCE,
}
_TEXT_FILTERS = (
    "phone_number",
    "email_address",
    "user_id",
    "lead_source",
    "lead_medium",
    "lead_campaign",
    "lead_content",
    "lead_keyword",
)
_BOOL_FILTERS = ("spam", "duplicate", "customer_journey")
_ID_FILTERS = ("account_id", "profile_id")
FILTERS = (*_CHOICE_FILTERS, *_TEXT_FILTERS, *_BOOL_FILTERS, *_ID_FILTERS)

_CREATE_TEXT = (
    "contact_name",
    "email_address",
    "phone_number",
    "notes",
    "lead_source",
    "lead_medium",
    "lead_campaign",
    "lead_content",
    "lead_keyword",
    "lead_url",
    "landing_url",
    "ip_address",
    "user_id",
    "message",
    "caller_name",
    "caller_number",
    "tracking_number",
    "destination_number",
    "form_name",
    "city",
    "state",
    "zip",
    "country",
)


def _check_additional_fields(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidParameterError("additional_fields", "must be a mapping of name to text")
    checked: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name or any(c in name for c in "[]"):
            raise InvalidParameterError(
                "additional_fields", f"names must be non-empty text without brackets, got {name!r}"
            )
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise InvalidParameterError(
                "additional_fields", f"value of {name!r} must be text or a number, got {item!r}"
            )
        checked[name] = str(item)
    return checked


class LeadsResource(Resource):
    """Leads (``wc.leads``). Every method works with profile and master keys."""

    # -- argument checking --------------------------------------------------------

    def _filters(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, value in filters.items():
            if name not in FILTERS:
                raise InvalidParameterError(
                    name, f"is not a lead filter; known filters: {', '.join(sorted(FILTERS))}"
                )
            if value is None:
                continue
            if name in _CHOICE_FILTERS:
                params[name] = check_choice(value, name, _CHOICE_FILTERS[name])
            elif name in _TEXT_FILTERS:
                params[name] = check_text(value, name)
            elif name in _BOOL_FILTERS:
                params[name] = check_bool(value, name)
            else:
                params[name] = self._agency_id(name, value)
        return params

    # -- reading ------------------------------------------------------------------

    async def list(
        self,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        leads_per_page: int | None = None,
        page_number: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        **filters: Any,
    ) -> Page[Lead]:
        """One page of leads (at most 2,500, over at most 400 days).

        Example::

            page = await wc.leads.list(start_date=date(2025, 1, 1), end_date=date(2025, 3, 31),
                                       lead_type="phone_call", leads_per_page=100, page_number=2)
            for lead in page.items:
                print(lead.lead_id, lead.date_created)
            print(page.total_items, page.total_pages)
        """
        start, end = date_range(start_date, end_date, max_days=400, now=self._client.now())
        params: dict[str, Any] = {
            **paging(leads_per_page, page_number, "leads_per_page", MAX_LEADS_PER_PAGE),
            "order": check_order(order),
            "start_date": start,
            "end_date": end,
            **self._filters(filters),
        }
        return await self._list_page(params)

    async def _list_page(self, params: Mapping[str, Any]) -> Page[Lead]:
        return await self._page("leads", params, Lead, "leads")

    def _jobs(
        self,
        *,
        start_date: DateLike,
        end_date: Any,
        order: Any,
        per_page: int | None,
        account_ids: Sequence[int] | None,
        profile_ids: Sequence[int] | None,
        filters: Mapping[str, Any],
    ) -> builtins.list[WindowJob[Lead]]:
        if start_date is None:
            raise InvalidParameterError(
                "start_date", "is required: the API lists at most 400 days per request"
            )
        # The end of an open scan is fixed once, here, so leads that arrive during the
        # scan cannot shift pages under it.
        now = self._client.now().replace(microsecond=0)
        start, end = date_range(start_date, end_date)
        assert start is not None
        stop: datetime = end if end is not None else now
        direction = check_order(order) or "asc"
        size = (
            MAX_LEADS_PER_PAGE
            if per_page is None
            else check_int_range(per_page, "per_page", 1, MAX_LEADS_PER_PAGE)
        )
        base = self._filters(filters)
        scopes: builtins.list[dict[str, Any]] = [{}]
        for name, ids in (("account_ids", account_ids), ("profile_ids", profile_ids)):
            if ids is None:
                continue
            single = name[:-1]
            if single in base:
                raise InvalidParameterError(name, f"cannot be combined with {single}")
            if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence) or not ids:
                raise InvalidParameterError(name, "must be a non-empty list of ids")
            if scopes != [{}]:
                raise InvalidParameterError(name, "cannot be combined with account_ids")
            checked = [self._filters({single: i})[single] for i in ids]
            if len(set(checked)) != len(checked):
                raise InvalidParameterError(name, "must not repeat an id")
            scopes = [{single: i} for i in checked]
        windows = split_windows(start, stop, order=direction)
        jobs: builtins.list[WindowJob[Lead]] = []
        for scope in scopes:
            for window in windows:
                params = {
                    **base,
                    **scope,
                    "start_date": window.start,
                    "end_date": window.end,
                    "order": direction,
                    "leads_per_page": size,
                }
                label = f"leads {window.start:%Y-%m-%dT%H:%M:%SZ}..{window.end:%Y-%m-%dT%H:%M:%SZ}"
                if scope:
                    label += " " + ", ".join(f"{k}={v}" for k, v in scope.items())
                jobs.append(WindowJob(self._fetcher(params, window.start, window.end), label))
        return jobs

    def _fetcher(
        self, params: dict[str, Any], start: datetime, end: datetime
    ) -> Callable[[int], Awaitable[Page[Lead]]]:
        async def fetch(page_number: int) -> Page[Lead]:
            page = await self._list_page({**params, "page_number": page_number})
            # How the API reads start_date/end_date is not documented beyond ISO 8601 UTC.
            # If it ever read them differently (whole days, exclusive ends), windows would
            # overlap or leave gaps and leads would repeat or vanish at the edges: check
            # every lead against the window asked for, and stop loudly instead.
            for lead in page.items:
                created = lead.date_created
                if created is not None and not start <= created <= end:
                    raise PaginationError(
                        f"lead {lead.lead_id} created {created:%Y-%m-%dT%H:%M:%SZ} came back "
                        f"for the window {start:%Y-%m-%dT%H:%M:%SZ}..{end:%Y-%m-%dT%H:%M:%SZ}: "
                        "the API reads the date filters differently than this client assumes"
                    )
            return page

        return fetch

    def iterate(
        self,
        *,
        start_date: DateLike,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] = "asc",
        per_page: int | None = None,
        prefetch: int = 4,
        max_items: int | None = None,
        account_ids: Sequence[int] | None = None,
        profile_ids: Sequence[int] | None = None,
        **filters: Any,
    ) -> PageStream[Lead]:
        """Every lead from ``start_date`` to ``end_date`` (None: now, fixed at the start).

        The range is read in windows of at most 400 days, each in pages of 2,500 (or
        ``per_page``), ``prefetch`` pages at a time, in ``order``. A lead is never yielded
        twice, and a window whose contents change while being read is read again rather
        than losing leads. ``max_items`` stops early without further requests.
        With a master key, ``account_ids=[...]`` or ``profile_ids=[...]`` scans each
        account or profile in turn (sequentially, in the order given).

        Requests used: for each window, max(1, ceil(leads / per_page)).

        Example::

            async for lead in wc.leads.iterate(start_date=date(2015, 1, 1),
                                               lead_type="phone_call"):
                print(lead.lead_id)
        """
        jobs = self._jobs(
            start_date=start_date,
            end_date=end_date,
            order=order,
            per_page=per_page,
            account_ids=account_ids,
            profile_ids=profile_ids,
            filters=filters,
        )
        return self._stream(
            jobs,
            prefetch=check_prefetch(prefetch),
            key=_lead_key,
            max_items=check_max_items(max_items),
        )

    def iterate_pages(
        self,
        *,
        start_date: DateLike,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] = "asc",
        per_page: int | None = None,
        prefetch: int = 4,
        account_ids: Sequence[int] | None = None,
        profile_ids: Sequence[int] | None = None,
        **filters: Any,
    ) -> PageStream[Page[Lead]]:
        """Like :meth:`iterate`, but yields whole pages (``page.items`` are the new leads).

        Example::

            async for page in wc.leads.iterate_pages(start_date=date(2020, 1, 1)):
                database.insert_many(page.items)
        """
        jobs = self._jobs(
            start_date=start_date,
            end_date=end_date,
            order=order,
            per_page=per_page,
            account_ids=account_ids,
            profile_ids=profile_ids,
            filters=filters,
        )
        return self._page_stream(jobs, prefetch=check_prefetch(prefetch), key=_lead_key)

    async def get(self, lead_id: int, *, customer_journey: bool | None = None) -> Lead:
        """One lead by id; :class:`~whatconverts_async.NotFoundError` if there is none.

        Example::

            lead = await wc.leads.get(178849242)
            print(lead.lead_type == "Phone Call", lead.extra)
        """
        check_id(lead_id, "lead_id")
        params = {}
        if customer_journey is not None:
            params["customer_journey"] = check_bool(customer_journey, "customer_journey")
        return await self._one(f"leads/{lead_id}", Lead, "leads", "lead", params=params)

    # -- writing ------------------------------------------------------------------

    async def create(
        self,
        *,
        lead_type: LeadType | str,
        profile_id: int | None = None,
        send_notification: bool | None = None,
        quotable: Quotable | str | None = None,
        quote_value: Decimal | int | float | str | None = None,
        sales_value: Decimal | int | float | str | None = None,
        call_duration_seconds: int | None = None,
        additional_fields: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> int:
        """Create a lead and return its id.

        ``lead_type`` is required; ``profile_id`` too with a master key. Other fields:
        ``contact_name``, ``email_address``, ``phone_number``, ``notes``, attribution
        (``lead_source``, ``lead_medium``, ``lead_campaign``, ``lead_content``,
        ``lead_keyword``), ``lead_url``, ``landing_url``, ``ip_address``, ``user_id``,
        ``message``, ``caller_name``, ``caller_number``, ``tracking_number``,
        ``destination_number``, ``form_name``, ``city``, ``state``, ``zip``, ``country``.
        A create is retried only when it provably never reached the server, so it is
        never duplicated by a retry.

        Example::

            lead_id = await wc.leads.create(lead_type="web_form", profile_id=80022,
                                            contact_name="Jane Roe",
                                            additional_fields={"Budget": "5k"})
        """
        form: dict[str, Any] = {"lead_type": check_choice(lead_type, "lead_type", LEAD_TYPES)}
        if profile_id is not None:
            form["profile_id"] = check_id(profile_id, "profile_id")
        elif self._client.key_type == "master":
            raise InvalidParameterError("profile_id", "is required when creating with a master key")
        if send_notification is not None:
            form["send_notification"] = check_bool(send_notification, "send_notification")
        if quotable is not None:
            form["quotable"] = check_choice(quotable, "quotable", QUOTABLE)
        for name, money in (("quote_value", quote_value), ("sales_value", sales_value)):
            if money is not None:
                form[name] = check_money(money, name)
        if call_duration_seconds is not None:
            form["call_duration_seconds"] = check_int_range(
                call_duration_seconds, "call_duration_seconds", 0
            )
        for name, value in fields.items():
            if name not in _CREATE_TEXT:
                raise InvalidParameterError(
                    name, f"is not a lead field that can be set; known: {', '.join(_CREATE_TEXT)}"
                )
            if value is not None:
                form[name] = check_text(value, name)
        if additional_fields is not None:
            form["additional_fields"] = _check_additional_fields(additional_fields)
        payload = await self._client.request("POST", "leads", form=form, idempotent=False)
        return self._read(payload, "leads", lambda: _lead_id_of(payload))

    async def update(
        self,
        lead_id: int,
        *,
        quotable: Quotable | str | None = None,
        quote_value: Decimal | int | float | str | None = None,
        sales_value: Decimal | int | float | str | None = None,
        lead_url: str | None = None,
        additional_fields: Mapping[str, Any] | None = None,
    ) -> Lead:
        """Edit a lead (the API allows these fields) and return it as read back.

        The edit answers only with the id, so the lead is read back with one more request.

        Example::

            lead = await wc.leads.update(lead_id, quotable="yes", sales_value=750)
        """
        check_id(lead_id, "lead_id")
        form: dict[str, Any] = {}
        if quotable is not None:
            form["quotable"] = check_choice(quotable, "quotable", QUOTABLE)
        for name, money in (("quote_value", quote_value), ("sales_value", sales_value)):
            if money is not None:
                form[name] = check_money(money, name)
        if lead_url is not None:
            form["lead_url"] = check_text(lead_url, "lead_url")
        if additional_fields is not None:
            form["additional_fields"] = _check_additional_fields(additional_fields)
        if not form:
            raise InvalidParameterError(
                "update",
                "needs at least one of quotable, quote_value, sales_value, "
                "lead_url, additional_fields",
            )
        # Setting values is idempotent, so an edit may be retried like a read.
        await self._client.request("POST", f"leads/{lead_id}", form=form, idempotent=True)
        lead = await self.get(lead_id)
        # The wire form of edits (``additional_fields[Name]`` especially) is not documented:
        # compare what was asked with what the API now holds, so a wrong guess fails loudly.
        differences = _unapplied(lead, form)
        if differences:
            raise UpdateNotAppliedError(lead_id, differences)
        return lead


def _unapplied(lead: Lead, form: Mapping[str, Any]) -> list[str]:
    """The fields of ``form`` that the re-read ``lead`` does not show."""
    wrong: list[str] = []
    for name, sent in form.items():
        if name == "additional_fields":
            held = lead.additional_fields
            wrong += [
                f"additional_fields[{key}]" for key, value in sent.items() if held.get(key) != value
            ]
        elif name == "quotable":
            held_value = getattr(lead.quotable, "filter_value", lead.quotable)
            if str(held_value).lower().replace(" ", "_") != sent:
                wrong.append(name)
        elif getattr(lead, name) != sent:
            wrong.append(name)
    return wrong


def _lead_key(lead: Lead) -> int:
    return lead.lead_id


def _lead_id_of(payload: Mapping[str, Any]) -> int:
    value = payload.get("lead_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"no integer lead_id in the answer: {value!r}")
    return value
