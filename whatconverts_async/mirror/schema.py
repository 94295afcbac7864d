"""The mirror's tables, derived from the :class:`~whatconverts_async.models.Lead` model.

Tables (all created idempotently by :func:`create_schema`):

``leads``
    One row per lead, keyed by ``lead_id``. A typed column per documented lead field
    (generated from ``Lead``'s attrs fields, so a field added to the model becomes a column),
    then:

    * ``record``: the whole wire object as JSON text, exactly as received (unknown fields
      included; ``record::jsonb`` on PostgreSQL, ``json_extract(record, '$.x')`` on SQLite);
    * ``content_hash``: SHA-256 of the record with sorted keys: an unchanged lead is never
      rewritten;
    * ``first_seen_at``, ``synced_at`` (last write), ``source`` (``backfill``, ``refresh``,
      ``webhook`` or ``confirm``: which path last wrote it), ``scope`` (the scope that first
      saw it);
    * ``missing_since`` (absent from a complete scan of its window) and ``deleted_at``
      (a tombstone, set only after a ``GET`` said the lead is gone; rows are never deleted);
    * ``hidden_confirmed_at``: when a ``GET`` last found a lead that the list leaves out
      (a lead the API hides from scans but still serves). Such a lead is not marked missing
      again, and so not asked about again, until ``recheck_hidden`` has passed; a scan that
      lists it again clears it.

    Money (``quote_value``, ``sales_value``, ``tax``, ``shipping``) is exact: ``NUMERIC`` on
    PostgreSQL, decimal text on SQLite (SQLAlchemy would store ``Numeric`` as a float there).
    Times are UTC on both: ``timestamptz`` on PostgreSQL, UTC text on SQLite, always read back
    as aware UTC ``datetime``.

``mirror_scans``
    Sync state per API key name, scope and scan (``backfill``, ``catchup``, ``refresh``):
    the fixed window, the cursor (last committed ``date_created`` and the lead ids at that
    instant), counters and completion times. A page's rows and the cursor commit together.

``mirror_scan_seen``
    Lead ids met by a running refresh scan, to find the ones missing when it completes.

``mirror_leases``
    One writer per key name and scope (see :class:`~whatconverts_async.mirror.LeadMirror`).

``mirror_changes``
    The change log: one row per observed change of a lead, with the wire fields that
    changed as ``{"field": [old, new]}`` (``old`` is ``null`` for a new lead).

``mirror_meta``
    ``schema_version``. Upgrades: a newer library runs its migration steps in order from the
    stored version inside one transaction, when the mirror opens the database; an older
    library refuses a newer database. Steps so far:

    * 1 → 2: ``ALTER TABLE leads ADD COLUMN hidden_confirmed_at`` (nullable; existing rows
      keep ``NULL``).
"""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from ..models import Lead

__all__ = [
    "ENUM_COLUMNS",
    "LEAD_COLUMNS",
    "SCHEMA_LOCK",
    "SCHEMA_VERSION",
    "Money",
    "UTCDateTime",
    "changes",
    "create_schema",
    "leads",
    "leases",
    "meta",
    "metadata",
    "scan_seen",
    "scans",
]

SCHEMA_VERSION = 2
"""Version of the tables this library writes; stored in ``mirror_meta``."""

_BOOKKEEPING = ("extra", "absent_keys", "wire_originals")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC ``datetime``: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite.

    Naive values are refused (ambiguous), other zones converted to UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the mirror stores aware UTC times only")
        value = value.astimezone(timezone.utc)
        # SQLite has no zones; a fixed-width UTC text keeps comparisons in SQL right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Money(sa.types.TypeDecorator[Decimal]):
    """An exact amount: ``NUMERIC`` on PostgreSQL, decimal text on SQLite; read as ``Decimal``."""

    impl = sa.Numeric(asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        return format(amount, "f") if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def _column_type(annotation: Any) -> sa.types.TypeEngine[Any]:
    """The SQL type for a ``Lead`` field's annotation (``None`` stripped from unions)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = set(args)
    else:
        kinds = {typing.get_origin(annotation) or annotation}
    if kinds == {datetime}:
        return UTCDateTime()
    if kinds == {Decimal}:
        return Money()
    if kinds == {bool}:
        return sa.Boolean()
    if kinds == {int}:
        return sa.BigInteger()
    if kinds <= {dict, list} or annotation is Any:
        return _json()
    # Enums of display strings (``LeadType | str``) and plain text.
    return sa.Text()


def _lead_fields() -> list[attrs.Attribute[Any]]:
    attrs.resolve_types(Lead)
    return [f for f in attrs.fields(Lead) if f.name not in _BOOKKEEPING]


LEAD_COLUMNS: tuple[str, ...] = tuple(f.name for f in _lead_fields())
"""The typed lead columns, in model order (``lead_id`` first)."""

ENUM_COLUMNS: tuple[str, ...] = tuple(
    f.name
    for f in _lead_fields()
    if any(isinstance(a, type) and issubclass(a, enum.Enum) for a in typing.get_args(f.type))
)
"""Columns whose model values may be enum members (stored as their display text)."""

metadata = sa.MetaData()

leads = sa.Table(
    "leads",
    metadata,
    sa.Column("lead_id", sa.BigInteger(), primary_key=True, autoincrement=False),
    *(
        sa.Column(f.name, _column_type(f.type), nullable=True)
        for f in _lead_fields()
        if f.name != "lead_id"
    ),
    sa.Column("record", sa.Text(), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("synced_at", UTCDateTime(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("missing_since", UTCDateTime(), nullable=True),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.Column("hidden_confirmed_at", UTCDateTime(), nullable=True),  # schema version 2
    sa.Index("ix_leads_date_created", "date_created"),
    sa.Index("ix_leads_scope_date_created", "scope", "date_created"),
)

scans = sa.Table(
    "mirror_scans",
    metadata,
    sa.Column("key_name", sa.String(100), primary_key=True),
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("scan", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # running | done
    sa.Column("window_start", UTCDateTime(), nullable=False),
    sa.Column("window_end", UTCDateTime(), nullable=False),
    sa.Column("cursor_at", UTCDateTime(), nullable=True),
    sa.Column("cursor_ids", sa.JSON(), nullable=False),
    sa.Column("pages", sa.BigInteger(), nullable=False),
    sa.Column("leads_seen", sa.BigInteger(), nullable=False),
    sa.Column("requests", sa.BigInteger(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("tiers", sa.JSON(), nullable=True),
)

scan_seen = sa.Table(
    "mirror_scan_seen",
    metadata,
    sa.Column("key_name", sa.String(100), primary_key=True),
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("scan", sa.String(40), primary_key=True),
    sa.Column("lead_id", sa.BigInteger(), primary_key=True, autoincrement=False),
)

leases = sa.Table(
    "mirror_leases",
    metadata,
    sa.Column("key_name", sa.String(100), primary_key=True),
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("acquired_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

changes = sa.Table(
    "mirror_changes",
    metadata,
    sa.Column("change_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("lead_id", sa.BigInteger(), nullable=False, index=True),
    sa.Column("changed_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("fields", sa.JSON(), nullable=False),
)

meta = sa.Table(
    "mirror_meta",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)


class SchemaVersionError(RuntimeError):
    """The database was written by a newer version of the mirror than this library."""


class SchemaConflictError(RuntimeError):
    """The database holds a table of the mirror's name that the mirror did not create
    (an application's own ``leads``): nothing is created or changed in it."""


class NoMirrorError(RuntimeError):
    """The database holds no mirror (a command that only reads found no mirror tables)."""


# Columns added by upgrades: a table of an older version may lack them.
_ADDED_LATER = {("leads", "hidden_confirmed_at")}


def _existing_tables(sync: sa.Connection) -> dict[str, set[str]]:
    """Our table names present in the database, each with its column names."""
    inspector = sa.inspect(sync)
    present = set(inspector.get_table_names())
    return {
        table.name: {c["name"] for c in inspector.get_columns(table.name)}
        for table in metadata.sorted_tables
        if table.name in present
    }


def _check_tables_are_ours(existing: dict[str, set[str]]) -> None:
    for table in metadata.sorted_tables:
        columns = existing.get(table.name)
        if columns is None:
            continue
        wanted = {c.name for c in table.columns if (table.name, c.name) not in _ADDED_LATER}
        missing = sorted(wanted - columns)
        if missing:
            raise SchemaConflictError(
                f"the database already has a table {table.name!r} that is not a lead "
                f"mirror's (it lacks {', '.join(missing[:3])}"
                f"{', ...' if len(missing) > 3 else ''}): nothing was created or changed; "
                "give the mirror a database (or PostgreSQL schema) of its own"
            )


async def read_schema_version(conn: AsyncConnection) -> int:
    """The mirror's schema version in the database, without creating or changing anything.

    Raises :class:`NoMirrorError` when the database holds no mirror,
    :class:`SchemaConflictError` when a table of the mirror's name is not the mirror's, and
    :class:`SchemaVersionError` for a version newer than :data:`SCHEMA_VERSION`.
    """
    existing = await conn.run_sync(_existing_tables)
    _check_tables_are_ours(existing)
    if meta.name not in existing:
        raise NoMirrorError("the database holds no lead mirror: run `mirror backfill` first")
    row = (
        await conn.execute(sa.select(meta.c.value).where(meta.c.name == "schema_version"))
    ).first()
    if row is None:
        raise NoMirrorError("the database holds no lead mirror: run `mirror backfill` first")
    stored = int(row[0])
    if stored > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the mirror database has schema version {stored}; this library reads "
            f"{SCHEMA_VERSION}: upgrade whatconverts-async"
        )
    return stored


#: The PostgreSQL advisory lock key held while the schema is created or upgraded.
SCHEMA_LOCK = 0x5743_4D49_5252  # "WCMIRR"


async def create_schema(conn: AsyncConnection) -> int:
    """Create missing tables and record or upgrade the schema version; returns the version.

    Idempotent (``CREATE TABLE IF NOT EXISTS``); run inside the caller's transaction.
    On PostgreSQL the transaction first takes an advisory lock (:data:`SCHEMA_LOCK`,
    released at its end), so mirrors opening a fresh database at once create it one after
    the other instead of racing into duplicate-type errors.
    Raises :class:`SchemaVersionError` for a database newer than :data:`SCHEMA_VERSION` and
    :class:`SchemaConflictError` when a table of the mirror's name is not the mirror's.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
    # A table of our name that is not ours (an application's own "leads") stops everything
    # before any table is created next to it.
    _check_tables_are_ours(await conn.run_sync(_existing_tables))
    await conn.run_sync(metadata.create_all, checkfirst=True)
    row = (
        await conn.execute(sa.select(meta.c.value).where(meta.c.name == "schema_version"))
    ).first()
    if row is None:
        await conn.execute(meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
        return SCHEMA_VERSION
    stored = int(row[0])
    if stored > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the mirror database has schema version {stored}; this library writes "
            f"{SCHEMA_VERSION}: upgrade whatconverts-async"
        )
    # Migration steps, one per version, in order (inside the caller's transaction).
    if stored < 2:
        await _add_column(conn, leads.c.hidden_confirmed_at)
    if stored < SCHEMA_VERSION:
        await conn.execute(
            meta.update().where(meta.c.name == "schema_version").values(value=str(SCHEMA_VERSION))
        )
    return SCHEMA_VERSION


async def _add_column(conn: AsyncConnection, column: sa.Column[Any]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for a nullable ``column`` of its table, unless an
    interrupted upgrade on a backend without transactional DDL added it already."""
    table = column.table
    names = await conn.run_sync(
        lambda sync: {c["name"] for c in sa.inspect(sync).get_columns(table.name)}
    )
    if column.name in names:
        return
    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    preparer = conn.dialect.identifier_preparer
    await conn.execute(sa.text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}"))
