"""A consumer that never awaits still lets the event loop run between slices of a page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from whatconverts_async.models import Page
from whatconverts_async.pagination import ITEMS_PER_TURN, PageStream, iterate_items


async def one_page(size: int) -> AsyncIterator[Page[int]]:
    yield Page(
        items=list(range(size)), page_number=1, per_page=size, total_pages=1, total_items=size
    )


async def count_turns_while_consuming(
    size: int, max_items: int | None = None
) -> tuple[list[int], int]:
    turns = 0
    running = True

    def tick() -> None:
        nonlocal turns
        if running:
            turns += 1
            asyncio.get_running_loop().call_soon(tick)

    stream = PageStream(iterate_items(one_page(size), max_items=max_items))
    asyncio.get_running_loop().call_soon(tick)
    got = []
    async for item in stream:  # no await in the body: the generator alone decides
        got.append(item)
    running = False
    return got, turns


async def test_a_page_of_items_gives_the_loop_turns() -> None:
    size = 4 * ITEMS_PER_TURN + 10
    got, turns = await count_turns_while_consuming(size)
    assert got == list(range(size))  # nothing lost, nothing repeated, in order
    assert turns >= 4


async def test_a_small_page_costs_no_extra_turn_and_max_items_still_stops() -> None:
    got, _ = await count_turns_while_consuming(ITEMS_PER_TURN)
    assert got == list(range(ITEMS_PER_TURN))
    got, _ = await count_turns_while_consuming(3 * ITEMS_PER_TURN, max_items=ITEMS_PER_TURN + 1)
    assert got == list(range(ITEMS_PER_TURN + 1))
