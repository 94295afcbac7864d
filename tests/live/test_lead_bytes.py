"""Lead pages over HTTP: read from their bytes or the normal way, the same leads or errors.

With msgspec installed, ``wc.leads.list``/``iterate`` read each lead page from the
answer's bytes (one ``bytes`` per lead) unless the page is one that path cannot vouch for;
a loopback server sends the same scripted answers to a client with that path and to one
without (as without msgspec), and both must give equal pages or the same error.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.live.test_hostile import LEADS, RawServer, client, envelope, http, within
from whatconverts_async import MalformedResponseError, Page, WhatConvertsError, _json
from whatconverts_async.models import Lead

pytestmark = pytest.mark.skipif(_json.msgspec is None, reason="needs msgspec ([fast])")


def body(items: list[dict[str, Any]], **override: Any) -> bytes:
    return json.dumps(envelope(items, per_page=2500, total=len(items), **override)).encode()


def with_field(raw: bytes, text: bytes) -> bytes:
    """``raw`` with ``text`` (``"key": value``) added to its first lead."""
    return raw.replace(b'"leads": [{', b'"leads": [{' + text + b", ", 1)


CASES = {
    "plain page": body(LEADS),
    "id as text": body([{**LEADS[0], "lead_id": str(LEADS[0]["lead_id"])}, *LEADS[1:]]),
    "timestamp with an offset": body([{**LEADS[0], "date_created": "2024-02-01 09:00:00-05:00"}]),
    "unreadable last_updated": body([{**LEADS[0], "last_updated": "0000-00-00 00:00:00"}]),
    "unknown envelope key": body(LEADS, notice="maintenance"),
    "error body": b'{"error_message": "Invalid API credentials."}',
    "float too large": with_field(body(LEADS), b'"x": 1e400'),
    "integer beyond 64 bits": with_field(body(LEADS), b'"x": 184467440737095516160'),
    "lone surrogate": with_field(body(LEADS), b'"x": "\\udc00"'),
    "surrogate pair": with_field(body(LEADS), b'"x": "\\ud83d\\ude00"'),
    "id missing": body([{k: v for k, v in LEADS[0].items() if k != "lead_id"}]),
}
FROM_BYTES = {"plain page", "surrogate pair", "integer beyond 64 bits"}


async def read_page(server: RawServer, monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> Any:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(_json, "msgspec", None)
        wc = client(server, max_retries=0)
        async with wc:
            try:
                return await within(
                    wc.leads.list(start_date=date(2024, 1, 1), end_date=date(2024, 6, 1))
                )
            except WhatConvertsError as exc:
                return exc


async def both_ways(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    async with RawServer(lambda n, q: http(200, raw)) as server:
        fast = await read_page(server, monkeypatch, fast=True)
        slow = await read_page(server, monkeypatch, fast=False)
    return fast, slow


@pytest.mark.parametrize("case", sorted(CASES))
async def test_both_paths_give_the_same_page_or_error(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = CASES[case]
    fast, slow = await both_ways(raw, monkeypatch)
    if isinstance(slow, WhatConvertsError):
        assert type(fast) is type(slow) and str(fast) == str(slow)
        assert case not in FROM_BYTES
        return
    assert isinstance(fast, Page) and isinstance(slow, Page)
    held = [type(object.__getattribute__(lead, "_wire")) for lead in fast.items]
    assert held == [bytes if case in FROM_BYTES else dict] * len(fast.items)
    assert (fast.page_number, fast.per_page, fast.total_pages, fast.total_items) == (
        slow.page_number,
        slow.per_page,
        slow.total_pages,
        slow.total_items,
    )
    assert fast.extra == slow.extra
    assert fast.items == slow.items
    wires = json.loads(raw)["leads"]
    assert [lead.to_dict() for lead in fast.items] == wires
    assert [list(lead.to_dict()) for lead in fast.items] == [list(w) for w in wires]
    assert all(isinstance(lead, Lead) for lead in fast.items)


async def test_a_page_too_large_for_a_float_fails_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast, slow = await both_ways(CASES["float too large"], monkeypatch)
    assert type(slow) is type(fast)
    assert isinstance(fast, MalformedResponseError)
    assert "number too large" in str(fast)
