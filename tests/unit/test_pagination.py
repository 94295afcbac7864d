"""The window reader driven by a scripted fetch function: every edge case, no network."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest

from whatconverts_async.errors import InvalidParameterError
from whatconverts_async.models import Page
from whatconverts_async.pagination import (
    PageStream,
    PaginationError,
    WindowJob,
    WindowReader,
    iterate_items,
    stream_pages,
)

Tamper = Callable[[Page[int]], Page[int]]


class Listing:
    """A list served page by page, as the API would, with scripted misbehaviour.

    ``before[n]`` runs before the n-th request is answered (1-based, e.g. to insert
    items); ``tamper[n]`` rewrites the n-th answer. ``calls`` records the page numbers
    asked for, in order; ``log`` (shared between listings) records ``(name, page)``.
    """

    def __init__(
        self,
        items: list[int],
        per_page: int,
        *,
        name: str = "w",
        log: list[Any] | None = None,
        delays: dict[int, float] | None = None,
    ) -> None:
        self.items = list(items)
        self.per_page = per_page
        self.name = name
        self.calls: list[int] = []
        self.before: dict[int, Callable[[Listing], None]] = {}
        self.tamper: dict[int, Tamper] = {}
        self.delays = delays or {}
        self.log = log if log is not None else []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.cancelled = 0

    def page(self, number: int) -> Page[int]:
        total = len(self.items)
        chunk = self.items[(number - 1) * self.per_page : number * self.per_page]
        pages = math.ceil(total / self.per_page) if total else 0
        return Page(
            items=chunk,
            page_number=number,
            per_page=self.per_page,
            total_pages=pages,
            total_items=total,
        )

    async def fetch(self, number: int) -> Page[int]:
        self.calls.append(number)
        self.log.append((self.name, number))
        call = len(self.calls)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(number, 0))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        if call in self.before:
            self.before[call](self)
        answer = self.page(number)
        return self.tamper[call](answer) if call in self.tamper else answer

    def job(self) -> WindowJob[int]:
        return WindowJob(self.fetch, self.name)


def ident(item: int) -> int:
    return item


async def read(reader: WindowReader[int]) -> list[int]:
    return [item async for page in reader for item in page.items]


async def test_reads_every_page_once_in_order() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    reader = WindowReader(listing.job(), key=ident)
    assert await read(reader) == list(range(1, 8))
    assert listing.calls == [1, 2, 3]
    assert reader.readings == 1 and reader.unsettled is None


async def test_empty_window_costs_one_request() -> None:
    listing = Listing([], per_page=3)
    pages = [page async for page in WindowReader(listing.job(), key=ident)]
    assert [len(page.items) for page in pages] == [0]
    assert listing.calls == [1]


async def test_short_page_reads_the_window_again() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    listing.tamper[2] = lambda page: attrs.evolve(page, items=page.items[:2])
    reader = WindowReader(listing.job(), key=ident, prefetch=1)
    assert await read(reader) == list(range(1, 8))
    assert listing.calls == [1, 2, 1, 2, 3]
    assert reader.readings == 2


async def test_repeated_page_reads_the_window_again() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    # Page 2 answered with page 1's items: a server that ignores page_number's content.
    listing.tamper[2] = lambda page: attrs.evolve(page, items=[1, 2, 3])
    reader = WindowReader(listing.job(), key=ident, prefetch=1)
    items = await read(reader)
    assert sorted(items) == list(range(1, 8)) and len(items) == 7
    assert listing.calls == [1, 2, 1, 2, 3]


async def test_repeat_across_readings_is_dropped_not_yielded_twice() -> None:
    listing = Listing(list(range(1, 10)), per_page=3)
    # After page 2 was read, an item is inserted at the front: page 3 changes total.
    listing.before[3] = lambda lst: lst.items.insert(0, 100)
    reader = WindowReader(listing.job(), key=ident, prefetch=1)
    items = await read(reader)
    assert sorted(items) == sorted([*range(1, 10), 100])
    assert len(items) == len(set(items))
    assert reader.readings == 2 and listing.calls == [1, 2, 3, 1, 2, 3, 4]


async def test_total_change_on_the_first_page_of_a_resume_reads_again() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    reader = WindowReader(listing.job(), key=ident, start_page=2, expected_total=6, seen={1, 2, 3})
    assert await read(reader) == [4, 5, 6, 7]
    assert listing.calls == [2, 1, 2, 3]


async def test_resume_reads_from_the_page_given() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    seen: set[Any] = {1, 2, 3}
    reader = WindowReader(listing.job(), key=ident, start_page=2, expected_total=7, seen=seen)
    assert await read(reader) == [4, 5, 6, 7]
    assert listing.calls == [2, 3]
    assert seen == set(range(1, 8))


async def test_renumbered_page_fails_loudly() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    listing.tamper[2] = lambda page: attrs.evolve(page, page_number=1)
    with pytest.raises(PaginationError, match="asked for page 2, the answer is page 1"):
        await read(WindowReader(listing.job(), key=ident))


async def test_contradicting_envelope_fails_loudly() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    listing.tamper[1] = lambda page: attrs.evolve(page, total_pages=2)
    with pytest.raises(PaginationError, match="total_pages=2 contradicts total=7"):
        await read(WindowReader(listing.job(), key=ident))
    assert listing.calls == [1]


async def test_gives_up_after_max_rereads() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)
    for call in range(1, 30):
        listing.before[call] = lambda lst: lst.items.append(len(lst.items) + 1)
    reader = WindowReader(listing.job(), key=ident, prefetch=1, max_rereads=2)
    with pytest.raises(PaginationError, match="gave up after 3 readings"):
        await read(reader)
    assert reader.readings == 3


async def test_items_outside_the_window_stop_the_read() -> None:
    listing = Listing(list(range(1, 8)), per_page=3)

    async def checked(number: int) -> Page[int]:
        page = await listing.fetch(number)
        if any(item > 5 for item in page.items):
            raise PaginationError(f"item outside its window on page {number}")
        return page

    got: list[int] = []
    with pytest.raises(PaginationError, match="outside its window on page 2"):
        async for page in WindowReader(WindowJob(checked, "w"), key=ident):
            got += page.items
    assert got == [1, 2, 3]


async def test_prefetch_keeps_order_and_bounds_in_flight() -> None:
    # Later pages answer first; items must still come out in page order.
    delays = {n: 0.02 / n for n in range(1, 11)}
    listing = Listing(list(range(1, 31)), per_page=3, delays=delays)
    assert await read(WindowReader(listing.job(), key=ident, prefetch=4)) == list(range(1, 31))
    assert listing.peak_in_flight == 4
    assert sorted(listing.calls) == list(range(1, 11))


async def test_leaving_early_cancels_outstanding_pages() -> None:
    listing = Listing(list(range(1, 31)), per_page=3, delays={n: 5 for n in range(3, 11)})
    reader = WindowReader(listing.job(), key=ident, prefetch=4)
    pages = reader.pages()
    assert (await pages.__anext__()).items == [1, 2, 3]
    # Nothing is prefetched while the consumer holds the first page.
    assert listing.calls == [1]
    assert (await pages.__anext__()).items == [4, 5, 6]
    await pages.aclose()
    assert listing.calls == [1, 2, 3, 4, 5]
    assert listing.cancelled == 3 and listing.in_flight == 0


@pytest.mark.parametrize("prefetch", [0, -1, True, 1.5])
async def test_prefetch_must_be_a_positive_int(prefetch: Any) -> None:
    listing = Listing([1], per_page=3)
    with pytest.raises(InvalidParameterError, match="prefetch"):
        WindowReader(listing.job(), prefetch=prefetch)
    assert listing.calls == []


async def _consume(pages: AsyncIterator[Page[int]], log: list[Any]) -> list[int]:
    out: list[int] = []
    async for page in pages:
        await asyncio.sleep(0.01)  # the consumer's work on this page
        log.append(("consumed", page.page_number))
        out += page.items
    return out


async def test_look_ahead_starts_the_next_window_while_this_one_is_used() -> None:
    log: list[Any] = []
    first = Listing([1, 2, 3, 4], per_page=2, name="a", log=log)
    second = Listing([5, 6], per_page=2, name="b", log=log)
    pages = stream_pages([first.job(), second.job()], prefetch=4, key=ident)
    assert await _consume(pages, log) == [1, 2, 3, 4, 5, 6]
    # b's first page was asked for before the consumer finished a's last page, and
    # no request was spent beyond the pages needed.
    assert log.index(("b", 1)) < log.index(("consumed", 2))
    assert first.calls == [1, 2] and second.calls == [1]


async def test_without_look_ahead_the_next_window_waits() -> None:
    log: list[Any] = []
    first = Listing([1, 2, 3, 4], per_page=2, name="a", log=log)
    second = Listing([5, 6], per_page=2, name="b", log=log)
    pages = stream_pages([first.job(), second.job()], prefetch=4, key=ident, lookahead=False)
    assert await _consume(pages, log) == [1, 2, 3, 4, 5, 6]
    assert log.index(("b", 1)) > log.index(("consumed", 2))


async def test_look_ahead_of_a_one_page_window_needs_a_free_slot() -> None:
    log: list[Any] = []
    first = Listing([1], per_page=2, name="a", log=log)
    second = Listing([2], per_page=2, name="b", log=log)
    pages = stream_pages([first.job(), second.job()], prefetch=1, key=ident)
    assert await _consume(pages, log) == [1, 2]
    # With one slot, b waits until the consumer is done with a.
    assert log.index(("b", 1)) > log.index(("consumed", 1))


async def test_max_items_stops_without_further_requests() -> None:
    first = Listing(list(range(1, 10)), per_page=3, name="a")
    second = Listing([10], per_page=3, name="b")
    pages = stream_pages([first.job(), second.job()], prefetch=1, key=ident, lookahead=False)
    items = PageStream(iterate_items(pages, max_items=2))
    assert await items.collect() == [1, 2]
    assert first.calls == [1] and second.calls == []


async def test_max_items_zero_makes_no_request() -> None:
    listing = Listing([1, 2], per_page=3)
    pages = stream_pages([listing.job()], key=ident)
    assert await PageStream(iterate_items(pages, max_items=0)).collect() == []
    assert listing.calls == []


async def test_ids_seen_in_one_window_are_not_repeated_within_it_only() -> None:
    # Each window keeps its own ids: a lead in two windows (impossible with exact
    # windows) would come out twice, which the window check catches upstream.
    first = Listing([1, 2], per_page=3, name="a")
    second = Listing([2, 3], per_page=3, name="b")
    pages = stream_pages([first.job(), second.job()], key=ident)
    assert await PageStream(iterate_items(pages)).collect() == [1, 2, 2, 3]
