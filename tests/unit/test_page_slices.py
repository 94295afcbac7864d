"""A page is structured in slices with a turn of the event loop between them."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest
import yarl

from whatconverts_async.convert import PAGE_SLICE, structure_page, structure_page_steps
from whatconverts_async.errors import MalformedResponseError
from whatconverts_async.models import Lead, Page
from whatconverts_async.resources._base import Resource


class Answers:
    """A requester that answers every GET with a copy of one payload."""

    key_type = "profile"
    base_url = yarl.URL("http://127.0.0.1:9/api/v1/")

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **_: Any
    ) -> dict[str, Any]:
        return copy.deepcopy(self.payload)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - unused
        raise NotImplementedError


def envelope(count: int, bad_at: int | None = None) -> dict[str, Any]:
    leads: list[dict[str, Any]] = [
        {"lead_id": i, "date_created": "2025-06-01T14:00:00Z", "notes": f"n{i}"}
        for i in range(1, count + 1)
    ]
    if bad_at is not None:
        leads[bad_at]["date_created"] = "soon"
    return {
        "page_number": 1,
        "leads_per_page": 2500,
        "total_pages": 1,
        "total_leads": count,
        "leads": leads,
    }


async def read_counting_turns(payload: dict[str, Any]) -> tuple[Page[Lead], int]:
    turns = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    before = turns
    try:
        page = await Resource(Answers(payload))._page("leads", {}, Lead, "leads")
    finally:
        stop.set()
        await task
    return page, turns - before


async def test_a_full_page_gives_the_loop_a_turn_between_slices() -> None:
    page, turns = await read_counting_turns(envelope(2500))
    assert [lead.lead_id for lead in page] == list(range(1, 2501))
    assert turns >= 2500 // PAGE_SLICE - 1


async def test_a_bad_lead_in_a_late_slice_fails_the_page_naming_it() -> None:
    with pytest.raises(MalformedResponseError, match=r"leads\[2300\].*date_created"):
        await read_counting_turns(envelope(2500, bad_at=2300))


@pytest.mark.parametrize("size", [0, 1, 7, 250, 2500])
@pytest.mark.parametrize("consume", [False, True])
def test_slices_give_the_same_page(size: int, consume: bool) -> None:
    whole = structure_page(envelope(600), Lead)
    steps = structure_page_steps(envelope(600), Lead, slice_size=size, consume=consume)
    yields = 0
    while True:
        try:
            next(steps)
            yields += 1
        except StopIteration as done:
            assert done.value == whole
            break
    assert yields == (0 if size in (0, 2500) else -(-600 // size) - 1)
