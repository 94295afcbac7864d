"""Streaming pagination: pages to items, across date windows, with bounded prefetch.

Guarantees (for one scan):

* **Quota-efficient.** The first page of a window says how many pages there are
  (``total_pages``); exactly those are asked for. An empty window costs one request.
* **No skips, no repeats.** An item key (the lead id) already yielded in the current
  window is never yielded again. If a window's total changes between its pages, a
  page holds fewer items than the totals promise, or a page repeats an item of its own or
  of an earlier page of the same reading, the window is read again from its
  first page (only unseen items come out), at most ``max_rereads`` times; then
  :class:`PaginationError` is raised rather than silently losing items. Memory holds
  one window's keys, not the whole scan's, ~8-16 bytes each (:class:`CompactKeys`).

  The limit: between two page requests, if as many items leave pages already read as
  join pages not yet read, the total holds, nothing repeats, and the answers are exactly
  those of a window that never held the items that slid onto read pages; no check on
  the answers can see it, and they are not yielded. For leads this needs a lead created
  *inside* the window while it is read (an import or manual lead with a past date, a
  date edited into the window, or, in the window that holds "now", a server clock behind
  the client's), since the scan's end is fixed when it starts, plus a deletion.
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
import heapq
import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
)
from typing import Any, Generic, TypeVar, cast

import attrs

from .errors import InvalidParameterError, PaginationError
from .models import Page

__all__ = [
    "ITEMS_PER_TURN",
    "CompactKeys",
    "PageStream",
    "PaginationError",
    "WindowJob",
    "WindowReader",
    "iterate_items",
    "stream_pages",
]

T = TypeVar("T")


_INT64 = (-(2**63), 2**63 - 1)


def _as_int64(key: Any) -> Any:
    """``key`` as a 64-bit ``int`` when it is one or equals one (``True``, ``7.0``), so the
    set treats ``1``, ``True`` and ``1.0`` as one key, as a ``set`` does; else ``key``."""
    if type(key) is int:
        return key if _INT64[0] <= key <= _INT64[1] else _Big(key)
    if isinstance(key, (bool, float)) and key == key and key not in (math.inf, -math.inf):
        whole = int(key)
        if whole == key:
            return _as_int64(whole)
    return key


def _all_int64(keys: list[Any]) -> bool:
    """Whether every key is an ``int`` (not a subclass, not ``bool``) of 64 bits, checked
    in C."""
    if not keys:
        return True
    return set(map(type, keys)) == {int} and _INT64[0] <= min(keys) and max(keys) <= _INT64[1]


class _Big(int):
    """An int beyond 64 bits: kept in the plain set (a subclass, so it is not ``int``)."""

    __slots__ = ()


class CompactKeys:
    """A set of item keys that costs ~8-16 bytes per integer key instead of ~70.

    A window of a scan remembers every lead id it has yielded; at 100,000 ids a window a
    ``set`` of ints holds ~7 MB. Here new keys go to a small ``set``; when it holds
    :attr:`BUFFER` keys they move, sorted, into ``array('q')`` runs of doubling size
    (a run that follows or precedes the last one is appended to it, as lead ids grow with
    time; overlapping runs of equal size are merged, so there are at most ~log2(n /
    BUFFER) of them). A lookup asks the small set, then each run whose first/last key
    bracket the key with a binary search. Keys that are not 64-bit integers (or equal to
    one, like ``True``) are kept in a plain set.

    Supports what the window reader needs: ``in``, ``add``, ``update``, ``isdisjoint``,
    ``len``, iteration (in no particular order) and ``==`` with any set.

    >>> keys = CompactKeys([3, 1, 2])
    >>> 2 in keys, 4 in keys, len(keys)
    (True, False, 3)
    """

    BUFFER = 4096

    __slots__ = ("_count", "_other", "_recent", "_runs")

    def __init__(self, keys: Iterable[Hashable] = ()) -> None:
        self._recent: set[int] = set()
        self._runs: list[array[int]] = []
        self._other: set[Hashable] = set()
        self._count = 0
        self.update(keys)

    def __contains__(self, key: object) -> bool:
        if key in self._recent:
            return True
        key = _as_int64(key)
        if type(key) is not int:
            return key in self._other
        for run in self._runs:
            if run[0] <= key <= run[-1]:
                at = bisect_left(run, key)
                if run[at] == key:
                    return True
        return False

    def add(self, key: Hashable) -> None:
        """Add one key (no effect if present)."""
        self.add_new(key)

    def add_new(self, key: Hashable) -> bool:
        """Add ``key``; whether it was new (one lookup where ``in`` then ``add`` takes two)."""
        if type(key) is int and _INT64[0] <= key <= _INT64[1]:
            if key in self._recent:
                return False
            for run in self._runs:
                if run[0] <= key <= run[-1]:
                    at = bisect_left(run, key)
                    if run[at] == key:
                        return False
            self._count += 1
            self._recent.add(key)
            if len(self._recent) >= self.BUFFER:
                self._flush()
            return True
        if key in self:
            return False
        self._count += 1
        key = _as_int64(key)
        if type(key) is not int:
            self._other.add(key)
        else:
            self._recent.add(key)
            if len(self._recent) >= self.BUFFER:
                self._flush()
        return True

    def update(self, keys: Iterable[Hashable]) -> None:
        """Add every key of ``keys``."""
        for key in keys:
            self.add(key)

    def take_new(self, items: Iterable[T], key: Callable[[T], Hashable]) -> list[T]:
        """The items whose ``key`` is not in the set yet, in order; their keys are added.

        The same as calling :meth:`add_new` per item, in one loop (a page at a time). A
        page of new 64-bit integer keys (a scan's usual page) is taken in C: one check
        that none repeats or is known (:meth:`isdisjoint`), then one ``update``."""
        items = items if isinstance(items, list) else list(items)
        keys = list(map(key, items))
        if _all_int64(keys) and len(set(keys)) == len(keys) and self._ints_disjoint(keys):
            self._recent.update(cast("list[int]", keys))
            self._count += len(keys)
            if len(self._recent) >= self.BUFFER:
                self._flush()
            return list(items)
        out: list[T] = []
        recent, runs, low, high = self._recent, self._runs, _INT64[0], _INT64[1]
        for item, k in zip(items, keys, strict=True):
            if type(k) is not int or not low <= k <= high:
                if self.add_new(k):
                    out.append(item)
                recent, runs = self._recent, self._runs  # add_new may have flushed
                continue
            if k in recent:
                continue
            for run in runs:
                if run[0] <= k <= run[-1] and run[bisect_left(run, k)] == k:
                    break
            else:
                self._count += 1
                recent.add(k)
                out.append(item)
                if len(recent) >= self.BUFFER:
                    self._flush()
                    recent, runs = self._recent, self._runs
        return out

    def isdisjoint(self, keys: Iterable[Hashable]) -> bool:
        """Whether no key of ``keys`` is in the set."""
        keys = keys if isinstance(keys, list) else list(keys)
        if _all_int64(keys):
            return self._ints_disjoint(cast("list[int]", keys))
        return not any(key in self for key in keys)

    def _ints_disjoint(self, keys: list[Any]) -> bool:
        """:meth:`isdisjoint` for 64-bit ``int`` keys: the small set in C, then for each
        run only the keys within its bounds (none, when ids grow with time)."""
        if not self._recent.isdisjoint(keys):
            return False
        if self._runs and keys:
            ordered = sorted(keys)
            for run in self._runs:
                begin = bisect_left(ordered, run[0])
                end = bisect_right(ordered, run[-1], begin)
                for k in ordered[begin:end]:
                    if run[bisect_left(run, k)] == k:
                        return False
        return True

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Hashable]:
        for run in self._runs:
            yield from run
        yield from self._recent
        yield from self._other

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (CompactKeys, set, frozenset)):
            return len(self) == len(other) and all(key in self for key in other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<CompactKeys of {len(self)} keys>"

    def _flush(self) -> None:
        if not self._recent:
            return
        run = array("q", sorted(self._recent))
        self._recent = set()
        runs = self._runs
        while runs:
            last = runs[-1]
            if last[-1] < run[0]:  # lead ids grow with time: the usual case, a copy in C
                last.extend(run)
                run = runs.pop()
            elif run[-1] < last[0]:  # the same, for a scan in descending order
                run.extend(last)
                runs.pop()
            elif len(last) <= len(run):
                # Interleaved keys: merge equal-sized neighbours, like a binary counter, so
                # there are log2(n) runs at most and each key is copied log2(n) times.
                run = array("q", heapq.merge(runs.pop(), run))
            else:
                break
        runs.append(run)


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


def _repeats_within(keys: list[Hashable]) -> bool:
    """Whether two of ``keys`` (a page's) are the same."""
    return len(set(keys)) != len(keys)


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
    met: set[Hashable] | CompactKeys

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
        seen: set[Hashable] | CompactKeys | None = None,
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
        # A set passed in is filled as given (a caller resuming may read it afterwards);
        # our own is compact: a dense window yields 100,000 ids and more.
        self.seen: set[Hashable] | CompactKeys = CompactKeys() if seen is None else seen
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
            reading = self._read(first_page, met=self.seen if fresh else CompactKeys())
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

    async def _read(
        self, first_page: int, *, met: set[Hashable] | CompactKeys
    ) -> AsyncGenerator[Page[T], None]:
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
        if self.key is None:
            return None
        keys = list(map(self.key, page.items))
        if _repeats_within(keys):
            # One lead twice on a page whose count is right means another is missing.
            return f"page {number} holds the same item twice"
        if self._repeats(keys, reading.met):
            return f"page {number} repeats items of earlier pages"
        return None

    def _repeats(self, keys: list[Hashable], met: set[Hashable] | CompactKeys) -> bool:
        """Whether ``keys`` (a page's) hold one already met in this reading; records them
        unless ``met`` is :attr:`seen`, which :meth:`_fresh` fills."""
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
        key, seen = self.key, self.seen
        if isinstance(seen, CompactKeys):
            items = seen.take_new(page.items, key)
        else:
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


ITEMS_PER_TURN = 250
"""Items :func:`iterate_items` hands out between two turns of the event loop."""


async def iterate_items(
    pages: AsyncIterator[Page[T]], *, max_items: int | None = None
) -> AsyncIterator[T]:
    """Items of ``pages`` in order, stopping after ``max_items`` without further requests.

    Every :data:`ITEMS_PER_TURN` items the event loop gets a turn, so a consumer that does
    not await per item still does not hold the loop for a whole 2,500-item page."""
    if max_items is not None and max_items <= 0:
        return
    count = 0
    try:
        async for page in pages:
            items = page.items
            for begin in range(0, len(items), ITEMS_PER_TURN):
                if begin:
                    # An async generator that does not await runs a whole page in one
                    # step of its consumer's task: give the loop a turn now and then.
                    await asyncio.sleep(0)
                for item in items[begin : begin + ITEMS_PER_TURN]:
                    yield item
                    if max_items is not None:
                        count += 1
                        if count >= max_items:
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

    def __anext__(self) -> Awaitable[T]:
        # The source's own awaitable, not a coroutine wrapping it: one object less per item.
        return self._source.__anext__()

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
