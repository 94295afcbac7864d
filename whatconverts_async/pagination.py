"""Streaming pagination: pages to items, across date windows, with bounded prefetch.

Guarantees (for one scan):

* **Quota-efficient.** The first page of a window says how many pages there are
  (``total_pages``); exactly those are asked for. An empty window costs one request.
* **No skips, no repeats.** An item key (the lead id) already yielded in the current
  window is never yielded again. If a window's total changes between its pages, a
  page holds fewer items than the totals promise, or a page repeats items of an earlier
  page of the same reading, the window is read again from its
  first page (only unseen items come out), at most ``max_rereads`` times; then
  :class:`PaginationError` is raised rather than silently losing items. Memory holds
  one window's keys, not the whole scan's.
* **Prefetch.** Up to ``prefetch`` pages of a window are in flight at once; items still
  come out in page order. Leaving the loop early (``break``, an exception, or
  cancellation) cancels every outstanding request.

The scheduling is written against a ``fetch(page_number) -> Page`` callable, so it knows
nothing about leads or HTTP.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import attrs

from .errors import InvalidParameterError, PaginationError
from .models import Page

__all__ = [
    "PageStream",
    "PaginationError",
    "WindowJob",
    "iterate_items",
    "stream_pages",
    "window_pages",
]

T = TypeVar("T")
FetchPage = Callable[[int], Awaitable[Page[T]]]


@attrs.frozen
class WindowJob(Generic[T]):
    """One independently paginated query (a date window, or a whole non-lead list)."""

    fetch: Callable[[int], Awaitable[Page[T]]]
    label: str = ""


def _expected_items(page_number: int, per_page: int, total: int) -> int:
    return max(0, min(per_page, total - (page_number - 1) * per_page))


def _check_envelope(first: Page[Any], label: str) -> None:
    if first.per_page < 1:
        raise PaginationError(f"{label}: page size {first.per_page} in the answer is not usable")
    needed = math.ceil(first.total_items / first.per_page) if first.total_items else 0
    # Some APIs say total_pages=1 for an empty result, others 0; both are fine.
    if first.total_pages != needed and not (needed == 0 and first.total_pages <= 1):
        raise PaginationError(
            f"{label}: total_pages={first.total_pages} contradicts "
            f"total={first.total_items} at {first.per_page} per page"
        )


def _check_page_number(page: Page[Any], asked: int, label: str) -> None:
    # A server that ignores page_number (or clamps it) would hand back a page already
    # read; its items would all be dropped as repeats and the page asked for lost.
    if page.items and page.page_number != asked:
        raise PaginationError(
            f"{label}: asked for page {asked}, the answer is page {page.page_number}"
        )


async def _cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    # Retrieve every outcome so no "exception was never retrieved" warning appears.
    await asyncio.gather(*tasks, return_exceptions=True)


async def window_pages(
    job: WindowJob[T],
    *,
    prefetch: int = 4,
    key: Callable[[T], Hashable] | None = None,
    max_rereads: int = 3,
    start_page: int = 1,
    expected_total: int | None = None,
    seen: set[Hashable] | None = None,
    first: asyncio.Future[Page[T]] | None = None,
    on_all_scheduled: Callable[[], None] | None = None,
) -> AsyncIterator[Page[T]]:
    """The pages of one job, with the guarantees of this module.

    To resume a job part-way (after a crash), pass the ``start_page`` to read next, the
    ``expected_total`` seen before, and the keys already taken as ``seen``: if the total
    has changed since, the job is read again from page 1, skipping those keys.

    ``first`` is a fetch of the first page already under way (see :func:`stream_pages`);
    ``on_all_scheduled`` is called once every page of the job has been asked for while a
    prefetch slot is still free, so the caller may start the next job's first page.
    """
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
        # With no page in flight the loop below would end each window after its first
        # page: silent loss, so refuse it before the first request.
        raise InvalidParameterError("prefetch", f"must be an integer >= 1, got {prefetch!r}")
    seeded = bool(seen)
    seen = set() if seen is None else seen
    first_page = start_page
    for reading in range(max_rereads + 1):
        if first is not None:
            started, first = first, None
            head = await started
        else:
            head = await job.fetch(first_page)
        first_page_obj: Page[T] = head
        _check_page_number(first_page_obj, first_page, job.label)
        if first_page == 1:
            _check_envelope(first_page_obj, job.label)
        total = first_page_obj.total_items if expected_total is None else expected_total
        expected_total = None
        per_page = first_page_obj.per_page
        unsettled: str | None = None
        # Keys met in this reading: a later page repeating one (while the total holds)
        # means the list moved under us, or the server ignores paging. Either way the
        # window is read again rather than fetching page after page of repeats.
        # On a first, unseeded reading the keys met so far are exactly ``seen``, so that
        # set serves both purposes and a dense window keeps one set of ids, not two.
        met: set[Hashable] = seen if reading == 0 and not seeded else set()
        expected = _expected_items(first_page, per_page, total)
        if first_page_obj.total_items != total:
            unsettled = f"total changed from {total} to {first_page_obj.total_items}"
        elif len(first_page_obj.items) != expected:
            unsettled = (
                f"page {first_page} has {len(first_page_obj.items)} items, expected {expected}"
            )
        else:
            _repeats(first_page_obj, met, key, record=met is not seen)
        last_page = math.ceil(total / per_page) if total else 0
        if unsettled is None:
            if on_all_scheduled is not None and last_page <= first_page and prefetch > 1:
                # A one-page job: the next job's first page can load while this one is used.
                on_all_scheduled()
                on_all_scheduled = None
            yield _fresh(first_page_obj, seen, key)
            ahead: collections.deque[tuple[int, asyncio.Task[Page[T]]]] = collections.deque()
            next_page = first_page + 1
            try:
                while True:
                    while next_page <= last_page and len(ahead) < prefetch:
                        ahead.append((next_page, asyncio.ensure_future(job.fetch(next_page))))
                        next_page += 1
                    if on_all_scheduled is not None and len(ahead) < prefetch:
                        on_all_scheduled()
                        on_all_scheduled = None
                    if not ahead:
                        break
                    number, task = ahead.popleft()
                    page = await task
                    _check_page_number(page, number, job.label)
                    expected = _expected_items(number, per_page, total)
                    if page.total_items != total:
                        unsettled = f"total changed from {total} to {page.total_items}"
                    elif len(page.items) != expected:
                        unsettled = (
                            f"page {number} has {len(page.items)} items, expected {expected}"
                        )
                    elif _repeats(page, met, key, record=met is not seen):
                        unsettled = f"page {number} repeats items of earlier pages"
                    if unsettled is not None:
                        break
                    yield _fresh(page, seen, key)
            finally:
                await _cancel_all([task for _, task in ahead])
        if unsettled is None:
            return
        first_page = 1
        if reading == max_rereads:
            raise PaginationError(
                f"{job.label}: results kept changing while being read ({unsettled}); "
                f"gave up after {max_rereads + 1} readings"
            )


def _repeats(
    page: Page[T],
    reading: set[Hashable],
    key: Callable[[T], Hashable] | None,
    *,
    record: bool = True,
) -> bool:
    """Whether ``page`` holds a key already met in this reading; records its keys unless
    ``reading`` is the ``seen`` set, which :func:`_fresh` fills."""
    if key is None:
        return False
    keys = [key(item) for item in page.items]
    if not reading.isdisjoint(keys):
        return True
    if record:
        reading.update(keys)
    return False


def _fresh(page: Page[T], seen: set[Hashable], key: Callable[[T], Hashable] | None) -> Page[T]:
    if key is None:
        return page
    items = []
    for item in page.items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            items.append(item)
    if len(items) == len(page.items):
        return page
    return attrs.evolve(page, items=items)


async def stream_pages(
    jobs: Iterable[WindowJob[T]],
    *,
    prefetch: int = 4,
    key: Callable[[T], Hashable] | None = None,
    max_rereads: int = 3,
    lookahead: bool = True,
) -> AsyncIterator[Page[T]]:
    """Pages of every job in order, each job paginated with the guarantees above.

    With ``lookahead``, the next job's first page is fetched as soon as every page of the
    current job has been asked for and a prefetch slot is free: no extra request (that
    page is needed anyway), one round trip less per window. Turn it off when the caller
    may stop early (``max_items``), where that page could be a request spent for nothing.
    """
    queue = list(jobs)
    pending: asyncio.Future[Page[T]] | None = None
    try:
        for index, job in enumerate(queue):
            started, pending = pending, None
            following = queue[index + 1] if lookahead and index + 1 < len(queue) else None

            def start_following(following: WindowJob[T] | None = following) -> None:
                nonlocal pending
                if following is not None and pending is None:
                    pending = asyncio.ensure_future(following.fetch(1))

            async for page in window_pages(
                job,
                prefetch=prefetch,
                key=key,
                max_rereads=max_rereads,
                first=started,
                on_all_scheduled=start_following if following is not None else None,
            ):
                yield page
    finally:
        if pending is not None:
            await _cancel_all([pending])


async def iterate_items(
    pages: AsyncIterator[Page[T]], *, max_items: int | None = None
) -> AsyncIterator[T]:
    """Items of ``pages`` in order, stopping after ``max_items`` without further requests."""
    if max_items is not None and max_items <= 0:
        return
    count = 0
    try:
        async for page in pages:
            for item in page.items:
                yield item
                count += 1
                if max_items is not None and count >= max_items:
                    return
    finally:
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            await aclose()


class PageStream(Generic[T]):
    """An async iterator that can also be closed explicitly or used with ``async with``.

    Leaving an ``async for`` early lets Python finalise the iterator soon after; use
    ``async with`` (or :meth:`aclose`) to cancel outstanding prefetches right away::

        async with wc.leads.iterate(start_date=date(2020, 1, 1)) as leads:
            async for lead in leads:
                if lead.lead_id == wanted:
                    break
    """

    def __init__(self, source: AsyncIterator[T]) -> None:
        self._source = source

    def __aiter__(self) -> PageStream[T]:
        return self

    async def __anext__(self) -> T:
        return await self._source.__anext__()

    async def aclose(self) -> None:
        """Stop the iteration and cancel any request still in flight."""
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> PageStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def collect(self) -> list[T]:
        """Everything left, as a list (mind the memory on big scans)."""
        return [item async for item in self]
