"""What the accessor's compiled statements share: value conversions and the audit INSERT.

The fast paths run SQL compiled once by SQLAlchemy for the dialect on a DBAPI cursor, so they
convert values themselves with the column types' own processors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect, Table, insert

from vstorage.accessor._model import ModelInfo
from vstorage.database._audit import audit_table

Processor = Callable[[Any], Any] | None
Columns = list[tuple[str, Processor]]

AUDIT_COLUMNS = ("timestamp", "component", "record_id", "operation", "actor", "before", "after")


def bind_processor(column_type: Any, dialect: Dialect) -> Processor:
    """The column type's Python-to-database conversion (``None`` when there is none)."""
    processor: Processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def to_database(processor: Processor, value: Any) -> Any:
    """``value`` converted by ``processor``; ``None`` stays ``None``."""
    return value if processor is None or value is None else processor(value)


def compile_insert(table: Table, dialect: Dialect, columns: Sequence[str]) -> tuple[str, list[str]]:
    """An INSERT of ``columns`` and the order its positional parameters take."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    return compiled.string, list(compiled.positiontup or [])


def compile_audit_insert(dialect: Dialect) -> tuple[str, list[str]]:
    """The audit row's INSERT (every column but the id) and its parameter order."""
    return compile_insert(audit_table, dialect, AUDIT_COLUMNS)


def read_columns(info: ModelInfo, dialect: Dialect) -> Columns:
    """Attribute name and database-to-Python conversion of each column, in table order."""
    return [
        (
            info.by_column[column.name].key,
            column.type.dialect_impl(dialect).result_processor(dialect, None),
        )
        for column in info.table.c
    ]


def decode_row(columns: Columns, row: Sequence[Any]) -> dict[str, Any]:
    """A raw row (selected in table order) as attribute-keyed Python values."""
    return {
        key: value if convert is None or value is None else convert(value)
        for (key, convert), value in zip(columns, row, strict=True)
    }
