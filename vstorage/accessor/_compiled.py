"""What the accessor's compiled statements share: value conversions and the audit INSERT.

The fast paths run SQL compiled once by SQLAlchemy for the dialect on a DBAPI cursor, so they
convert values themselves with the column types' own processors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect, Float, Table, insert
from sqlalchemy.exc import InvalidRequestError

from vstorage.accessor._model import ModelInfo
from vstorage.database._audit import audit_table

Processor = Callable[[Any], Any] | None
Columns = list[tuple[str, Processor]]

_NUMERIC_OID, _FLOAT8_OID = 1700, 701  # PostgreSQL's numeric and double precision
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


def result_processor(column_type: Any, dialect: Dialect) -> Processor:
    """The column type's database-to-Python conversion (``None`` when there is none)."""
    impl = column_type.dialect_impl(dialect)
    try:
        processor: Processor = impl.result_processor(dialect, None)
    except (TypeError, InvalidRequestError):
        # asyncpg's numeric types choose their conversion by the column's type oid.
        oid = _FLOAT8_OID if isinstance(column_type, Float) else _NUMERIC_OID
        processor = impl.result_processor(dialect, oid)
    return processor


def read_columns(info: ModelInfo, dialect: Dialect) -> Columns:
    """Attribute name and database-to-Python conversion of each column, in table order."""
    return [
        (info.by_column[column.name].key, result_processor(column.type, dialect))
        for column in info.table.c
    ]


def decode_row(columns: Columns, row: Sequence[Any]) -> dict[str, Any]:
    """A raw row (selected in table order) as attribute-keyed Python values."""
    return {
        key: value if convert is None or value is None else convert(value)
        for (key, convert), value in zip(columns, row, strict=True)
    }


class CompiledInserts:
    """INSERT statements of one model compiled once per set of columns, for one dialect.

    ``returning`` adds ``RETURNING`` of the key to statements that leave it to the database
    (PostgreSQL); SQLite reads it from the cursor instead.
    """

    def __init__(self, info: ModelInfo, dialect: Dialect, *, returning: bool = False) -> None:
        self._info = info
        self._dialect = dialect
        self._returning = returning
        self._statements: dict[frozenset[str], tuple[str, list[tuple[str, Processor]]]] = {}
        self._processors = {
            field.column.name: bind_processor(field.column.type, dialect)
            for field in info.fields.values()
        }

    def _statement(self, keys: frozenset[str]) -> tuple[str, list[tuple[str, Processor]]]:
        statement = self._statements.get(keys)
        if statement is None:
            fields = self._info.fields
            query = insert(self._info.table)
            if self._returning and self._info.pk.key not in keys:
                query = query.returning(self._info.pk.column)
            compiled = query.compile(
                dialect=self._dialect, column_keys=[fields[key].column.name for key in keys]
            )
            by_column = self._info.by_column
            plan = [
                (by_column[name].key, self._processors[name]) for name in compiled.positiontup or []
            ]
            statement = self._statements[keys] = (compiled.string, plan)
        return statement

    def prepare(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[Any], dict[str, Any]]]:
        """Each row's statement and parameters; a key left to the database is dropped."""
        pk = self._info.pk.key
        generated = self._info.pk_generated
        prepared = []
        for row in rows:
            if generated and row.get(pk) is None:
                row.pop(pk, None)
            sql, plan = self._statement(frozenset(row))
            params = [row[key] if proc is None else proc(row[key]) for key, proc in plan]
            prepared.append((sql, params, row))
        return prepared
