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
import contextlib
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import attrs

from .errors import InvalidParameterError, PaginationError
from .models import Page

__all__ = [
    "PageStream",
    "PaginationError",
    "WindowJob",
    "WindowReader",
    "iterate_items",
    "stream_pages",
]

T = TypeVar("T")


@attrs.frozen
class WindowJob(Generic[T]):
    """One independently paginated query (a date window, or a whole non-lead list)."""

    fetch: Callable[[int], Awaitable[Page[T]]]
    label: str = ""


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


@attrs.define
class _Reading:
    """One pass over a window: what its first page promised."""

    total: int
    per_page: int
    # Keys met in this pass: a later page repeating one (while the total holds) means the
    # list moved under us, or the server ignores paging. On a first, unseeded pass the
    # keys met are exactly the reader's ``seen``, so that one set serves both purposes
    # and a dense window keeps one set of ids, not two.
    met: set[Hashable]

    @property
    def last_page(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0

    def expected_items(self, page_number: int) -> int:
        return max(0, min(self.per_page, self.total - (page_number - 1) * self.per_page))


class WindowReader(Generic[T]):
    """Reads the pages of one job with the guarantees of this module.

    Iterate it (``async for page in reader``) once. Its state is named: ``seen`` (keys
    already yielded, shared across re-readings), ``unsettled`` (why the last reading was
    abandoned, or None) and ``readings`` (how many passes were started).

    To resume a job part-way (after a crash), pass the ``start_page`` to read next, the
    ``expected_total`` seen before, and the keys already taken as ``seen``: if the total
    has changed since, the job is read again from page 1, skipping those keys.

    ``first`` is a fetch of the first page already under way (see :func:`stream_pages`);
    ``on_all_scheduled`` is called once every page of the job has been asked for while a
    prefetch slot is still free, so the caller may start the next job's first page.
    Raises :class:`InvalidParameterError` for ``prefetch`` < 1 and :class:`PaginationError`
    when the job kept changing through ``max_rereads + 1`` readings.
    """

    def __init__(
        self,
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
    ) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            # With no page in flight a reading would end after its first page: silent
            # loss, so refuse it before the first request.
            raise InvalidParameterError("prefetch", f"must be an integer >= 1, got {prefetch!r}")
        self.job = job
        self.prefetch = prefetch
        self.key = key
        self.max_rereads = max_rereads
        self.seen: set[Hashable] = set() if seen is None else seen
        self.unsettled: str | None = None
        self.readings = 0
        self._seeded = bool(seen)
        self._start_page = start_page
        self._expected_total = expected_total
        self._first = first
        self._on_all_scheduled = on_all_scheduled

    def __aiter__(self) -> AsyncIterator[Page[T]]:
        return self.pages()

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """The job's pages in order; each item's key is yielded at most once."""
        first_page = self._start_page
        while self.readings <= self.max_rereads:
            fresh = self.readings == 0 and not self._seeded
            self.readings += 1
            self.unsettled = None
            # Closed explicitly so leaving early cancels this reading's prefetches now,
            # not whenever the inner generator is collected.
            reading = self._read(first_page, met=self.seen if fresh else set())
            async with contextlib.aclosing(reading):
                async for page in reading:
                    yield page
            if self.unsettled is None:
                return
            first_page = 1
        raise PaginationError(
            f"{self.job.label}: results kept changing while being read ({self.unsettled}); "
            f"gave up after {self.max_rereads + 1} readings"
        )

    async def _read(self, first_page: int, *, met: set[Hashable]) -> AsyncGenerator[Page[T], None]:
        """One reading from ``first_page``; sets :attr:`unsettled` when it must start over."""
        head = await self._fetch_head(first_page)
        _check_page_number(head, first_page, self.job.label)
        if first_page == 1:
            _check_envelope(head, self.job.label)
        total = head.total_items if self._expected_total is None else self._expected_total
        self._expected_total = None
        reading = _Reading(total, head.per_page, met)
        self.unsettled = self._problem(head, first_page, reading)
        if self.unsettled is not None:
            return
        if reading.last_page <= first_page and self.prefetch > 1:
            # A one-page job: the next job's first page can load while this one is used.
            self._all_scheduled()
        yield self._fresh(head)
        ahead: collections.deque[tuple[int, asyncio.Task[Page[T]]]] = collections.deque()
        next_page = first_page + 1
        try:
            while True:
                while next_page <= reading.last_page and len(ahead) < self.prefetch:
                    ahead.append((next_page, asyncio.ensure_future(self.job.fetch(next_page))))
                    next_page += 1
                if len(ahead) < self.prefetch:
                    self._all_scheduled()
                if not ahead:
                    return
                number, task = ahead.popleft()
                page = await task
                _check_page_number(page, number, self.job.label)
                self.unsettled = self._problem(page, number, reading)
                if self.unsettled is not None:
                    return
                yield self._fresh(page)
        finally:
            await _cancel_all([task for _, task in ahead])

    async def _fetch_head(self, page_number: int) -> Page[T]:
        if self._first is not None:
            started, self._first = self._first, None
            return await started
        return await self.job.fetch(page_number)

    def _all_scheduled(self) -> None:
        if self._on_all_scheduled is not None:
            callback, self._on_all_scheduled = self._on_all_scheduled, None
            callback()

    def _problem(self, page: Page[T], number: int, reading: _Reading) -> str | None:
        """Why ``page`` shows the window changed under this reading (None: it did not)."""
        if page.total_items != reading.total:
            return f"total changed from {reading.total} to {page.total_items}"
        expected = reading.expected_items(number)
        if len(page.items) != expected:
            return f"page {number} has {len(page.items)} items, expected {expected}"
        if self._repeats(page, reading.met):
            return f"page {number} repeats items of earlier pages"
        return None

    def _repeats(self, page: Page[T], met: set[Hashable]) -> bool:
        """Whether ``page`` holds a key already met in this reading; records its keys unless
        ``met`` is :attr:`seen`, which :meth:`_fresh` fills."""
        if self.key is None:
            return False
        keys = [self.key(item) for item in page.items]
        if not met.isdisjoint(keys):
            return True
        if met is not self.seen:
            met.update(keys)
        return False

    def _fresh(self, page: Page[T]) -> Page[T]:
        """``page`` without the items whose key was already yielded; records the rest."""
        if self.key is None:
            return page
        items = []
        for item in page.items:
            k = self.key(item)
            if k not in self.seen:
                self.seen.add(k)
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

            pages = WindowReader(
                job,
                prefetch=prefetch,
                key=key,
                max_rereads=max_rereads,
                first=started,
                on_all_scheduled=start_following if following is not None else None,
            ).pages()
            async with contextlib.aclosing(pages):
                async for page in pages:
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
