"""The leads upsert compiled once per dialect, and its rows as driver parameters.

SQLAlchemy's per-row work for an ``executemany`` (building each parameter set from the
compiled statement, then one type processor per value) cost more than everything else a
backfill does per lead, about 100 µs for a 100-column row. The mirror's rows already hold
final Python values (``lead_row``), so :class:`BulkUpsert` compiles the statement once and
turns a row into the tuple the driver takes with the few conversions the column types
need, done the way SQLAlchemy does them (checked against its own processors in the tests):

* :class:`~.schema.UTCDateTime`: on SQLite SQLAlchemy's naive UTC text
  (``2025-06-01 14:00:00.000000``), elsewhere an aware UTC ``datetime``;
* :class:`~.schema.Money`: decimal text on SQLite, ``Decimal`` elsewhere;
* JSON: compact JSON text (:func:`~.records.dump_record`; ``None`` stays SQL ``NULL``);
* any other type with a bind processor: that processor.

The rows are then sent with one ``exec_driver_sql`` per batch, inside the caller's
transaction (so a page and its cursor still commit together).

On SQLite a statement carries many rows (``VALUES (...), (...), ...``, up to SQLite's limit
of bound variables), and the batch is an ``executemany`` of such statements, at most two
(one per statement size). Python's ``sqlite3`` releases the GIL around each step of a
statement and takes it back afterwards: row by row, the database thread had to win the GIL
back from the event loop 2,500 times a page, so the write ran mostly while the loop waited
for it instead of alongside the next page's work. With a few hundred rows a step it waits
for the GIL about ten times a page; the rows stored are the same.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from .records import dump_record
from .schema import Money, UTCDateTime

__all__ = ["BulkUpsert"]

_UTC = timezone.utc
Convert = Callable[[Any], Any]


# The last value and its text, replaced as one tuple (safe across threads): the rows of a
# page share their bookkeeping times, so most conversions are this lookup.
_last_time: list[tuple[datetime | None, str]] = [(None, "")]


def _naive_utc_text(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME storage format, "%Y-%m-%d %H:%M:%S.%f" with a 4-digit year.
    seen, text = _last_time[0]
    if value is seen:
        return text
    if value.tzinfo is None:
        raise ValueError("naive datetime: the mirror stores aware UTC times only")
    moment = value if value.tzinfo is _UTC else value.astimezone(_UTC)
    text = moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    _last_time[0] = (value, text)
    return text


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: the mirror stores aware UTC times only")
    return value if value.tzinfo is _UTC else value.astimezone(_UTC)


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _decimal_text(value: Any) -> str:
    return format(_decimal(value), "f")


def _json_text(value: Any) -> str:
    # Most leads' maps are empty: their text without a walk for floats and an encoder call.
    if not value:
        kind = value.__class__
        if kind is dict:
            return "{}"
        if kind is list:
            return "[]"
    return dump_record(value)


def _converter(column: sa.Column[Any], dialect: Dialect) -> Convert | None:
    """How one column's Python value becomes the driver's (``None``: as it is)."""
    kind = column.type
    sqlite = dialect.name == "sqlite"
    if isinstance(kind, UTCDateTime):
        return _naive_utc_text if sqlite else _aware_utc
    if isinstance(kind, Money):
        return _decimal_text if sqlite else _decimal
    if isinstance(kind, sa.JSON):
        # The engine's own serializer if it was given one; else compact text (the values
        # read back are the same as with SQLAlchemy's default json.dumps, only without its
        # spaces), several times faster for these small maps.
        serializer: Convert | None = getattr(dialect, "_json_serializer", None)
        return serializer or _json_text
    processor = kind.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _sqlite_variables() -> int:
    """How many ``?`` one SQLite statement may bind: 32,766 since SQLite 3.32, 999 before."""
    return 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


class BulkUpsert:
    """``statement`` (an ``INSERT ... ON CONFLICT`` without values) compiled for
    ``dialect``, with a bind parameter per column of ``table`` named after it.

    ``params(row)`` gives the driver's parameter tuple for a row (a mapping with a key per
    column; a missing key raises ``KeyError``); ``await execute(conn, rows)`` writes them
    with one ``executemany`` (on SQLite of statements of several rows each: at most two
    calls). ``None`` is passed as is (SQL ``NULL``) for every column.
    """

    def __init__(self, table: sa.Table, statement: Any, dialect: Dialect) -> None:
        names = [c.name for c in table.c]
        compiled = statement.values({name: sa.bindparam(name) for name in names}).compile(
            dialect=dialect
        )
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(names):
            # Every column exactly once, positional: else the tuples would not line up.
            raise RuntimeError(
                f"the compiled leads upsert binds {order} for the columns {names} "
                f"({dialect.name}, paramstyle {dialect.paramstyle})"
            )
        self.sql: str = compiled.string
        self.columns: tuple[str, ...] = tuple(order)
        self._get = operator.itemgetter(*order)
        # Rows per statement (0: one row a statement, the plain executemany).
        self.rows_per_statement = 0
        self._multi_sql: dict[int, str] = {}
        group = "(" + ", ".join(["?"] * len(order)) + ")"
        head, found, tail = self.sql.partition(f" VALUES {group}")
        if dialect.name == "sqlite" and dialect.paramstyle == "qmark" and found:
            self._head, self._group, self._tail = f"{head} VALUES ", group, tail
            self.rows_per_statement = _sqlite_variables() // len(order)
        self._convert = [
            (index, convert)
            for index, name in enumerate(order)
            if (convert := _converter(table.c[name], dialect)) is not None
        ]

    def params(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters for ``row``, in the statement's order."""
        values = list(self._get(row))
        for index, convert in self._convert:
            value = values[index]
            if value is not None:
                values[index] = convert(value)
        return tuple(values)

    async def execute(self, conn: AsyncConnection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write ``rows`` in ``conn``'s transaction, in the order given."""
        batch = [self.params(row) for row in rows]
        if not batch:
            return
        most = self.rows_per_statement
        if most < 2 or len(batch) == 1:
            await conn.exec_driver_sql(self.sql, batch)
            return
        # As few statements as the limit allows, of two sizes at most (n + 1 rows, then
        # n), so that each size is one executemany and one compiled statement.
        statements = -(-len(batch) // most)
        size, larger = divmod(len(batch), statements)
        start = 0
        for rows_each, count in ((size + 1, larger), (size, statements - larger)):
            if count:
                stop = start + rows_each * count
                sets = [
                    tuple(chain.from_iterable(batch[i : i + rows_each]))
                    for i in range(start, stop, rows_each)
                ]
                await conn.exec_driver_sql(self._statement(rows_each), sets)
                start = stop

    def _statement(self, rows: int) -> str:
        """The upsert with ``rows`` rows of values (SQLite)."""
        sql = self._multi_sql.get(rows)
        if sql is None:
            sql = self._head + ", ".join([self._group] * rows) + self._tail
            self._multi_sql[rows] = sql
        return sql
