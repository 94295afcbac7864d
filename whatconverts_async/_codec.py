"""The wire codec of the models: how each field kind is read from and written to JSON.

:mod:`whatconverts_async.models` declares the records and registers each one here with
:func:`wire_record`; :mod:`whatconverts_async.convert` adds envelopes and the cattrs converter
on top. This module knows field *types* (``int``, ``Decimal``, ``datetime``, enums, maps,
lists of records), never a particular model, so the models can use it without an import
circle (``models -> _codec``, ``convert -> models, _codec``).

For each record class one structure and one unstructure function are generated, once, from
its attrs fields: plain straight-line Python (one ``dict.get`` and one type check per field
on the common path), because the generic cattrs path for a ~90-field record of
``Optional[str]`` is several times slower than decoding the JSON it came from.

Reading rules (the round-trip contract ``unstructure(structure(d)) == d`` holds for each):

* known keys missing from ``d`` are recorded in ``absent_keys`` and left out again;
* unknown keys go to ``extra`` and come back at the top level;
* a value whose wire form cannot be rebuilt from the typed field (``[]`` read as ``{}``, a
  timestamp with an offset, a number where text was documented, ``""`` for a timestamp) keeps
  its original in ``wire_originals``; it is written back while the typed field still holds
  the value read from it, so a record changed with ``attrs.evolve`` writes its new value;
* a value that cannot be read at all in an optional field (``"0000-00-00 00:00:00"`` for a
  timestamp, ``"n/a"`` for money, ``"fifty"`` for an integer, ``5`` for an enum, ``"x"`` for
  a map) becomes ``None`` (``{}``/``[]`` for maps and lists), its original likewise kept;
* **essential** fields fail loudly instead, with ``ValueError`` naming record and field: the
  required id (a field without a default) and every field declared with
  ``metadata={ESSENTIAL: True}``. ``None`` and ``""`` still read as "no value" there.
"""

from __future__ import annotations

import contextlib
import enum
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast, get_args, get_origin

import attrs

from . import _json
from ._redact import quoted

__all__ = [
    "ESSENTIAL",
    "LAZY_READS_BEFORE_FILL",
    "MISSING",
    "api_timestamp",
    "api_timestamps",
    "field_values",
    "format_timestamp",
    "lazy_bytes_builder",
    "lazy_bytes_reader",
    "lazy_reader",
    "lazy_record",
    "money_out",
    "parse_money",
    "parse_timestamp",
    "reader",
    "wire_bytes",
    "wire_object",
    "wire_record",
    "writer",
]

C = TypeVar("C", bound=type)

ESSENTIAL = "whatconverts_async.essential"
"""Field metadata key: ``metadata={ESSENTIAL: True}`` makes an unreadable value an error."""

_UTC = timezone.utc
_fromisoformat = datetime.fromisoformat
MISSING: Any = object()
"""Stands for a key absent from the wire object."""
_BOOKKEEPING = ("extra", "absent_keys", "wire_originals")

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


def api_timestamp(value: Any, otherwise: Any) -> Any:
    """What a lazy record's timestamp field reads from ``value`` when that is ``None``,
    absent (``msgspec.UNSET`` or :data:`MISSING`), ``""`` (all three ``None``) or text in
    the API's form (an aware UTC ``datetime``); ``otherwise`` for anything else.

    >>> api_timestamp("2025-06-01T14:00:00Z", None).isoformat(), api_timestamp(5, "odd")
    ('2025-06-01T14:00:00+00:00', 'odd')
    """
    if value.__class__ is str:
        if not value:
            return None
        if _is_api_form(value):
            try:
                return _fromisoformat(value[:19] + "+00:00")
            except ValueError:
                return otherwise
        return otherwise
    if value is None or value is MISSING or type(value).__name__ == "UnsetType":
        return None
    return otherwise


_NOT_READ: Any = object()
# Strings of exactly the API's form, one after another (the hours "24" excluded, as in
# _is_api_form); fromisoformat checks the ranges of the rest.
_API_FORMS = re.compile(r"(?:\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):\d\d:\d\dZ)*", re.ASCII)
# Python 3.11 reads the trailing "Z" itself, as timezone.utc, the same as "+00:00".
_READS_Z = sys.version_info >= (3, 11)


def api_timestamps(values: list[Any]) -> list[Any] | None:
    """:func:`api_timestamp` of every value in ``values``, or ``None`` if any of them is
    not one a lazy record reads (``otherwise``).

    A page's column of timestamps is checked with one regular expression over the joined
    strings and converted by ``datetime.fromisoformat`` mapped in C; a column with
    ``None``, ``""``, absent values or anything odd takes the per-value path.

    >>> [t.isoformat() if t else t for t in api_timestamps(["2025-06-01T14:00:00Z", None])]
    ['2025-06-01T14:00:00+00:00', None]
    >>> api_timestamps(["2025-06-01 14:00:00"]) is None
    True
    """
    if _READS_Z:
        try:
            joined = "".join(values)
        except TypeError:  # not all text: a null or absent timestamp, or an odd value
            pass
        else:
            if (
                len(joined) == 20 * len(values)
                and (not values or set(map(len, values)) == {20})
                and _API_FORMS.fullmatch(joined) is not None
            ):
                with contextlib.suppress(ValueError):  # a day or minute out of range
                    return list(map(_fromisoformat, values))
    out = [api_timestamp(value, _NOT_READ) for value in values]
    return None if _NOT_READ in out else out


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
        f"malformed {name}: unparsable timestamp {quoted(value)} (expected YYYY-MM-DDTHH:MM:SSZ)"
    )


# --- money ------------------------------------------------------------------------------


def _decimal_from_float(value: float) -> Decimal:
    # repr() is the shortest exact spelling; a negative exponent marks "was a float" so that
    # money_out can give a float back (1e16 would otherwise come back as an int).
    amount = Decimal(repr(value))
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        sign, digits, _ = amount.as_tuple()
        amount = Decimal((sign, (*digits, *(0,) * (exponent + 1)), -1))
    return amount


def money_out(value: Decimal) -> int | float:
    """A ``Decimal`` as its JSON number: ``int`` if it has no fraction, else ``float``."""
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
    is absent; ``essential_parse`` is the reader for fields marked :data:`ESSENTIAL`, which
    raises instead of keeping an unreadable value.
    """

    fast: str
    parse: Callable[[str, str], Parser]
    dump: str | None = None
    empty: str = "None"
    required: bool = False
    int_to_decimal: bool = False
    essential_parse: Callable[[str, str], Parser] | None = None


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
        if v is MISSING:
            raise ValueError(f"malformed {owner}: {key} missing")
        if v is None and not required:
            return None
        number: int | None = None
        if (type(v) is float and v.is_integer()) or (
            type(v) is str and _INT_RE.fullmatch(v.strip())
        ):
            number = int(v)
        if number is None and required:
            raise ValueError(f"malformed {owner}.{key}: expected an integer, got {quoted(v)}")
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


def _p_timestamp(owner: str, key: str, *, essential: bool = False) -> Parser:
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
            try:
                moment = parse_timestamp(v, name)
            except ValueError:
                if essential:
                    raise
                originals[key] = v
                return None
            if format_timestamp(moment) != v:
                originals[key] = v
            return moment
        if isinstance(v, datetime):
            return v.replace(tzinfo=_UTC) if v.tzinfo is None else v.astimezone(_UTC)
        if essential:
            raise ValueError(
                f"malformed {name}: unparsable timestamp {quoted(v)} (expected a string)"
            )
        originals[key] = v
        return None

    return parse


def _p_essential_timestamp(owner: str, key: str) -> Parser:
    return _p_timestamp(owner, key, essential=True)


def _p_enum(enum_cls: type[enum.Enum]) -> Callable[[str, str], Parser]:
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
            read = _STRUCTURE[item_type]
            items = []
            for index, item in enumerate(v):
                try:
                    items.append(read(item))
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
    datetime | None: _Kind(
        "v is None",
        _p_timestamp,
        dump="None if x is None else ts_out(x)",
        essential_parse=_p_essential_timestamp,
    ),
    dict[str, Any]: _Kind("False", _p_map, dump="dict(x)", empty="{}"),
    Any: _Kind("True", _p_any),
}


def _enum_member_type(tp: Any) -> type[enum.Enum] | None:
    """``E`` for a field typed ``E | str | None`` with ``E`` an enum, else ``None``."""
    args = get_args(tp)
    if len(args) == 3 and args[1] is str and args[2] is type(None):
        first = args[0]
        if isinstance(first, type) and issubclass(first, enum.Enum):
            return first
    return None


def _kind_of(tp: Any) -> _Kind:
    if tp in _KINDS:
        return _KINDS[tp]
    enum_cls = _enum_member_type(tp)
    if enum_cls is not None:
        kind = _Kind("v is None", _p_enum(enum_cls), dump=_ENUM_DUMP)
        _KINDS[tp] = kind
        return kind
    if get_origin(tp) is list and get_args(tp)[0] in _STRUCTURE:
        item = get_args(tp)[0]
        return _Kind("False", _p_records(item), dump="[D{index}(i) for i in x]", empty="[]")
    raise TypeError(f"no wire conversion for field type {tp!r}")


# --- code generation --------------------------------------------------------------------

_STRUCTURE: dict[type, Callable[[Any], Any]] = {}
_UNSTRUCTURE: dict[type, Callable[[Any], dict[str, Any]]] = {}
_FILL: dict[type, Callable[[Any, Any], Any]] = {}
_FIELDS: dict[type, tuple[list[str], list[_Kind], list[Parser]]] = {}
_LAZY: dict[type, Callable[[Any], Any]] = {}
_LAZY_COPY: dict[type, Callable[[Any], Any]] = {}
_VALUES: dict[type, Callable[[Any], dict[str, Any]]] = {}
_LAZY_BASE: dict[type, type] = {}
_LAZY_UNCONVERTED: set[type] = set()
_LAZY_BYTES: dict[type, tuple[Callable[[bytes, tuple[Any, ...]], Any], tuple[str, ...]]] = {}
_LAZY_BYTES_MANY: dict[type, tuple[Callable[..., list[Any]], tuple[str, ...]]] = {}
_WIRE_OF: dict[type, Callable[[Any], dict[str, Any] | None]] = {}
_ABSENT_CACHE_LIMIT = 4096


def _compile(source: str, namespace: dict[str, Any], name: str, filename: str) -> Any:
    code = compile(source, filename, "exec")
    exec(code, namespace)
    return namespace[name]


def _parser_for(kind: _Kind, field: Any, owner: str) -> Parser:
    if not field.metadata.get(ESSENTIAL):
        return kind.parse(owner, field.name)
    if kind.essential_parse is None:
        raise TypeError(f"{owner}.{field.name}: no essential reader for {field.type!r}")
    return kind.essential_parse(owner, field.name)


def _build(cls: type) -> None:
    """Generate and register the structure/unstructure functions of one record class."""
    owner = cls.__name__
    attrs.resolve_types(cls)
    fields = [f for f in attrs.fields(cls) if f.name not in _BOOKKEEPING]
    kinds = [_kind_of(f.type) for f in fields]
    names = [f.name for f in fields]
    known = frozenset(names)
    parsers = [_parser_for(kind, f, owner) for kind, f in zip(kinds, fields, strict=True)]
    absent_cache: dict[int, frozenset[str]] = {0: frozenset()}

    def absent_keys(mask: int) -> frozenset[str]:
        # Most pages share a handful of key sets; one frozenset per pattern keeps leads small.
        keys = frozenset(name for bit, name in enumerate(names) if mask >> bit & 1)
        if len(absent_cache) < _ABSENT_CACHE_LIMIT:
            absent_cache[mask] = keys
        return keys

    namespace: dict[str, Any] = {
        "MISSING": MISSING,
        "KNOWN": known,
        "N": len(names),
        "ABSENT": absent_cache,
        "absent_keys": absent_keys,
        "Mapping": Mapping,
        "new": object.__new__,
        "CLS": cls,
        "Decimal": Decimal,
        "money_out": money_out,
        "ts_out": format_timestamp,
        "owner": owner,
    }
    lines = [
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
    ]
    setters = [f"    S{i}(o, f{i})" for i in range(len(names))]
    setters += [
        "    S_extra(o, extra)",
        "    S_orig(o, orig)",
        "    S_absent(o, ABSENT.get(absent) or absent_keys(absent))",
        "    return o",
    ]
    namespace["Q"] = quoted
    namespace["S_extra"] = cls.__dict__["extra"].__set__
    namespace["S_absent"] = cls.__dict__["absent_keys"].__set__
    namespace["S_orig"] = cls.__dict__["wire_originals"].__set__
    head = [
        "def structure(d):",
        "    if d.__class__ is not dict and not isinstance(d, Mapping):",
        "        raise ValueError(f'malformed {owner}: expected an object, got {Q(d, 80)}')",
    ]
    # The same straight-line body twice: one builds a record, the other fills every field
    # of a lazy record in place (see lazy_record), so neither pays for the other.
    structure_fn = _compile(
        "\n".join([*head, *lines, "    o = new(CLS)", *setters]),
        namespace,
        "structure",
        f"<structure {owner}>",
    )
    fill_fn = _compile(
        "\n".join(["def fill(o, d):", *lines, *setters]), namespace, "fill", f"<fill {owner}>"
    )
    values_fn = _compile(
        "\n".join(
            [
                "def values(d):",
                *lines,
                "    return {",
                *(f"        {name!r}: f{i}," for i, name in enumerate(names)),
                "    }",
            ]
        ),
        namespace,
        "values",
        f"<values {owner}>",
    )
    _FILL[cls] = fill_fn
    _VALUES[cls] = values_fn
    _FIELDS[cls] = (names, kinds, parsers)

    parser_of = dict(zip(names, parsers, strict=True))

    def override(o: Any, key: str, raw: Any) -> bool:
        """Whether ``raw`` from ``wire_originals`` still describes the typed field ``key``."""
        try:
            return bool(parser_of[key](raw, {}) == getattr(o, key))
        except (ValueError, TypeError):
            return False

    namespace["override"] = override
    namespace["EMPTY"] = (None, {}, [])
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
        # Left out only while the field still holds what an absent key reads as: a value
        # set since (attrs.evolve) is the caller's and is written.
        "            if out[k] in EMPTY:",
        "                del out[k]",
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


def wire_record(cls: C) -> C:
    """Class decorator: generate the reader and writer of an attrs record class.

    The class must have ``extra``, ``absent_keys`` and ``wire_originals`` fields; a field
    holding a list of records needs that record registered first.
    """
    _build(cls)
    return cls


# --- lazy records -------------------------------------------------------------------------

LAZY_READS_BEFORE_FILL = 3
"""Fields converted one by one before a lazy record converts all the rest at once.

A few single reads (an id, a type, a value) are the common use and cost ~1 µs each; a
consumer that reads on (a full export, ``attrs.asdict``, equality) gets the generated
straight-line reader instead, so reading everything stays close to an eager build."""

_LAZY_SLOTS = ("_wire", "_lazy_read")


def _restore_lazy(base: type, wire: dict[str, Any]) -> Any:
    """Unpickle a lazy record: read its wire object again (``__reduce__`` below)."""
    return _LAZY[base](wire)


def _restore_eager(base: type, state: dict[str, Any]) -> Any:
    """Unpickle a record built in Python (e.g. by ``attrs.evolve``) from its field values."""
    return base(**state)


def lazy_record(cls: C, eager: tuple[str, ...]) -> C:
    """Register and return a lazy subclass of the record class ``cls``.

    A lazy record keeps the wire object it was read from; the fields in ``eager`` (plus the
    required id and every :data:`ESSENTIAL` field, whose errors must surface at once) are
    converted when it is built, every other field on first access, and after
    :data:`LAZY_READS_BEFORE_FILL` such reads all the rest at once. The bookkeeping fields
    (``extra``, ``absent_keys``, ``wire_originals``) need the whole record and convert it.
    ``to_dict()`` returns a copy of the wire object (its key order, no rebuild).

    Users never see the subclass's name: ``repr`` shows the base's, equality and hashing are
    the base's (a lazy record equals the eagerly built one of the same wire object), pickling
    stores the wire object, and a record made by ``attrs.evolve`` (through ``__init__``, with
    no wire object) behaves like an eager one. :func:`lazy_reader` gives its reader.
    """
    names, kinds, parsers = _FIELDS[cls]
    fill = _FILL[cls]
    eager_structure = _STRUCTURE[cls]
    write = _UNSTRUCTURE[cls]
    fields = {f.name: f for f in attrs.fields(cls)}
    first = tuple(
        name
        for name in names
        if name in eager
        or fields[name].default is attrs.NOTHING
        or fields[name].metadata.get(ESSENTIAL)
    )
    slot_get = {name: cls.__dict__[name].__get__ for name in fields}
    slot_set = {name: cls.__dict__[name].__set__ for name in fields}
    containers = tuple(
        name for name, kind in zip(names, kinds, strict=True) if kind.empty != "None"
    )

    def copy_wire(wire: dict[str, Any]) -> dict[str, Any]:
        # Like the eager reader and writer: the record shares no map or list it holds with
        # the dict it was read from or the dict it writes.
        out = dict(wire)
        for name in containers:
            value = out.get(name)
            if value.__class__ is dict or value.__class__ is list:
                out[name] = value.copy()
        return out

    makers: dict[str, Callable[[], Any]] = {"None": lambda: None, "{}": dict, "[]": list}
    empties = {name: makers[kind.empty] for name, kind in zip(names, kinds, strict=True)}
    lazy_parsers: dict[str, tuple[Parser, Callable[[], Any]] | None] = {
        name: (parser, empties[name])
        for name, parser in zip(names, parsers, strict=True)
        if name not in first
    }
    for name in _BOOKKEEPING:
        lazy_parsers[name] = None  # needs every field: fill the record
    owner = cls.__name__
    all_names = tuple(fields)

    class Converted(cls):  # type: ignore[valid-type,misc]
        # A lazy record once every field is converted: the same layout without
        # __getattr__, whose mere presence slows every attribute read (~35 ns each).
        __slots__ = _LAZY_SLOTS

        def to_dict(self) -> dict[str, Any]:
            wire = wire_of(self)
            if wire is None:
                return write(self)
            return copy_wire(wire)

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, cls):
                return NotImplemented
            if self is other:
                return True
            return all(getattr(self, name) == getattr(other, name) for name in all_names)

        def __ne__(self, other: object) -> bool:
            result = self.__eq__(other)
            return result if result is NotImplemented else not result

        __hash__ = cls.__hash__

        def __reduce__(self) -> tuple[Any, ...]:
            wire = wire_of(self)
            if wire is None:
                return (_restore_eager, (cls, {n: getattr(self, n) for n in all_names}))
            return (_restore_lazy, (cls, wire))

    class Lazy(Converted):
        __slots__ = ()

        def __getattr__(self, name: str) -> Any:
            # Called only when the slot is still empty (the descriptor raised).
            entry = lazy_parsers.get(name, MISSING)
            if entry is MISSING:
                if name in _LAZY_SLOTS:
                    return None  # built through __init__ (attrs.evolve): no wire object
                raise AttributeError(f"{owner!r} object has no attribute {name!r}")
            wire = self._wire
            if wire is None:
                raise AttributeError(f"{owner!r} object has no attribute {name!r}")
            if wire.__class__ is bytes:
                wire = decoded_wire(self, wire)
            read: tuple[str, ...] = self._lazy_read
            if entry is None or len(read) >= LAZY_READS_BEFORE_FILL:
                # Values already handed out stay the same objects after the fill (those
                # read at build time are immutable: an int and datetimes, read again equal).
                kept = [(name, slot_get[name](self)) for name in read]
                fill(self, wire)
                for kept_name, value in kept:
                    slot_set[kept_name](self, value)
                set_read(self, None)
                set_class(self, Converted)
                return slot_get[name](self)
            parse, empty = entry
            raw = wire.get(name, MISSING)
            value = empty() if raw is MISSING else parse(raw, {})
            slot_set[name](self, value)
            set_read(self, (*read, name))
            return value

    for made, suffix in ((Lazy, ""), (Converted, "Converted")):
        made.__name__ = made.__qualname__ = f"Lazy{owner}{suffix}"
        made.__module__ = cls.__module__
        made.__doc__ = f"A :class:`{owner}` read lazily from its wire object (``lazy_record``)."

    def set_class(o: Any, kind: type) -> None:
        object.__setattr__(o, "__class__", kind)

    wire_get = Converted.__dict__["_wire"].__get__

    def wire_of(o: Any) -> dict[str, Any] | None:
        try:
            wire: dict[str, Any] | bytes | None = wire_get(o)
        except AttributeError:  # built through __init__ (attrs.evolve)
            return None
        if wire.__class__ is bytes:
            return decoded_wire(o, wire)
        return cast("dict[str, Any] | None", wire)

    def decoded_wire(o: Any, raw: bytes) -> dict[str, Any]:
        # A record read from its JSON bytes (lazy_bytes_reader) decodes them on first need,
        # with the package's one decoder: the dict a whole-page decode would have given.
        wire: dict[str, Any] = _json.loads(raw)
        set_wire(o, wire)
        return wire

    new = object.__new__
    set_wire = Converted.__dict__["_wire"].__set__
    set_read = Converted.__dict__["_lazy_read"].__set__
    first_parsers = [
        (name, parser, slot_set[name], empties[name])
        for name, parser in zip(names, parsers, strict=True)
        if name in first
    ]

    def read_lazy(d: Any) -> Any:
        if d.__class__ is not dict:
            return eager_structure(d)
        o = new(Lazy)
        set_wire(o, d)
        set_read(o, ())
        for name, parser, put, empty in first_parsers:
            raw = d.get(name, MISSING)
            put(o, empty() if raw is MISSING and name not in fields_required else parser(raw, {}))
        return o

    def read_lazy_copy(d: Any) -> Any:
        return read_lazy(copy_wire(d) if d.__class__ is dict else d)

    fields_required = {name for name in first if fields[name].default is attrs.NOTHING}
    first_setters = tuple(slot_set[name] for name in first)

    def read_lazy_bytes(raw: bytes, values: tuple[Any, ...]) -> Any:
        o = new(Lazy)
        set_wire(o, raw)
        set_read(o, ())
        for put, value in zip(first_setters, values, strict=True):
            put(o, value)
        return o

    _LAZY_BYTES[cls] = (read_lazy_bytes, first)
    _LAZY_BYTES_MANY[cls] = (_columns_builder(new, Lazy, set_wire, set_read, first_setters), first)
    _WIRE_OF[Lazy] = _WIRE_OF[Converted] = wire_of
    _LAZY[cls] = read_lazy
    _LAZY_BASE[Lazy] = cls
    _LAZY_BASE[Converted] = cls
    _LAZY_UNCONVERTED.add(Lazy)
    _LAZY_COPY[cls] = read_lazy_copy
    return cast(C, Lazy)


def _columns_builder(
    new: Callable[[type], Any],
    kind: type,
    set_wire: Callable[[Any, Any], None],
    set_read: Callable[[Any, Any], None],
    setters: tuple[Callable[[Any, Any], None], ...],
) -> Callable[..., list[Any]]:
    """``build(raws, *columns)`` for :func:`lazy_bytes_builder`: a maker with one argument
    per field, generated so that each record costs one Python call (map runs the loop)."""
    params = ", ".join(f"v{i}" for i in range(len(setters)))
    puts = "".join(f"    s{i}(o, v{i})\n" for i in range(len(setters)))
    source = (
        f"def make(raw, {params}):\n"
        "    o = new(kind)\n    set_wire(o, raw)\n    set_read(o, ())\n"
        f"{puts}    return o\n"
    )
    namespace: dict[str, Any] = {"new": new, "kind": kind, "set_wire": set_wire}
    namespace["set_read"] = set_read
    namespace.update({f"s{i}": setter for i, setter in enumerate(setters)})
    make = _compile(source, namespace, "make", f"<lazy bytes {kind.__name__}>")

    def build(raws: list[bytes], *columns: list[Any]) -> list[Any]:
        return list(map(make, raws, *columns))

    return build


def field_values(record: Any) -> dict[str, Any]:
    """``{field: typed value}`` for every field of ``record`` but the bookkeeping ones.

    The same values as ``getattr(record, field)``; for a lazy record not yet converted they
    come straight from its wire object, without converting the record itself (a caller
    that needs every value once, such as a database row, pays one pass, not two).
    """
    kind = type(record)
    base = _LAZY_BASE.get(kind, kind)
    if kind in _LAZY_UNCONVERTED and record._wire is not None:
        # Not converted yet: one pass over the wire.
        return _VALUES[base](_WIRE_OF[kind](record))
    return {name: getattr(record, name) for name in _FIELDS[base][0]}


def wire_object(record: Any) -> dict[str, Any] | None:
    """The wire object a lazy record was read from, or ``None`` (a record built in Python).

    Not a copy: what :meth:`to_dict` would copy, for a caller that only reads it (a JSON
    writer) and so need not pay for the copy. Never change it.
    """
    wire_of = _WIRE_OF.get(type(record))
    if wire_of is None:
        return None
    return wire_of(record)


def wire_bytes(record: Any) -> bytes | None:
    """The JSON bytes a lead read from its page's bytes still holds, or ``None`` (a record
    whose wire object is decoded, or built in Python). Not a copy; never change it."""
    if type(record) not in _LAZY_UNCONVERTED:
        return None
    raw = record._wire
    return raw if raw.__class__ is bytes else None


def lazy_reader(cls: type, *, owned: bool = True) -> Callable[[Any], Any]:
    """The lazy reader registered for ``cls`` by :func:`lazy_record` (``KeyError`` if none).

    With ``owned`` it takes ownership of the ``dict`` it is given (the record keeps it: do
    not change it afterwards), which is how pages are read; without, the record keeps a
    copy (maps and lists one level deep, as the eager reader copies them). Any other
    mapping is read eagerly. Errors are those of :func:`reader`.
    """
    return (_LAZY if owned else _LAZY_COPY)[cls]


def lazy_bytes_reader(
    cls: type,
) -> tuple[Callable[[bytes, tuple[Any, ...]], Any], tuple[str, ...]]:
    """A reader of lazy records from their JSON bytes, and the fields it needs given.

    ``read(raw, values)`` builds a lazy record of ``cls`` that holds ``raw`` (one JSON
    object, UTF-8, which must decode under the rules of :mod:`whatconverts_async._json`)
    and takes ``values`` as the already converted fields named by the tuple (those a
    lazy record converts when built: the id, the essential fields and the eager ones),
    exactly as :func:`reader` would have converted them. Nothing is checked here: the
    caller vouches for both. ``raw`` is decoded on first access to any other field, by
    ``to_dict()``, pickling or equality, and then kept as the record's wire object.
    Bytes are not tracked by the cyclic garbage collector, so such a record is one
    tracked object until then. ``KeyError`` if ``cls`` has no lazy reader.
    """
    return _LAZY_BYTES[cls]


def lazy_bytes_builder(
    cls: type,
) -> tuple[Callable[..., list[Any]], tuple[str, ...]]:
    """Like :func:`lazy_bytes_reader`, a page at a time: ``build(raws, *columns)`` is
    ``[read(raw, values) for raw, *values in zip(raws, *columns)]`` (one column per
    field named by the tuple, in its order), built without a Python loop of its own.
    Each raw may also be a decoded wire ``dict``, which the record then owns (as with
    ``lazy_reader(cls)``, given the values that reader would convert). ``KeyError`` if
    ``cls`` has no lazy reader.
    """
    return _LAZY_BYTES_MANY[cls]


def reader(cls: type) -> Callable[[Any], Any]:
    """The structure function of a registered record class (``KeyError`` if it is none).

    It takes one decoded JSON object and raises ``ValueError`` naming record and field for an
    unreadable required id or essential field, or for a value that is not an object.
    """
    return _STRUCTURE[cls]


def writer(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The unstructure function of a registered record class (``KeyError`` if it is none)."""
    return _UNSTRUCTURE[cls]


def parse_money(value: Any) -> Decimal | None:
    """An amount as ``Decimal`` (``None`` for ``None`` or an unreadable amount).

    >>> parse_money(19.99), parse_money("12.50"), parse_money("n/a")
    (Decimal('19.99'), Decimal('12.50'), None)
    """
    amount: Decimal | None = _p_money("Decimal", "value")(value, {})
    return amount
