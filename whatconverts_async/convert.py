"""Wire JSON ⇄ models: one cattrs converter plus fast, lossless hooks for every model.

Each model gets a structure and an unstructure function generated once, at import, from its
attrs fields. They are plain straight-line Python (one ``dict.get`` and one type check per
field on the common path), because the generic cattrs path for a ~90-field record of
``Optional[str]`` is several times slower than decoding the JSON it came from. The
:data:`converter` routes every model through these functions, so ``converter.structure`` and
the helpers below agree.

The round-trip contract (``unstructure(structure(d, cls)) == d`` for any wire object ``d``):

* known keys missing from ``d`` are recorded in ``absent_keys`` and left out again;
* unknown keys go to ``extra`` and come back at the top level;
* a value whose wire form cannot be rebuilt from the typed field (``[]`` read as ``{}``, a
  timestamp with an offset or fraction, a number where text was documented, ``""`` for a
  timestamp) keeps its original in ``wire_originals``; it is written back while the
  typed field still holds the value read from it, so a record changed with ``attrs.evolve``
  writes its new value.

Malformed data raises ``ValueError`` whose message names the record and field
(``malformed Lead.date_created: unparsable timestamp 'soon' ...``). Only required ids,
timestamps and envelope counters are strict; other odd values are kept as described above.

>>> wire = {"lead_id": 1, "lead_type": "Web Form", "quote_value": 251, "additional_fields": [],
...         "last_updated": "2025-06-01 14:06:10", "brand_new_field": True}
>>> lead = structure_lead(wire)
>>> lead.extra["brand_new_field"], lead.additional_fields, lead.last_updated.tzinfo
(True, {}, datetime.timezone.utc)
>>> unstructure_lead(lead) == wire
True
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast, get_args, get_origin

import attrs
import cattrs

from whatconverts_async.models import (
    Account,
    Lead,
    LeadStatus,
    LeadType,
    Page,
    Profile,
    Quotable,
    Role,
    TrackingForm,
    TrackingNumber,
    User,
)
from whatconverts_async.vocab import _ApiEnum

__all__ = [
    "ENVELOPE_KEYS",
    "converter",
    "make_converter",
    "structure",
    "structure_lead",
    "structure_page",
    "unstructure",
    "unstructure_lead",
    "unstructure_page",
]

M = TypeVar("M")

_UTC = timezone.utc
_fromisoformat = datetime.fromisoformat
_MISSING: Any = object()
_BOOKKEEPING = ("extra", "absent_keys", "wire_originals")

ENVELOPE_KEYS: dict[type, tuple[str, str, str]] = {
    Lead: ("leads", "leads_per_page", "total_leads"),
    Account: ("accounts", "accounts_per_page", "total_accounts"),
    Profile: ("profiles", "profiles_per_page", "total_profiles"),
    User: ("users", "users_per_page", "total_users"),
    Role: ("roles", "roles_per_page", "total_roles"),
    TrackingNumber: ("numbers", "numbers_per_page", "total_numbers"),
    TrackingForm: ("forms", "forms_per_page", "total_forms"),
}
"""``(items_key, per_page_key, total_key)`` of each resource's list envelope.

>>> ENVELOPE_KEYS[Lead]
('leads', 'leads_per_page', 'total_leads')
"""

Parser = Callable[[Any, dict[str, Any]], Any]


# --- timestamps -------------------------------------------------------------------------

_TS_RE = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?\s*",
    re.ASCII,
)


def _is_api_form(value: str) -> bool:
    # fromisoformat checks the digits and ranges; the separators pin the exact layout, and
    # hour 24 is refused because newer Pythons read "24:00:00" as the next midnight.
    return (
        len(value) == 20
        and value[19] == "Z"
        and value[10] == "T"
        and value[4] == "-"
        and value[7] == "-"
        and value[13] == ":"
        and value[16] == ":"
        and value[11:13] != "24"
    )


def format_timestamp(value: datetime) -> str:
    """The API's timestamp form, ``YYYY-MM-DDTHH:MM:SSZ`` (naive values are taken as UTC).

    Microseconds, if any, are kept as a fraction rather than dropped.

    >>> format_timestamp(datetime(2025, 6, 1, 14, 0, tzinfo=timezone.utc))
    '2025-06-01T14:00:00Z'
    """
    if value.tzinfo is _UTC:
        return value.isoformat()[:-6] + "Z"
    if value.tzinfo is None:
        return value.isoformat() + "Z"
    return value.astimezone(_UTC).isoformat()[:-6] + "Z"


def parse_timestamp(value: str, name: str = "timestamp") -> datetime:
    """An aware UTC ``datetime`` from the API's form or a close variant.

    Accepted: ``2025-06-01T14:00:00Z``, an offset (``+00:00``, ``-0500``), a fraction
    (``.123``), a space instead of ``T``, no zone (taken as UTC) or a bare date (midnight UTC).
    Anything else raises ``ValueError`` naming ``name``.

    >>> parse_timestamp("2025-06-01 09:00:00-05:00").isoformat()
    '2025-06-01T14:00:00+00:00'
    """
    if _is_api_form(value):
        try:
            return datetime.fromisoformat(value[:19] + "+00:00")
        except ValueError:
            pass
    match = _TS_RE.fullmatch(value)
    if match is not None:
        year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
        try:
            micro = int((fraction or "0")[:6].ljust(6, "0"))
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                micro,
                tzinfo=_UTC,
            )
            if sign is not None:
                offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
                moment = moment - offset if sign == "+" else moment + offset
            return moment
        except (ValueError, OverflowError):
            pass
    raise ValueError(
        f"malformed {name}: unparsable timestamp {value!r} (expected YYYY-MM-DDTHH:MM:SSZ)"
    )


# --- money ------------------------------------------------------------------------------


def _decimal_from_float(value: float) -> Decimal:
    # repr() is the shortest exact spelling; a negative exponent marks "was a float" so that
    # _money_out can give a float back (1e16 would otherwise come back as an int).
    amount = Decimal(repr(value))
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        sign, digits, _ = amount.as_tuple()
        amount = Decimal((sign, (*digits, *(0,) * (exponent + 1)), -1))
    return amount


def _money_out(value: Decimal) -> int | float:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    return float(value)


# --- field kinds ------------------------------------------------------------------------

_TRUE_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_INT_RE = re.compile(r"[+-]?\d+", re.ASCII)


@attrs.frozen
class _Kind:
    """How one family of fields is read and written.

    ``fast`` is a Python expression over ``v`` that is true when ``v`` needs no conversion;
    ``parse(owner, key)`` builds the full reader (also used for the slow path); ``dump`` is the
    writer expression over ``x`` (or ``None`` when the value is written as is; ``{index}``
    stands for the field's position); ``empty`` is the source of the default used when the key
    is absent.
    """

    fast: str
    parse: Callable[[str, str], Parser]
    dump: str | None = None
    empty: str = "None"
    required: bool = False
    int_to_decimal: bool = False


def _p_str(owner: str, key: str) -> Parser:
    def parse(v: Any, originals: dict[str, Any]) -> Any:
        if v is None or type(v) is str:
            return v
        originals[key] = v
        if type(v) is int or type(v) is float:
            return str(v)
        return None

    return parse


def _p_int(owner: str, key: str, *, required: bool = False) -> Parser:
    def parse(v: Any, originals: dict[str, Any]) -> Any:
        if type(v) is int:
            return v
        if v is _MISSING:
            raise ValueError(f"malformed {owner}: {key} missing")
        if v is None and not required:
            return None
        number: int | None = None
        if (type(v) is float and v.is_integer()) or (
            type(v) is str and _INT_RE.fullmatch(v.strip())
        ):
            number = int(v)
        if number is None and required:
            raise ValueError(f"malformed {owner}.{key}: expected an integer, got {v!r}")
        originals[key] = v
        return number

    return parse


def _p_required_int(owner: str, key: str) -> Parser:
    return _p_int(owner, key, required=True)


def _p_bool(owner: str, key: str) -> Parser:
    def parse(v: Any, originals: dict[str, Any]) -> Any:
        if v is None or v is True or v is False:
            return v
        originals[key] = v
        if type(v) is str:
            return _TRUE_WORDS.get(v.strip().lower())
        if type(v) is int and v in (0, 1):
            return bool(v)
        return None

    return parse


def _p_money(owner: str, key: str) -> Parser:
    def parse(v: Any, originals: dict[str, Any]) -> Any:
        if v is None:
            return None
        kind = type(v)
        if kind is int:
            return Decimal(v)
        if kind is float:
            return _decimal_from_float(v)
        originals[key] = v
        if kind is Decimal:
            return v
        if kind is str:
            try:
                amount = Decimal(v.strip())
            except InvalidOperation:
                return None
            return amount if amount.is_finite() else None
        return None

    return parse


def _p_timestamp(owner: str, key: str) -> Parser:
    name = f"{owner}.{key}"

    def parse(v: Any, originals: dict[str, Any]) -> Any:
        if v is None:
            return None
        if type(v) is str:
            if not v:
                originals[key] = v
                return None
            if _is_api_form(v):
                try:
                    return _fromisoformat(v[:19] + "+00:00")
                except ValueError:
                    pass
            moment = parse_timestamp(v, name)
            if format_timestamp(moment) != v:
                originals[key] = v
            return moment
        if isinstance(v, datetime):
            return v.replace(tzinfo=_UTC) if v.tzinfo is None else v.astimezone(_UTC)
        raise ValueError(f"malformed {name}: unparsable timestamp {v!r} (expected a string)")

    return parse


def _p_enum(enum_cls: type[_ApiEnum]) -> Callable[[str, str], Parser]:
    by_display = {member.value: member for member in enum_cls}

    def make(owner: str, key: str) -> Parser:
        def parse(v: Any, originals: dict[str, Any]) -> Any:
            if v is None or isinstance(v, enum_cls):
                return v
            if type(v) is str:
                return by_display.get(v, v)
            originals[key] = v
            return None

        return parse

    return make


def _p_map(owner: str, key: str) -> Parser:
    def parse(v: Any, originals: dict[str, Any]) -> Any:
        if isinstance(v, Mapping):
            return dict(v)
        originals[key] = v
        return {}

    return parse


def _p_any(owner: str, key: str) -> Parser:
    def parse(v: Any, originals: dict[str, Any]) -> Any:
        return v

    return parse


def _p_records(item_type: type) -> Callable[[str, str], Parser]:
    def make(owner: str, key: str) -> Parser:
        def parse(v: Any, originals: dict[str, Any]) -> Any:
            if type(v) is not list:
                originals[key] = v
                return []
            reader = _STRUCTURE[item_type]
            items = []
            for index, item in enumerate(v):
                try:
                    items.append(reader(item))
                except ValueError as exc:
                    raise ValueError(f"malformed {owner}.{key}[{index}]: {exc}") from exc
            return items

        return parse

    return make


_ENUM_DUMP = "x if x is None or x.__class__ is str else x._value_"

_KINDS: dict[Any, _Kind] = {
    str | None: _Kind("v.__class__ is str or v is None", _p_str),
    int: _Kind("v.__class__ is int", _p_required_int, required=True),
    int | None: _Kind("v.__class__ is int or v is None", _p_int),
    bool | None: _Kind("v is None or v is True or v is False", _p_bool),
    Decimal | None: _Kind(
        "v is None", _p_money, dump="None if x is None else money_out(x)", int_to_decimal=True
    ),
    datetime | None: _Kind("v is None", _p_timestamp, dump="None if x is None else ts_out(x)"),
    dict[str, Any]: _Kind("False", _p_map, dump="dict(x)", empty="{}"),
    Any: _Kind("True", _p_any),
}
for _enum in (LeadType, LeadStatus, Quotable):
    _KINDS[_enum | str | None] = _Kind("v is None", _p_enum(_enum), dump=_ENUM_DUMP)


def _kind_of(tp: Any) -> _Kind:
    if tp in _KINDS:
        return _KINDS[tp]
    if get_origin(tp) is list and get_args(tp)[0] in _RECORD_TYPES:
        item = get_args(tp)[0]
        return _Kind("False", _p_records(item), dump="[D{index}(i) for i in x]", empty="[]")
    raise TypeError(f"no wire conversion for field type {tp!r}")  # pragma: no cover


# --- code generation --------------------------------------------------------------------

_RECORD_TYPES: tuple[type, ...] = (Profile, Account, Lead, User, Role, TrackingNumber, TrackingForm)
_STRUCTURE: dict[type, Callable[[Any], Any]] = {}
_UNSTRUCTURE: dict[type, Callable[[Any], dict[str, Any]]] = {}
_ABSENT_CACHE_LIMIT = 4096


def _compile(source: str, namespace: dict[str, Any], name: str, filename: str) -> Any:
    code = compile(source, filename, "exec")
    exec(code, namespace)
    return namespace[name]


def _build(cls: type) -> None:
    """Generate and register the structure/unstructure functions of one record class."""
    owner = cls.__name__
    fields = [f for f in attrs.fields(cls) if f.name not in _BOOKKEEPING]
    kinds = [_kind_of(f.type) for f in fields]
    names = [f.name for f in fields]
    known = frozenset(names)
    parsers = [kind.parse(owner, name) for kind, name in zip(kinds, names, strict=True)]
    absent_cache: dict[int, frozenset[str]] = {0: frozenset()}

    def absent_keys(mask: int) -> frozenset[str]:
        # Most pages share a handful of key sets; one frozenset per pattern keeps leads small.
        keys = frozenset(name for bit, name in enumerate(names) if mask >> bit & 1)
        if len(absent_cache) < _ABSENT_CACHE_LIMIT:
            absent_cache[mask] = keys
        return keys

    namespace: dict[str, Any] = {
        "MISSING": _MISSING,
        "KNOWN": known,
        "N": len(names),
        "ABSENT": absent_cache,
        "absent_keys": absent_keys,
        "Mapping": Mapping,
        "new": object.__new__,
        "CLS": cls,
        "Decimal": Decimal,
        "money_out": _money_out,
        "ts_out": format_timestamp,
        "owner": owner,
    }
    lines = [
        "def structure(d):",
        "    if d.__class__ is not dict and not isinstance(d, Mapping):",
        "        raise ValueError(f'malformed {owner}: expected an object, got {d!r:.80}')",
        "    get = d.get",
        "    extra = {}",
        "    orig = {}",
        "    absent = 0",
    ]
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        namespace[f"P{index}"] = parsers[index]
        namespace[f"S{index}"] = cls.__dict__[name].__set__  # slot descriptor: skips frozen check
        lines.append(f"    v = get({name!r}, MISSING)")
        if kind.required:
            lines += [f"    if not ({kind.fast}):", f"        v = P{index}(v, orig)"]
        elif kind.fast == "True":
            lines += ["    if v is MISSING:", f"        absent |= {1 << index}", "        v = None"]
        else:
            lines += [
                f"    if not ({kind.fast}):",
                "        if v is MISSING:",
                f"            absent |= {1 << index}",
                f"            v = {kind.empty}",
            ]
            if kind.int_to_decimal:
                lines += ["        elif v.__class__ is int:", "            v = Decimal(v)"]
            lines += ["        else:", f"            v = P{index}(v, orig)"]
        lines.append(f"    f{index} = v")
    lines += [
        "    if len(d) != N - absent.bit_count():",
        "        for k in d:",
        "            if k not in KNOWN:",
        "                extra[k] = d[k]",
        "    o = new(CLS)",
    ]
    lines += [f"    S{i}(o, f{i})" for i in range(len(names))]
    lines += [
        "    S_extra(o, extra)",
        "    S_orig(o, orig)",
        "    S_absent(o, ABSENT.get(absent) or absent_keys(absent))",
        "    return o",
    ]
    namespace["S_extra"] = cls.__dict__["extra"].__set__
    namespace["S_absent"] = cls.__dict__["absent_keys"].__set__
    namespace["S_orig"] = cls.__dict__["wire_originals"].__set__
    structure_fn = _compile("\n".join(lines), namespace, "structure", f"<structure {owner}>")

    parser_of = dict(zip(names, parsers, strict=True))

    def override(o: Any, key: str, raw: Any) -> bool:
        """Whether ``raw`` from ``wire_originals`` still describes the typed field ``key``."""
        try:
            return bool(parser_of[key](raw, {}) == getattr(o, key))
        except (ValueError, TypeError):
            return False

    namespace["override"] = override
    out = ["def unstructure(o):"]
    entries = []
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind.dump is None:
            entries.append(f"        {name!r}: o.{name},")
        else:
            out.append(f"    x = o.{name}")
            out.append(f"    u{index} = {kind.dump.replace('{index}', str(index))}")
            entries.append(f"        {name!r}: u{index},")
        if get_origin(fields[index].type) is list:
            namespace[f"D{index}"] = _UNSTRUCTURE[get_args(fields[index].type)[0]]
    out += ["    out = {", *entries, "    }"]
    out += [
        "    gone = o.absent_keys",
        "    if gone:",
        "        for k in gone:",
        "            out.pop(k, None)",
        "    orig = o.wire_originals",
        "    if orig:",
        "        for k, v in orig.items():",
        "            if override(o, k, v):",
        "                out[k] = v",
        "    extra = o.extra",
        "    if extra:",
        "        for k, v in extra.items():",
        "            if k not in KNOWN:",
        "                out[k] = v",
        "    return out",
    ]
    unstructure_fn = _compile("\n".join(out), namespace, "unstructure", f"<unstructure {owner}>")
    _STRUCTURE[cls] = structure_fn
    _UNSTRUCTURE[cls] = unstructure_fn


for _cls in _RECORD_TYPES:
    _build(_cls)

_structure_lead: Callable[[Any], Lead] = _STRUCTURE[Lead]
_unstructure_lead: Callable[[Any], dict[str, Any]] = _UNSTRUCTURE[Lead]


# --- public functions -------------------------------------------------------------------


def structure_lead(d: Mapping[str, Any]) -> Lead:
    """One wire lead (a decoded JSON object) as a :class:`~whatconverts_async.models.Lead`.

    >>> structure_lead({"lead_id": 900001, "lead_type": "Phone Call"}).lead_type
    <LeadType.PHONE_CALL: 'Phone Call'>
    """
    return _structure_lead(d)


def unstructure_lead(lead: Lead) -> dict[str, Any]:
    """The wire object of ``lead``: exactly the dict it was read from, for API data.

    >>> unstructure_lead(Lead(lead_id=1, notes=""))["notes"]
    ''
    """
    return _unstructure_lead(lead)


def _counter(envelope: Mapping[str, Any], key: str, minimum: int) -> int:
    value = envelope.get(key, _MISSING)
    if value is _MISSING:
        raise ValueError(f"malformed response: {key} missing")
    if type(value) is str and _INT_RE.fullmatch(value.strip()):
        value = int(value)
    if type(value) is not int:
        raise ValueError(f"malformed response: {key} must be an integer, got {value!r:.80}")
    if value < minimum:
        raise ValueError(f"malformed response: {key} must be >= {minimum}, got {value}")
    return value


def _keys_for(
    item_type: type,
    items_key: str | None,
    per_page_key: str | None,
    total_key: str | None,
) -> tuple[str, str, str]:
    if items_key is None or per_page_key is None or total_key is None:
        if item_type not in ENVELOPE_KEYS:
            raise TypeError(f"envelope keys unknown for {item_type!r}; pass them explicitly")
        default_items, default_per_page, default_total = ENVELOPE_KEYS[item_type]
        items_key = items_key or default_items
        per_page_key = per_page_key or default_per_page
        total_key = total_key or default_total
    return items_key, per_page_key, total_key


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building objects that form no cycles.

    Decoding and structuring a 2,500-lead page allocate about 25,000 containers; without
    the pause the collector runs dozens of times per page, each time walking every object
    still alive (the pages in flight included). Reference counting still frees everything,
    and the pause lasts one page at most.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def structure_page(
    envelope: Mapping[str, Any],
    item_type: type[M],
    items_key: str | None = None,
    per_page_key: str | None = None,
    total_key: str | None = None,
    *,
    consume: bool = False,
) -> Page[M]:
    """A list response envelope as a :class:`~whatconverts_async.models.Page`.

    The keys default to the resource's own (:data:`ENVELOPE_KEYS`). A missing, negative or
    non-integer counter, or a missing items array, raises ``ValueError("malformed response:
    ...")``. With ``consume=True`` the envelope's items list is emptied while it is read,
    which lowers peak memory when the envelope is not needed afterwards.

    >>> env = {"page_number": 1, "leads_per_page": 25, "total_pages": 1, "total_leads": 1,
    ...        "leads": [{"lead_id": 900001}]}
    >>> page = structure_page(env, Lead, "leads", "leads_per_page", "total_leads")
    >>> page.total_items, page.items[0].lead_id, page.has_next
    (1, 900001, False)
    """
    if not isinstance(envelope, Mapping):
        raise ValueError(f"malformed response: expected an object, got {envelope!r:.80}")
    items_key, per_page_key, total_key = _keys_for(item_type, items_key, per_page_key, total_key)
    page_number = _counter(envelope, "page_number", 0)
    per_page = _counter(envelope, per_page_key, 0)
    total_pages = _counter(envelope, "total_pages", 0)
    total_items = _counter(envelope, total_key, 0)
    raw_items = envelope.get(items_key, _MISSING)
    if raw_items is _MISSING:
        raise ValueError(f"malformed response: {items_key} missing")
    if not isinstance(raw_items, list):
        raise ValueError(f"malformed response: {items_key} must be an array")
    reader = _STRUCTURE.get(item_type)
    if reader is None:
        items: list[Any] = [converter.structure(item, item_type) for item in raw_items]
    elif consume:
        # Each raw dict is dropped as soon as its record exists, so a page never holds
        # both forms of all its items at once (about a third less memory at the peak).
        items = []
        raw_items.reverse()
        try:
            with no_cyclic_gc():
                while raw_items:
                    items.append(reader(raw_items.pop()))
        except ValueError as exc:
            raise ValueError(f"malformed response: {items_key}[{len(items)}]: {exc}") from exc
    else:
        try:
            with no_cyclic_gc():
                items = [reader(item) for item in raw_items]
        except ValueError:
            for index, item in enumerate(raw_items):
                try:
                    reader(item)
                except ValueError as exc:
                    raise ValueError(f"malformed response: {items_key}[{index}]: {exc}") from exc
            raise  # pragma: no cover - the loop above re-raises with the index
    known = ("page_number", per_page_key, "total_pages", total_key, items_key)
    extra = {k: v for k, v in envelope.items() if k not in known}
    return Page(
        items=items,
        page_number=page_number,
        per_page=per_page,
        total_pages=total_pages,
        total_items=total_items,
        extra=extra,
    )


def unstructure_page(
    page: Page[Any],
    item_type: type,
    items_key: str | None = None,
    per_page_key: str | None = None,
    total_key: str | None = None,
) -> dict[str, Any]:
    """The list envelope of ``page`` (the inverse of :func:`structure_page`).

    >>> unstructure_page(Page(items=[], page_number=1, per_page=25, total_pages=0,
    ...                       total_items=0), Role)
    {'page_number': 1, 'roles_per_page': 25, 'total_pages': 0, 'total_roles': 0, 'roles': []}
    """
    items_key, per_page_key, total_key = _keys_for(item_type, items_key, per_page_key, total_key)
    writer = _UNSTRUCTURE.get(item_type)
    items = [
        writer(item) if writer is not None else converter.unstructure(item) for item in page.items
    ]
    return {
        "page_number": page.page_number,
        per_page_key: page.per_page,
        "total_pages": page.total_pages,
        total_key: page.total_items,
        items_key: items,
        **page.extra,
    }


def _as_hook(reader: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _type: Any) -> Any:
        return reader(value)

    return hook


def _enum_out(member: _ApiEnum) -> str:
    return str(member.value)


def _is_page_type(tp: Any) -> bool:
    origin: Any = get_origin(tp)
    return origin is Page


def make_converter() -> cattrs.Converter:
    """A cattrs converter that reads and writes every model through the lossless hooks.

    It also knows the field types on their own: ``Decimal``, UTC ``datetime`` (API form) and
    the enums (snake or display form in, display form out), and ``Page[Model]`` envelopes.

    >>> conv = make_converter()
    >>> conv.structure([{"role_id": 1}], list[Role])[0].role_id
    1
    >>> conv.structure("not_set", Quotable)
    <Quotable.NOT_SET: 'Not Set'>
    """
    conv = cattrs.Converter(detailed_validation=False)
    for cls in _RECORD_TYPES:
        conv.register_structure_hook(cls, _as_hook(_STRUCTURE[cls]))
        conv.register_unstructure_hook(cls, _UNSTRUCTURE[cls])
    conv.register_structure_hook(Decimal, lambda v, _t: _p_money("Decimal", "value")(v, {}))
    conv.register_unstructure_hook(Decimal, _money_out)
    conv.register_structure_hook(
        datetime,
        lambda v, _t: v if isinstance(v, datetime) else parse_timestamp(v, "datetime"),
    )
    conv.register_unstructure_hook(datetime, format_timestamp)
    for enum_cls in (LeadType, LeadStatus, Quotable):
        conv.register_structure_hook(enum_cls, _as_hook(enum_cls.from_filter))
        conv.register_unstructure_hook(enum_cls, _enum_out)
    conv.register_structure_hook_func(
        _is_page_type,
        lambda v, t: structure_page(v, get_args(t)[0] if get_args(t) else Lead),
    )
    return conv


converter = make_converter()
"""The shared converter; prefer the functions below, which are faster for records."""


def structure(d: Any, cls: type[M]) -> M:
    """Any wire value as ``cls`` (a model, ``list[Model]``, ``Page[Model]``, an enum, ...).

    >>> structure({"account_id": 70011, "account_name": "Acme"}, Account).account_name
    'Acme'
    """
    reader = _STRUCTURE.get(cls)
    if reader is not None:
        return cast(M, reader(d))
    return converter.structure(d, cls)


def unstructure(obj: Any) -> Any:
    """The wire form of a model (or anything the converter knows).

    >>> role = Role(role_id=501, role_name="Admin", absent_keys=frozenset({"role_type"}))
    >>> unstructure(role)
    {'role_id': 501, 'role_name': 'Admin'}
    """
    writer = _UNSTRUCTURE.get(type(obj))
    if writer is not None:
        return writer(obj)
    return converter.unstructure(obj)
