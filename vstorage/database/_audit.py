"""The audit table: one row per mutation, written in the same transaction as the data."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

AUDIT_TABLE_NAME = "vstorage_audit"


def json_default(value: Any) -> Any:
    """Encode the column types JSON does not know; exact for Decimal, UUID and time values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"cannot store {type(value).__name__} in the audit trail")


_encoder = json.JSONEncoder(default=json_default, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """Serialise a row for the audit trail (UUID, Decimal, date/time, bytes, Enum, JSON)."""
    return _encoder.encode(value)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and read back timezone-aware (UTC).

    Naive values are taken to be UTC. On SQLite the value is stored as fixed-width text, so
    comparisons in SQL order instants correctly; on PostgreSQL the column is ``timestamptz``.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``timestamptz`` on PostgreSQL, the plain ``DateTime`` elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Normalise to UTC for storage: aware on PostgreSQL, naive elsewhere."""
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        """The stored instant, timezone-aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class JSONText(TypeDecorator[Any]):
    """JSON encoded with :func:`dumps`: text on SQLite, ``JSONB`` on PostgreSQL.

    On PostgreSQL the engine's JSON serializer is :func:`dumps`, so values reach ``JSONB``
    with the same encoding of UUID, Decimal, date/time, bytes and Enum values.
    """

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``JSONB`` (SQL NULL for ``None``) on PostgreSQL, text elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Encode to JSON text (PostgreSQL: left to the JSONB type)."""
        if value is None or dialect.name == "postgresql":
            return value
        return dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Decode JSON text (PostgreSQL: already decoded by the JSONB type)."""
        if value is None or dialect.name == "postgresql":
            return value
        return json.loads(value)


audit_metadata = MetaData()

audit_table = Table(
    AUDIT_TABLE_NAME,
    audit_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("component", String(200), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("operation", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("before", JSONText(), nullable=True),
    Column("after", JSONText(), nullable=True),
    Index("ix_vstorage_audit_record", "component", "record_id"),
    Index("ix_vstorage_audit_timestamp", "timestamp"),
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row.

    Attributes:
        id: unique and increasing; on SQLite in commit order, on PostgreSQL in the order
            the rows were written (concurrent transactions may commit in another order).
        timestamp: when the mutation ran, timezone-aware UTC.
        component: the accessor's component name.
        record_id: the record's primary key, as text.
        operation: ``create``, ``update``, ``delete``, ``soft_delete`` or ``restore``.
        actor: who made the change.
        before: the row before (``None`` for ``create``), JSON-encoded values.
        after: the row after (``None`` for ``delete``), JSON-encoded values.

    """

    id: int
    timestamp: dt.datetime
    component: str
    record_id: str
    operation: str
    actor: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def utc_now() -> dt.datetime:
    """The current instant, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)
