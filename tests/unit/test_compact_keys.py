"""``CompactKeys``: behaves as a ``set`` of keys for everything the window reader does."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatconverts_async.pagination import CompactKeys

keys = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 300),
    st.integers(2**63 - 3, 2**70),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=3),
)


@pytest.fixture(params=[2, 8, 4096])
def buffer(request: pytest.FixtureRequest) -> Iterator[int]:
    before = CompactKeys.BUFFER
    CompactKeys.BUFFER = request.param
    yield request.param
    CompactKeys.BUFFER = before


@settings(max_examples=150, deadline=None)
@given(pages=st.lists(st.lists(keys, max_size=12), max_size=25), probes=st.lists(keys))
def test_same_answers_as_a_set(pages: list[list[Any]], probes: list[Any]) -> None:
    for size in (2, 8, 4096):
        CompactKeys.BUFFER = size
        try:
            compact, model = CompactKeys(), set()
            for page in pages:
                expected = []
                for k in page:
                    if k not in model:
                        model.add(k)
                        expected.append(k)
                assert compact.isdisjoint(page) == model.isdisjoint(page) or bool(expected)
                assert compact.take_new(page, lambda k: k) == expected
                assert len(compact) == len(model)
            for k in [*probes, *model]:
                assert (k in compact) == (k in model)
            assert compact == model and set(compact) == model
            assert compact.isdisjoint(probes) == model.isdisjoint(probes)
        finally:
            CompactKeys.BUFFER = 4096


@pytest.mark.parametrize("order", ["ascending", "descending", "interleaved"])
def test_runs_stay_sorted_and_few(buffer: int, order: str) -> None:
    ids = list(range(1_000, 1_000 + 3 * 5_000, 3))
    if order == "descending":
        ids.reverse()
    elif order == "interleaved":
        ids = ids[::2] + ids[1::2]
    compact = CompactKeys()
    for i in range(0, len(ids), 250):
        assert compact.take_new(ids[i : i + 250], lambda k: k) == ids[i : i + 250]
    assert compact == set(ids)
    assert compact.take_new(ids, lambda k: k) == []
    runs = compact._runs
    assert all(list(run) == sorted(run) for run in runs)
    assert len(runs) <= (1 if order != "interleaved" else 2 + (len(ids) // buffer).bit_length())


def test_about_ten_bytes_an_id_against_seventy_for_a_set() -> None:
    ids = range(10**9, 10**9 + 3 * 200_000, 3)
    tracemalloc.start()
    try:
        compact = CompactKeys(ids)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(compact) == 200_000
    assert held / len(compact) < 16
    assert peak / len(compact) < 32
    tracemalloc.start()
    try:
        plain = set(ids)
        as_set, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert as_set / len(plain) > 4 * held / len(compact)
