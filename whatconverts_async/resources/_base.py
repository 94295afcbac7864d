"""Shared plumbing of the resources: list envelopes, single-item unwrapping, iteration."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Hashable,
    Mapping,
)
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar, cast

import attrs
import yarl

from .._headers import NO_HEADERS, Headers
from ..convert import structure, structure_page_steps
from ..errors import (
    BadRequestError,
    InvalidParameterError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
)
from ..models import Page
from ..pagination import PageStream, WindowJob, iterate_items, stream_pages
from ..params import (
    check_agency_id,
    check_int_range,
    check_max_items,
    check_order,
    check_prefetch,
    date_range,
    format_datetime,
    paging,
)
from ..scan import split_windows
from ..vocab import MAX_LIST_PER_PAGE

T = TypeVar("T")


class Answered(Protocol):
    """What :meth:`Requester.request_raw` returns (an ``APIResponse``)."""

    @property
    def data(self) -> dict[str, Any]:
        """The JSON object answered."""

    @property
    def headers(self) -> Headers:
        """The answer's headers."""


class Requester(Protocol):
    """What a resource needs from the client (:class:`~whatconverts_async.WhatConverts`
    is one): the public request verbs, the key type, the API root and the time."""

    @property
    def key_type(self) -> str:
        """``"profile"`` or ``"master"``."""

    @property
    def base_url(self) -> yarl.URL:
        """The API root that request paths are relative to."""

    def now(self) -> datetime:
        """The current time (aware UTC) by the client's clock."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """One API request (throttled, retried); its JSON object."""

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Answered:
        """Like :meth:`request`; the JSON object as ``data``, with the answer's ``headers``
        (optional: a requester without it gives pages empty headers)."""

    async def stream(
        self,
        method: str,
        path: str,
        sink: Callable[[AsyncIterator[bytes]], Awaitable[T]],
        *,
        params: Mapping[str, Any] | None = None,
        capped: bool = True,
        accept: str | None = None,
    ) -> T:
        """One API request answered by a file, whose chunks go to ``sink`` (``accept``:
        the ``Accept`` header, instead of JSON)."""


class Resource:
    """Base of every resource: holds the requester and reads its answers into models."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"

    def _agency_id(self, name: str, value: Any) -> int:
        """An ``account_id``/``profile_id`` filter, which only a master key may use."""
        return check_agency_id(value, name, master=self._client.key_type == "master")

    async def _page(
        self,
        path: str,
        params: Mapping[str, Any],
        item_type: type[T],
        plural: str,
        *,
        per_page_key: str | None = None,
        total_key: str | None = None,
    ) -> Page[T]:
        raw = getattr(self._client, "request_raw", None)
        headers: Headers = NO_HEADERS
        if raw is None:
            # A requester of one's own (e.g. a test double) that knows only ``request``.
            payload = await self._client.request("GET", path, params=params)
        else:
            answered: Answered = await raw("GET", path, params=params)
            payload, headers = answered.data, answered.headers
            del answered
        steps = structure_page_steps(
            payload,
            item_type,
            plural,
            per_page_key or f"{plural}_per_page",
            total_key or f"total_{plural}",
            consume=True,
        )
        # The page may quote the credentials (a hostile server): only ``steps`` holds it,
        # not a local of this frame, shown by tracebacks with locals.
        del payload
        return await self._run_page_steps(steps, path, headers)

    async def _run_page_steps(
        self, steps: Generator[None, None, Page[T]], path: str, headers: Headers
    ) -> Page[T]:
        """The page ``steps`` builds (:func:`~..convert.structure_page_steps`), with
        ``headers``; a failure is :meth:`_read`'s error for ``path``."""
        # A slice at a time, giving the event loop a turn in between: a 2,500-lead page
        # would otherwise hold it for the whole page (a stall for a service embedding us).
        while True:
            try:
                self._read(None, path, lambda: next(steps))
            except StopIteration as done:
                page: Page[T] = attrs.evolve(done.value, headers=headers)
                return page
            await asyncio.sleep(0)

    async def _one(
        self,
        path: str,
        item_type: type[T],
        plural: str,
        what: str,
        params: Mapping[str, Any] | None = None,
    ) -> T:
        payload = await self._client.request("GET", path, params=params)
        items = payload.get(plural)
        if not isinstance(items, list):
            raise self._malformed(path, f"no '{plural}' list in the answer")
        if not items:
            raise NotFoundError(
                f"no {what} at {path}", status=200, method="GET", url=path, error_message=None
            )
        return self._read(items[0], path, lambda: structure(items[0], item_type))

    def _read(
        self,
        payload: Any,
        path: str,
        build: Callable[[], T],
        *,
        method: str = "GET",
        consequence: str = "",
    ) -> T:
        """``build()``; a failure to read the answer is a :class:`MalformedResponseError`
        naming ``method`` and the URL (and ``consequence``: what it means for the caller)."""
        why: str | None = None
        try:
            return build()
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            why = str(exc)
        del payload  # server data: not among the locals of the frame the error leaves
        # Raised here, not in the except block: the message says all, and the chain would
        # only add the payload's frames.
        raise self._malformed(path, why, method=method, consequence=consequence)

    def _malformed(
        self, path: str, why: str, *, method: str = "GET", consequence: str = ""
    ) -> MalformedResponseError:
        url = str(self._client.base_url.join(yarl.URL(path)))
        text = f"unexpected answer from {method} {url}: {why}"
        if consequence:
            text += f"; {consequence}"
        return MalformedResponseError(text, status=200, method=method, url=url)

    def _stream(
        self,
        jobs: list[WindowJob[T]],
        *,
        prefetch: int,
        key: Callable[[T], Hashable] | None,
        max_items: int | None,
    ) -> PageStream[T]:
        pages = stream_pages(jobs, prefetch=prefetch, key=key, lookahead=max_items is None)
        return PageStream(iterate_items(pages, max_items=max_items))

    def _page_stream(
        self, jobs: list[WindowJob[T]], *, prefetch: int, key: Callable[[T], Hashable] | None
    ) -> PageStream[Page[T]]:
        return PageStream(stream_pages(jobs, prefetch=prefetch, key=key))


MAX_PER_PAGE = MAX_LIST_PER_PAGE


class ListResource(Resource):
    """A resource whose lists are paged at most 250 per page (accounts, profiles, ...)."""

    def _list_params(
        self,
        per_page_name: str,
        per_page: Any,
        page_number: Any,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        return {**paging(per_page, page_number, per_page_name, MAX_PER_PAGE), **extra}

    def _iterate_list(
        self,
        path: str,
        plural: str,
        item_type: type[T],
        params: Mapping[str, Any],
        *,
        key: Callable[[T], Hashable],
        per_page: Any,
        prefetch: Any,
        max_items: Any,
        per_page_key: str | None = None,
        total_key: str | None = None,
    ) -> PageStream[T]:
        per_page_name = per_page_key or f"{plural}_per_page"
        size = (
            MAX_PER_PAGE
            if per_page is None
            else check_int_range(per_page, "per_page", 1, MAX_PER_PAGE)
        )
        fixed = {**params, per_page_name: size}

        async def fetch(page_number: int) -> Page[T]:
            return await self._page(
                path,
                {**fixed, "page_number": page_number},
                item_type,
                plural,
                per_page_key=per_page_key,
                total_key=total_key,
            )

        return self._stream(
            [WindowJob(fetch, path)],
            prefetch=check_prefetch(prefetch),
            key=key,
            max_items=check_max_items(max_items),
        )

    def _iterate_dated(
        self,
        path: str,
        plural: str,
        item_type: type[T],
        params: Mapping[str, Any],
        *,
        key: Callable[[T], Hashable],
        created: Callable[[T], datetime | None],
        per_page: Any,
        prefetch: Any,
        max_items: Any,
    ) -> PageStream[T]:
        """Every item created within explicit bounds, never the API's default window.

        ``params`` are :func:`created_filters`; a missing ``start_date`` becomes
        :data:`LISTS_SINCE` and a missing ``end_date`` now (fixed here), because what these
        lists cover without dates is undocumented (one report: today only). If the API
        refuses the range with 400, it is read again in windows of at most 400 days (the
        lead list's limit). Every item must lie within the bounds asked for, else
        :class:`~whatconverts_async.PaginationError`: the server read them differently.
        """
        per_page_name = f"{plural}_per_page"
        size = (
            MAX_PER_PAGE
            if per_page is None
            else check_int_range(per_page, "per_page", 1, MAX_PER_PAGE)
        )
        prefetch = check_prefetch(prefetch)
        max_items = check_max_items(max_items)
        start = params.get("start_date") or LISTS_SINCE
        end = params.get("end_date") or self._client.now().replace(microsecond=0)
        if start > end:
            bound = "end_date" if params.get("end_date") else "now"
            raise InvalidParameterError(
                "start_date",
                f"must not be after {bound} ({format_datetime(start)} > {format_datetime(end)})",
            )
        order = params.get("order") or "desc"

        answered: list[bool] = []

        def job(low: datetime, high: datetime) -> WindowJob[T]:
            fixed = {**params, "start_date": low, "end_date": high, per_page_name: size}
            label = f"{path} {format_datetime(low)}..{format_datetime(high)}"

            async def fetch(page_number: int) -> Page[T]:
                page = await self._page(
                    path, {**fixed, "page_number": page_number}, item_type, plural
                )
                answered.append(True)
                for item in page.items:
                    when = created(item)
                    if when is not None and not low <= when <= high:
                        raise PaginationError(
                            f"{label}: {plural[:-1]} {key(item)} created {format_datetime(when)} "
                            "came back outside the dates asked for: the API reads the date "
                            "filters differently than this client assumes"
                        )
                return page

            return WindowJob(fetch, label)

        async def pages() -> AsyncIterator[Page[T]]:
            refused = False
            whole = cast(
                "AsyncGenerator[Page[T], None]",
                stream_pages([job(start, end)], prefetch=prefetch, key=key, lookahead=False),
            )
            async with contextlib.aclosing(whole):
                try:
                    async for page in whole:
                        yield page
                    return
                except BadRequestError as exc:
                    # Only a refusal of the first page can be about the range; nothing has
                    # been yielded then, so reading windows instead repeats nothing.
                    if exc.status != 400 or answered:
                        raise
                    refused = True
            if refused:
                direction: Any = "desc" if order == "desc" else "asc"
                jobs = [job(w.start, w.end) for w in split_windows(start, end, order=direction)]
                async for page in stream_pages(
                    jobs, prefetch=prefetch, key=key, lookahead=max_items is None
                ):
                    yield page

        return PageStream(iterate_items(pages(), max_items=max_items))


LISTS_SINCE = datetime(2000, 1, 1, tzinfo=timezone.utc)
"""Where :meth:`ListResource._iterate_dated` starts when no ``start_date`` is given: before
any WhatConverts account existed, so an explicit lower bound that loses nothing."""


def created_filters(start_date: Any, end_date: Any, order: Any) -> dict[str, Any]:
    """``start_date``/``end_date``/``order`` filters by creation date (no range limit)."""
    start, end = date_range(start_date, end_date)
    return {"start_date": start, "end_date": end, "order": check_order(order)}
