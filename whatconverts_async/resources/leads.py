"""Leads: list one page, stream any date range, get, create and update.

Filters (keyword arguments of :meth:`LeadsResource.list`, :meth:`~LeadsResource.iterate`
and :meth:`~LeadsResource.iterate_pages`) use the API's own names and values, listed once
in :data:`whatconverts_async.vocab.LEAD_FILTERS` and typed by
:class:`~whatconverts_async.vocab.LeadFilters` (so ``mypy`` catches a misspelt filter and
editors complete the names) (``lead_type="phone_call"`` or a
``LeadType``; ``spam=True``; ``account_id``/``profile_id`` with a master key only).
``spam`` and ``duplicate`` take only ``True`` (the documented value); ``phone_number``
must be E.164 (``+17045550100``); text filters must not be empty.

Every lead that comes back is checked against the filters sent (no extra request):
one that does not match ``lead_type``, ``lead_status``, ``quotable``, ``spam``,
``duplicate``, ``quote_value``/``sales_value`` presence or ``account_id``/``profile_id``
raises :class:`~whatconverts_async.FilterNotAppliedError` naming the filter, as one
created outside its date window raises :class:`~whatconverts_async.PaginationError`.

Dates: a ``date`` (a bare ``end_date`` covers its whole day), an aware ``datetime``
(converted to UTC), a naive ``datetime`` (taken as UTC) or an ISO 8601 string.
"""

from __future__ import annotations

import asyncio
import builtins
import operator
import sys
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs

from .. import _json
from .._gc import no_cyclic_gc
from .._headers import NO_HEADERS, Headers
from .._transport import Answer, decode_object_sliced
from ..convert import lead_page_steps, structure_page_steps
from ..errors import FilterNotAppliedError, InvalidParameterError, UpdateNotAppliedError
from ..models import Lead, Page
from ..pagination import PageStream, WindowJob, WindowReader
from ..params import (
    DateLike,
    check_additional_fields,
    check_bool,
    check_choice,
    check_id,
    check_int_range,
    check_lead_filters,
    check_max_items,
    check_money,
    check_order,
    check_prefetch,
    check_text,
    date_range,
    paging,
    to_utc_datetime,
    wire_value,
)
from ..scan import ScanPlan, ScanWindow, plan_scan
from ..vocab import (
    LEAD_TYPES,
    MAX_LEADS_PER_PAGE,
    MAX_WINDOW,
    QUOTABLE,
    LeadFilters,
    LeadType,
    Quotable,
    normalise,
)
from ._base import Resource

if sys.version_info >= (3, 11):
    from typing import TypedDict, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import TypedDict, Unpack

__all__ = ["LEAD_TYPES", "LeadCreateFields", "LeadsResource", "check_filters_applied"]

_CREATE_TEXT = (
    # Click ids and the WhatConverts visitor cookie, as working integrations send them.
    "gclid",
    "msclkid",
    "fbclid",
    "wc_client_current",
    "sender_name",
    "subject",
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


class LeadCreateFields(TypedDict, total=False):
    """The text fields :meth:`LeadsResource.create` takes as keyword arguments (each a
    string, or None to leave it out), so ``mypy`` catches a misspelt one. Kept equal to
    the create's list of text fields by a test."""

    gclid: str | None
    msclkid: str | None
    fbclid: str | None
    wc_client_current: str | None
    sender_name: str | None
    subject: str | None
    contact_name: str | None
    email_address: str | None
    phone_number: str | None
    notes: str | None
    lead_source: str | None
    lead_medium: str | None
    lead_campaign: str | None
    lead_content: str | None
    lead_keyword: str | None
    lead_url: str | None
    landing_url: str | None
    ip_address: str | None
    user_id: str | None
    message: str | None
    caller_name: str | None
    caller_number: str | None
    tracking_number: str | None
    destination_number: str | None
    form_name: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None


class LeadsResource(Resource):
    """Leads (``wc.leads``). Every method works with profile and master keys."""

    def _filters(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        return check_lead_filters(filters, master=self._client.key_type == "master")

    # -- reading ------------------------------------------------------------------

    async def list(
        self,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        leads_per_page: int | None = None,
        page_number: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        **filters: Unpack[LeadFilters],
    ) -> Page[Lead]:
        """One page of leads (at most 2,500, over at most 400 days).

        Example::

            page = await wc.leads.list(start_date=date(2025, 1, 1), end_date=date(2025, 3, 31),
                                       lead_type="phone_call", leads_per_page=100, page_number=2)
            for lead in page.items:
                print(lead.lead_id, lead.date_created)
            print(page.total_items, page.total_pages)
        """
        start, end = date_range(
            start_date, end_date, max_days=MAX_WINDOW.days, now=self._client.now()
        )
        params: dict[str, Any] = {
            **paging(leads_per_page, page_number, "leads_per_page", MAX_LEADS_PER_PAGE),
            "order": check_order(order),
            "start_date": start,
            "end_date": end,
            **self._filters(filters),
        }
        return await self._list_page(params)

    async def _list_page(self, params: Mapping[str, Any]) -> Page[Lead]:
        read_answer = getattr(self._client, "_request_read", None)
        if read_answer is None or not pages_from_bytes():
            page = await self._page("leads", params, Lead, "leads")
        else:
            headers: list[Headers] = []

            async def read(answer: Answer) -> Page[Lead] | dict[str, Any]:
                headers[:] = [answer.headers]  # the last attempt's, as on the normal path
                return await _lead_page_or_payload(answer)

            # In a list the callee empties: the envelope (server data) is then not among
            # the locals of this frame if reading it fails.
            got: builtins.list[Page[Lead] | dict[str, Any]] = [
                await read_answer("GET", "leads", read, params=params)
            ]
            if isinstance(got[0], Page):
                page = got.pop()  # type: ignore[assignment]
            else:
                page = await self._structured_leads(got)
            page = attrs.evolve(page, headers=headers[0])
        # Costs no request: a server that ignored a filter is caught on the page it sent.
        check_filters_applied(page.items, params)
        return page

    async def _structured_leads(self, box: builtins.list[Any]) -> Page[Lead]:
        """The normal path for a lead page the bytes path could not vouch for (what
        :meth:`Resource._page` does after its request); ``box`` holds the envelope and is
        emptied, so no frame the error leaves holds server data."""
        steps = structure_page_steps(
            box.pop(), Lead, "leads", "leads_per_page", "total_leads", consume=True
        )
        return await self._run_page_steps(steps, "leads", NO_HEADERS)

    def plan_scan(
        self,
        *,
        start_date: DateLike,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] = "asc",
        per_page: int | None = None,
        account_ids: Sequence[int] | None = None,
        profile_ids: Sequence[int] | None = None,
        **filters: Unpack[LeadFilters],
    ) -> ScanPlan:
        """The windows a scan with these arguments reads (:func:`.scan.plan_scan`).

        Costs no request; an open ``end_date`` is fixed now, on the client's clock.
        ``len(plan.windows)`` is the fewest requests the scan can take.

        Example::

            plan = wc.leads.plan_scan(start_date=date(2015, 1, 1))
            print(len(plan.windows), plan.end)
        """
        return plan_scan(
            start_date=start_date,
            end_date=end_date,
            now=self._client.now(),
            order=order,
            per_page=per_page,
            account_ids=account_ids,
            profile_ids=profile_ids,
            filters=filters,
            master=self._client.key_type == "master",
        )

    def window_pages(
        self,
        window: ScanWindow,
        *,
        prefetch: int = 4,
        start_page: int = 1,
        expected_total: int | None = None,
        seen: set[Hashable] | None = None,
    ) -> AsyncIterator[Page[Lead]]:
        """The pages of one planned window, each lead at most once (keys go into ``seen``).

        To resume a window part-way, pass the ``start_page`` to read next, the
        ``expected_total`` seen before and the lead ids already taken as ``seen``.
        Raises :class:`~whatconverts_async.PaginationError` if the window keeps changing.
        """
        return WindowReader(
            self._job(window),
            prefetch=check_prefetch(prefetch),
            key=_lead_key,
            start_page=start_page,
            expected_total=expected_total,
            seen=seen,
        ).pages()

    def _job(self, window: ScanWindow) -> WindowJob[Lead]:
        async def fetch(page_number: int) -> Page[Lead]:
            page = await self._list_page({**window.params, "page_number": page_number})
            window.check_leads(page.items)
            return page

        return WindowJob(fetch, window.label)

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
        **filters: Unpack[LeadFilters],
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
        plan = self.plan_scan(
            start_date=start_date,
            end_date=end_date,
            order=order,
            per_page=per_page,
            account_ids=account_ids,
            profile_ids=profile_ids,
            **filters,
        )
        return self._stream(
            [self._job(window) for window in plan.windows],
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
        **filters: Unpack[LeadFilters],
    ) -> PageStream[Page[Lead]]:
        """Like :meth:`iterate`, but yields whole pages (``page.items`` are the new leads).

        Example::

            async for page in wc.leads.iterate_pages(start_date=date(2020, 1, 1)):
                database.insert_many(page.items)
        """
        plan = self.plan_scan(
            start_date=start_date,
            end_date=end_date,
            order=order,
            per_page=per_page,
            account_ids=account_ids,
            profile_ids=profile_ids,
            **filters,
        )
        jobs = [self._job(window) for window in plan.windows]
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
        quote_value: Decimal | int | str | None = None,
        sales_value: Decimal | int | str | None = None,
        call_duration_seconds: int | None = None,
        date_created: DateLike | None = None,
        additional_fields: Mapping[str, Any] | None = None,
        mapped_fields: Mapping[str, Any] | None = None,
        verify: bool = False,
        **fields: Unpack[LeadCreateFields],
    ) -> int:
        """Create a lead and return its id.

        ``lead_type`` is required; ``profile_id`` too with a master key. Other fields
        (text): click ids ``gclid``, ``msclkid``, ``fbclid``; ``wc_client_current`` (the
        visitor cookie), ``sender_name``, ``subject``, ``contact_name``, ``email_address``,
        ``phone_number``, ``notes``, attribution (``lead_source``, ``lead_medium``,
        ``lead_campaign``, ``lead_content``, ``lead_keyword``), ``lead_url``,
        ``landing_url``, ``ip_address``, ``user_id``, ``message``, ``caller_name``,
        ``caller_number``, ``tracking_number``, ``destination_number``, ``form_name``,
        ``city``, ``state``, ``zip``, ``country``. ``date_created`` back-dates an offline
        lead (a date, datetime or ISO 8601 string, sent as UTC).
        ``additional_fields`` and ``mapped_fields`` are ``{name: text}`` and go on the
        wire as ``additional_fields[name]=text`` / ``mapped_fields[name]=text``.

        The create answers only with the id. With ``verify=True`` the lead is read back
        (one more request) and :class:`~whatconverts_async.UpdateNotAppliedError` names
        every field sent that it does not show (how the API stores some of them is not
        documented). A create is retried only when it provably never reached the server,
        so it is never duplicated by a retry; an unreadable answer says the lead may
        exist already.

        Example::

            lead_id = await wc.leads.create(lead_type="web_form", profile_id=80022,
                                            contact_name="Jane Roe", gclid="EAIaIQ...",
                                            additional_fields={"Budget": "5k"}, verify=True)
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
        if date_created is not None:
            form["date_created"] = to_utc_datetime(date_created, "date_created")
        for name, mapping in (
            ("additional_fields", additional_fields),
            ("mapped_fields", mapped_fields),
        ):
            if mapping is not None:
                form[name] = check_additional_fields(mapping, name)
        check_bool(verify, "verify")
        payload = await self._client.request("POST", "leads", form=form, idempotent=False)
        lead_id = self._read(
            payload,
            "leads",
            lambda: _lead_id_of(payload),
            method="POST",
            consequence="the lead may have been created: look for it before creating it again",
        )
        if verify:
            lead = await self.get(lead_id)
            differences = _unapplied(lead, form)
            if differences:
                raise UpdateNotAppliedError(lead_id, differences, action="created")
        return lead_id

    async def update(
        self,
        lead_id: int,
        *,
        quotable: Quotable | str | None = None,
        quote_value: Decimal | int | str | None = None,
        sales_value: Decimal | int | str | None = None,
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
            form["additional_fields"] = check_additional_fields(additional_fields)
            if not form["additional_fields"]:
                # An empty mapping sends nothing: an edit that changes nothing is a mistake.
                raise InvalidParameterError(
                    "additional_fields", "must name at least one field to set, got {}"
                )
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


# Create fields a lead may show under another name, or not at all, by design of the API:
# they are not compared after a create.
_NOT_READ_BACK = frozenset(
    {"profile_id", "send_notification", "wc_client_current", "call_duration_seconds"}
)


def _unapplied(lead: Lead, form: Mapping[str, Any]) -> list[str]:
    """The fields of ``form`` that the re-read ``lead`` does not show."""
    wrong: list[str] = []
    for name, sent in form.items():
        if name in ("additional_fields", "mapped_fields"):
            held = getattr(lead, name)
            wrong += [f"{name}[{key}]" for key, value in sent.items() if held.get(key) != value]
        elif name in ("quotable", "lead_type"):
            if _display(getattr(lead, name)) != sent:
                wrong.append(name)
        elif name in ("email_address", "phone_number"):
            # The API shows a created contact under contact_*; either name will do.
            if sent not in (getattr(lead, name), getattr(lead, f"contact_{name}")):
                wrong.append(name)
        elif name in _NOT_READ_BACK or not hasattr(lead, name):
            continue
        elif getattr(lead, name) != sent:
            wrong.append(name)
    return wrong


def pages_from_bytes() -> bool:
    """Whether lead pages are read from the answer's bytes (msgspec is installed)."""
    return _json.msgspec is not None


async def _lead_page_or_payload(answer: Answer) -> Page[Lead] | dict[str, Any]:
    """The page read from the answer's bytes, with a turn of the event loop between
    slices; else (an answer that path cannot vouch for) the decoded envelope, or the
    error the normal decode raises."""
    steps = lead_page_steps(answer.body)
    try:
        while True:
            with no_cyclic_gc():
                next(steps)
            await asyncio.sleep(0)
    except StopIteration as done:
        if done.value is not None:
            page: Page[Lead] = done.value
            return page
    return await decode_object_sliced(answer)


# In C: the window reader takes a page's keys with one map() call.
_lead_key: Callable[[Lead], int] = operator.attrgetter("lead_id")


def _lead_id_of(payload: Mapping[str, Any]) -> int:
    value = payload.get("lead_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"no integer lead_id in the answer: {value!r}")
    return value


def _display(value: Any) -> str:
    """A lead's vocabulary value in the filters' snake form (``"Phone Call"`` → ``phone_call``)."""
    return normalise(str(getattr(value, "value", value)))


def check_filters_applied(leads: Iterable[Lead], params: Mapping[str, Any]) -> None:
    """Raise :class:`~whatconverts_async.FilterNotAppliedError` for the first lead that does
    not match a filter in ``params`` (checked values, as :func:`check_lead_filters` gives).

    Checked: ``lead_type``, ``lead_status``, ``quotable`` (the display value read back in
    snake form), ``spam``/``duplicate`` (``True`` only, the one value sent),
    ``quote_value``/``sales_value`` presence (``has_value``: not null; ``no_value``: null
    or zero, since a server may write an unset amount as ``0``), ``account_id`` and
    ``profile_id``. A lead without the field (``None``) cannot be checked and passes.
    Text filters are not checked: how the API matches them (case, formatting of phone
    numbers) is not documented well enough to call a difference wrong.
    """
    wanted = {name: params[name] for name in _CHECKED if params.get(name) is not None}
    if not wanted:
        return
    for lead in leads:
        for name, sent in wanted.items():
            found = getattr(lead, name)
            if found is None and name not in _PRESENCE:
                continue
            if not _matches(name, sent, found):
                raise FilterNotAppliedError(
                    name, wire_value(sent), lead.lead_id, getattr(found, "value", found)
                )


_PRESENCE = ("quote_value", "sales_value")
_CHECKED = (
    "lead_type",
    "lead_status",
    "quotable",
    "spam",
    "duplicate",
    *_PRESENCE,
    "account_id",
    "profile_id",
)


def _matches(name: str, sent: Any, found: Any) -> bool:
    if name in ("lead_type", "lead_status", "quotable"):
        return bool(_display(found) == sent)
    if name in _PRESENCE:
        return (found is not None) if sent == "has_value" else (found is None or found == 0)
    return bool(found == sent)
