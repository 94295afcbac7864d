"""The lead store: every lead of the simulator, filtered and paged like the API.

Generated leads live in compact columns (:class:`~.generator.LeadColumns`) and are
rendered on demand through a bounded LRU; leads created through the API or
:meth:`LeadStore.insert_lead` are stored as full dicts, and edits of generated leads
in an overlay, so everything a test changes shows in later answers.
:meth:`LeadStore.select` answers a :class:`LeadFilter` with the matching ids in
(date_created, lead_id) order, cached until the next change.
"""

from __future__ import annotations

import copy
import heapq
import math
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .directory import Directory
from .generator import LeadColumns, LeadRenderer
from .vocabulary import (
    DISPLAY_TO_CODE,
    DUPLICATE,
    HAS_QUOTE,
    HAS_SALES,
    LEAD_TYPES,
    QUOTABLE_DISPLAY,
    QUOTABLE_SHIFT,
    REPEAT,
    SPAM,
    TYPE_CODES,
    TYPE_DISPLAY,
    UTC,
    epoch,
    mix,
)

__all__ = ["LeadFilter", "LeadStore"]


@dataclass(frozen=True)
class LeadFilter:
    """Lead-list filters, already validated and in internal form.

    Dates are epoch seconds and inclusive on both ends; ``None`` means "no filter".
    ``profile_ids`` restricts to a set of profiles (a profile key sees one).
    """

    start_ts: int | None = None
    end_ts: int | None = None
    profile_ids: frozenset[int] | None = None
    lead_type: int | None = None
    repeat: bool | None = None
    quotable: int | None = None
    has_quote: bool | None = None
    has_sales: bool | None = None
    spam_only: bool = False
    spam_hidden: bool = False
    duplicate_only: bool = False
    text: tuple[tuple[str, str], ...] = ()

    def needs_columns(self) -> bool:
        """Whether any filter beyond the date range needs a per-lead check."""
        return (
            self.lead_type is not None
            or self.repeat is not None
            or self.quotable is not None
            or self.has_quote is not None
            or self.has_sales is not None
            or self.spam_only
            or self.spam_hidden
            or self.duplicate_only
        )


class _Selection:
    """Lead ids matching a query, ascending by (date_created, lead_id)."""

    __slots__ = ("_ids", "_lo", "_n")

    def __init__(self, ids: Sequence[int], lo: int = 0, n: int | None = None) -> None:
        self._ids = ids
        self._lo = lo
        self._n = len(ids) - lo if n is None else n

    def __len__(self) -> int:
        return self._n

    def page(self, offset: int, count: int, descending: bool) -> list[int]:
        if offset >= self._n or count <= 0:
            return []
        count = min(count, self._n - offset)
        if descending:
            top = self._lo + self._n - offset
            out = list(self._ids[top - count : top])
            out.reverse()
            return out
        first = self._lo + offset
        return list(self._ids[first : first + count])

    def all(self) -> list[int]:
        return list(self._ids[self._lo : self._lo + self._n])


class LeadStore:
    """Every lead: generated columns, created dicts and edits; see the module docstring.

    ``directory`` supplies profile order and names; ``renderer`` renders generated
    leads; ``salt`` (from the seed) spaces new lead ids.
    """

    def __init__(
        self,
        columns: LeadColumns,
        renderer: LeadRenderer,
        directory: Directory,
        *,
        salt: int,
        cache_size: int = 10_000,
    ) -> None:
        self._salt = salt
        self._dir = directory
        self._renderer = renderer
        self._gen_ids = columns.ids
        self._gen_ts = columns.ts
        self._gen_type = columns.types
        self._gen_prof = columns.profs
        self._gen_flags = columns.flags
        self._max_id = columns.max_id
        self._custom: dict[int, dict[str, Any]] = {}
        self._custom_keys: list[tuple[int, int]] = []  # sorted (ts, lead_id)
        self._overlay: dict[int, dict[str, Any]] = {}
        self._version = 0
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        # About 3 KB per rendered lead: the default keeps four full pages.
        self.cache_size = cache_size
        self._select_cache: OrderedDict[LeadFilter, _Selection] = OrderedDict()
        self._select_version = 0

    def changed(self, *, rendered: bool = False) -> None:
        """Invalidate cached selections (and rendered leads, e.g. after a rename)."""
        if rendered:
            self._cache.clear()
        self._version += 1

    # --- leads: reading ----------------------------------------------------------------

    @property
    def version(self) -> int:
        """Bumped on every change to leads; selections are cached per version."""
        return self._version

    @property
    def max_lead_id(self) -> int:
        """The highest lead id in the dataset."""
        return self._max_id

    def __len__(self) -> int:
        return len(self._gen_ids) + len(self._custom)

    def _row(self, lead_id: int) -> int:
        ids = self._gen_ids
        i = bisect_left(ids, lead_id)
        if i < len(ids) and ids[i] == lead_id:
            return i
        return -1

    def has_lead(self, lead_id: int) -> bool:
        """Whether a lead with this id exists."""
        return lead_id in self._custom or self._row(lead_id) >= 0

    def lead_profile_id(self, lead_id: int) -> int:
        """The profile of a lead; ``KeyError`` if unknown."""
        if lead_id in self._custom:
            return int(self._custom[lead_id]["profile_id"])
        row = self._row(lead_id)
        if row < 0:
            raise KeyError(lead_id)
        return self._dir.profile_order[self._gen_prof[row]]

    def lead_type_code(self, lead_id: int) -> str:
        """Snake-case type of a lead (``"phone_call"``...); ``KeyError`` if unknown."""
        return TYPE_CODES[DISPLAY_TO_CODE.get(self.wire_lead(lead_id)["lead_type"], 8)]

    def wire_lead(self, lead_id: int) -> dict[str, Any]:
        """The lead's wire dict, shared with the cache: callers must not mutate it."""
        cached = self._cache.get(lead_id)
        if cached is not None:
            self._cache.move_to_end(lead_id)
            return cached
        custom = self._custom.get(lead_id)
        if custom is not None:
            return custom
        row = self._row(lead_id)
        if row < 0:
            raise KeyError(lead_id)
        lead = self._render(row)
        over = self._overlay.get(lead_id)
        if over is not None:
            lead.update(over)
        self._cache[lead_id] = lead
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return lead

    def lead(self, lead_id: int) -> dict[str, Any]:
        """A copy of the wire dict of one lead; ``KeyError`` if unknown."""
        return copy.deepcopy(self.wire_lead(lead_id))

    def select(self, flt: LeadFilter) -> _Selection:
        """Lead ids matching ``flt``, ascending by (date_created, lead_id); cached."""
        if self._select_version != self._version:
            self._select_cache.clear()
            self._select_version = self._version
        hit = self._select_cache.get(flt)
        if hit is not None:
            self._select_cache.move_to_end(flt)
            return hit
        sel = self._select(flt)
        self._select_cache[flt] = sel
        while len(self._select_cache) > 16:
            self._select_cache.popitem(last=False)
        return sel

    def _select(self, flt: LeadFilter) -> _Selection:
        ts = self._gen_ts
        lo = 0 if flt.start_ts is None else bisect_left(ts, flt.start_ts)
        hi = len(ts) if flt.end_ts is None else bisect_right(ts, flt.end_ts)
        lo = min(lo, hi)
        ck = self._custom_keys
        clo = 0 if flt.start_ts is None else bisect_left(ck, (flt.start_ts, -1))
        chi = len(ck) if flt.end_ts is None else bisect_right(ck, (flt.end_ts, 1 << 62))
        every_profile = flt.profile_ids is None or flt.profile_ids.issuperset(
            self._dir.profile_order
        )
        simple = every_profile and not flt.needs_columns() and not flt.text
        if simple and clo >= chi:
            return _Selection(self._gen_ids, lo, hi - lo)
        gen = self._gen_ids
        if simple:
            rows: Iterable[int] = range(lo, hi)
        else:
            rows = self._filter_rows(lo, hi, flt)
        if clo >= chi:
            return _Selection(array("q", [gen[r] for r in rows]))
        extra = [(t, lid) for t, lid in ck[clo:chi] if _dict_matches(self.wire_lead(lid), flt)]
        merged = _merge_sorted(((ts[r], gen[r]) for r in rows), extra)
        out = array("q", (lid for _, lid in merged))
        return _Selection(out)

    def _filter_rows(self, lo: int, hi: int, flt: LeadFilter) -> list[int]:
        rows: Iterable[int] = range(lo, hi)
        if flt.profile_ids is not None:
            allowed = {i for i, p in enumerate(self._dir.profile_order) if p in flt.profile_ids}
            prof = self._gen_prof
            rows = [r for r in rows if prof[r] in allowed]
        if flt.lead_type is not None:
            types, want = self._gen_type, flt.lead_type
            rows = [r for r in rows if types[r] == want]
        mask, value = _flag_mask(flt)
        fl = self._gen_flags
        if mask:
            rows = [r for r in rows if fl[r] & mask == value]
        if flt.quotable is not None:
            q = flt.quotable
            rows = [r for r in rows if (fl[r] >> QUOTABLE_SHIFT) & 3 == q]
        rows = list(rows)
        if flt.text:
            rows = [r for r in rows if self._text_matches(r, flt.text)]
        if self._overlay:
            # Edited leads may no longer match their columns, so judge them by their dicts.
            gen, overlay = self._gen_ids, self._overlay
            kept = [r for r in rows if gen[r] not in overlay]
            recheck = [
                r for r in self._overlay_rows(lo, hi) if _dict_matches(self.wire_lead(gen[r]), flt)
            ]
            rows = sorted({*kept, *recheck}) if recheck else kept
        return rows

    def _overlay_rows(self, lo: int, hi: int) -> list[int]:
        out = []
        for lid in self._overlay:
            r = self._row(lid)
            if lo <= r < hi:
                out.append(r)
        return out

    def _text_matches(self, row: int, text: tuple[tuple[str, str], ...]) -> bool:
        lid = self._gen_ids[row]
        if lid in self._cache:
            lead = self._cache[lid]
            return all(lead.get(k) == v for k, v in text)
        light = self._light(row)
        return all(light.get(k) == v for k, v in text)

    def iter_leads(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        order: str = "asc",
        profile_id: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield lead dicts (copies) with ``start <= date_created <= end``."""
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        flt = self._date_filter(start, end, profile_id)
        sel = self.select(flt)
        for lid in sel.page(0, len(sel), order == "desc"):
            yield self.lead(lid)

    def count_leads(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        profile_id: int | None = None,
    ) -> int:
        """Number of leads with ``start <= date_created <= end`` (inclusive)."""
        return len(self.select(self._date_filter(start, end, profile_id)))

    def lead_ids(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        profile_id: int | None = None,
    ) -> list[int]:
        """Ids of leads with ``start <= date_created <= end``, ascending by date."""
        return self.select(self._date_filter(start, end, profile_id)).all()

    def _date_filter(
        self, start: datetime | None, end: datetime | None, profile_id: int | None
    ) -> LeadFilter:
        return LeadFilter(
            start_ts=None if start is None else epoch(start),
            end_ts=None if end is None else epoch(end),
            profile_ids=None if profile_id is None else frozenset({profile_id}),
        )

    # --- leads: writing ----------------------------------------------------------------

    def insert_lead(self, date_created: datetime, **fields: Any) -> dict[str, Any]:
        """Insert a lead dated ``date_created`` with a new, highest lead id.

        ``fields`` override the generated values (``lead_type`` may be a display
        string or a snake value; ``profile_id`` defaults to the first profile).
        Returns a copy of the new lead's wire dict.
        """
        ts = epoch(date_created)
        lead_type = str(fields.pop("lead_type", "web_form"))
        profile_id = int(fields.pop("profile_id", self._dir.profile_order[0]))
        lead = self.add_lead(
            ts=ts, lead_type=lead_type, profile_id=profile_id, fields=fields, generated=True
        )
        return copy.deepcopy(lead)

    def add_lead(
        self,
        *,
        ts: int,
        lead_type: str,
        profile_id: int,
        fields: Mapping[str, Any],
        generated: bool,
    ) -> dict[str, Any]:
        """Store a new lead and return its (shared) wire dict.

        With ``generated`` the lead starts from realistic generated values; without,
        from a blank lead of that type, as a lead created through the API would be.
        """
        code = LEAD_TYPES.get(lead_type)
        type_idx = TYPE_CODES.index(lead_type) if code else DISPLAY_TO_CODE.get(lead_type)
        if type_idx is None:
            raise ValueError(f"unknown lead_type {lead_type!r}")
        if not self._dir.has_profile(profile_id):
            raise KeyError(profile_id)
        self._max_id += 1 + (mix(self._salt ^ self._max_id) % 3)
        lead_id = self._max_id
        if generated:
            flags = self._renderer.inserted_flags(lead_id)
            lead = self._renderer.render(lead_id, ts, type_idx, profile_id, flags)
        else:
            lead = self._renderer.blank(lead_id, ts, type_idx, profile_id)
        lead.update(fields)
        self._custom[lead_id] = lead
        i = bisect_right(self._custom_keys, (ts, lead_id))
        self._custom_keys.insert(i, (ts, lead_id))
        self._version += 1
        return lead

    def patch_lead(self, lead_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Add or override wire fields of a lead (even unknown ones); return a copy.

        Changing ``date_created`` or ``lead_id`` this way changes only what is
        served, not where the lead sorts.
        """
        if lead_id in self._custom:
            self._custom[lead_id].update(copy.deepcopy(dict(fields)))
        else:
            if self._row(lead_id) < 0:
                raise KeyError(lead_id)
            self._overlay.setdefault(lead_id, {}).update(copy.deepcopy(dict(fields)))
            self._cache.pop(lead_id, None)
        self._version += 1
        return self.lead(lead_id)

    # --- rendering ---------------------------------------------------------------------

    def _render(self, row: int) -> dict[str, Any]:
        return self._renderer.render(
            self._gen_ids[row],
            self._gen_ts[row],
            self._gen_type[row],
            self._dir.profile_order[self._gen_prof[row]],
            self._gen_flags[row],
        )

    def _light(self, row: int) -> dict[str, Any]:
        """The text fields the list filters compare, without rendering the whole lead."""
        pid = self._dir.profile_order[self._gen_prof[row]]
        return self._renderer.light(self._gen_ids[row], self._gen_type[row], pid)


def _flag_mask(flt: LeadFilter) -> tuple[int, int]:
    mask = value = 0
    if flt.spam_only:
        mask |= SPAM
        value |= SPAM
    elif flt.spam_hidden:
        mask |= SPAM
    if flt.duplicate_only:
        mask |= DUPLICATE
        value |= DUPLICATE
    if flt.repeat is not None:
        mask |= REPEAT
        value |= REPEAT if flt.repeat else 0
    if flt.has_quote is not None:
        mask |= HAS_QUOTE
        value |= HAS_QUOTE if flt.has_quote else 0
    if flt.has_sales is not None:
        mask |= HAS_SALES
        value |= HAS_SALES if flt.has_sales else 0
    return mask, value


def _dict_matches(lead: Mapping[str, Any], flt: LeadFilter) -> bool:
    """The reference semantics of every lead filter, applied to a wire dict."""
    ts = _parse_wire_ts(lead.get("date_created"))
    if flt.start_ts is not None and (ts is None or ts < flt.start_ts):
        return False
    if flt.end_ts is not None and (ts is None or ts > flt.end_ts):
        return False
    if flt.profile_ids is not None and lead.get("profile_id") not in flt.profile_ids:
        return False
    if flt.lead_type is not None and lead.get("lead_type") != TYPE_DISPLAY[flt.lead_type]:
        return False
    if flt.repeat is not None and (lead.get("lead_status") == "Repeat") != flt.repeat:
        return False
    if flt.quotable is not None and lead.get("quotable") != QUOTABLE_DISPLAY[flt.quotable]:
        return False
    if flt.has_quote is not None and (lead.get("quote_value") is not None) != flt.has_quote:
        return False
    if flt.has_sales is not None and (lead.get("sales_value") is not None) != flt.has_sales:
        return False
    if flt.spam_only and lead.get("spam") is not True:
        return False
    if flt.spam_hidden and not flt.spam_only and lead.get("spam") is True:
        return False
    if flt.duplicate_only and lead.get("duplicate") is not True:
        return False
    return all(lead.get(k) == v for k, v in flt.text)


def _parse_wire_ts(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return math.floor(dt.timestamp())


def _merge_sorted(
    a: Iterable[tuple[int, int]], b: Iterable[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    return heapq.merge(a, b)
