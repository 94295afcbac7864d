"""Response headers as the library hands them out: read-only and case-insensitive."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from multidict import CIMultiDict

__all__ = ["NO_HEADERS", "Headers"]


class Headers(Mapping[str, str]):
    """The headers of one HTTP answer: a read-only mapping whose keys are
    case-insensitive (``h["x-request-id"] == h["X-Request-Id"]``). A header sent more
    than once (``Set-Cookie``) reads as its first value; :meth:`getall` gives every one.

    Unlike ``multidict.CIMultiDictProxy`` it can be pickled and deep-copied, so the
    errors and pages that carry it can too.

    >>> h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-Id", "7")])
    >>> h["x-id"], h.getall("SET-COOKIE"), len(h), "x-ID" in h
    ('7', ['a=1', 'b=2'], 3, True)
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: CIMultiDict[str] = CIMultiDict(pairs)

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def getall(self, key: str) -> list[str]:
        """Every value of ``key`` in the order received (``[]`` when absent)."""
        return list(self._items.getall(key, []))

    def __repr__(self) -> str:
        return f"Headers({list(self._items.items())!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (list(self._items.items()),))


NO_HEADERS = Headers()
"""The headers of no answer (an error raised before, or without, an HTTP answer)."""
