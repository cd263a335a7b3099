"""Inserts compiled once and run on the writer's DBAPI cursor: the accessor's fast path.

Per-statement SQLAlchemy execution costs tens of microseconds; an insert with its audit row
compiled once, with values converted on the event loop, costs a few. The SQL comes from
SQLAlchemy's compiler for the database's dialect, never from hand-written strings.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect, Table, insert

from vstorage.accessor._model import ModelInfo
from vstorage.database._audit import audit_table, dumps
from vstorage.database._jobs import Change, RawWork

Processor = Callable[[Any], Any] | None

_AUDIT_COLUMNS = ("timestamp", "component", "record_id", "operation", "actor", "before", "after")


def _compile_insert(table: Table, dialect: Dialect, columns: Sequence[str]) -> tuple[str, list[str]]:
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    order = list(compiled.positiontup or [])
    return compiled.string, order


def _processor(column_type: Any, dialect: Dialect) -> Processor:
    processor: Processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


class RawInserts:
    """Compiled INSERT statements of one model and of the audit table, for one dialect."""

    def __init__(self, info: ModelInfo, dialect: Dialect) -> None:
        self._info = info
        self._dialect = dialect
        self._statements: dict[frozenset[str], tuple[str, list[tuple[str, Processor]]]] = {}
        self._processors = {
            field.column.name: _processor(field.column.type, dialect)
            for field in info.fields.values()
        }
        self.audit_sql, audit_order = _compile_insert(audit_table, dialect, _AUDIT_COLUMNS)
        self._audit_order = [_AUDIT_COLUMNS.index(name) for name in audit_order]
        self._timestamp = _processor(audit_table.c.timestamp.type, dialect)

    def _statement(self, keys: frozenset[str]) -> tuple[str, list[tuple[str, Processor]]]:
        statement = self._statements.get(keys)
        if statement is None:
            fields = self._info.fields
            columns = [fields[key].column.name for key in keys]
            sql, order = _compile_insert(self._info.table, self._dialect, columns)
            by_column = self._info.by_column
            plan = [(by_column[name].key, self._processors[name]) for name in order]
            statement = self._statements[keys] = (sql, plan)
        return statement

    def work(
        self, rows: list[dict[str, Any]], *, component: str, actor: str, audit: bool
    ) -> RawWork:
        """Raw work inserting ``rows`` (attribute-keyed, validated) with one audit row each.

        The work returns the rows with their generated keys filled in.
        """
        info = self._info
        pk = info.pk.key
        generated = info.pk_generated
        prepared = []
        for row in rows:
            if generated and row.get(pk) is None:
                row.pop(pk, None)
            sql, plan = self._statement(frozenset(row))
            params = [row[key] if proc is None else proc(row[key]) for key, proc in plan]
            prepared.append((sql, params, row))
        stamp = dt.datetime.now(dt.UTC)
        timestamp = self._timestamp(stamp) if self._timestamp else stamp
        audit_sql, audit_order, table = self.audit_sql, self._audit_order, info.table.name

        def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
            changes: list[Change] = []
            stored_rows = []
            audit_rows = []
            for sql, params, row in prepared:
                cursor.execute(sql, params)
                stored = row if pk in row else {pk: cursor.lastrowid, **row}
                stored_rows.append(stored)
                changes.append(Change(table, "create", stored, None))
                if audit:
                    entry = (timestamp, component, str(stored[pk]), "create", actor, None)
                    values = (*entry, dumps(stored))
                    audit_rows.append([values[i] for i in audit_order])
            if audit_rows:
                cursor.executemany(audit_sql, audit_rows)
            return stored_rows, changes

        return run
