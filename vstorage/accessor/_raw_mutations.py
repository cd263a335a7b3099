"""Update, delete and restore of one record in one writer job, for accessors without hooks.

Each job reads the current row, writes the change and its audit row on the writer's cursor,
inside the job's savepoint, with statements compiled once by SQLAlchemy for the dialect. The
session path does the same in several awaited statements; this path costs one thread hop.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from sqlalchemy import Dialect, bindparam, delete, select, update

from vstorage.accessor._compiled import (
    bind_processor,
    compile_audit_insert,
    decode_row,
    read_columns,
    to_database,
)
from vstorage.accessor._model import ModelInfo
from vstorage.database._audit import audit_table, dumps
from vstorage.database._jobs import Change, RawWork
from vstorage.errors import RecordLimitError


def _params(order: list[str], values: dict[str, Any], key: Any) -> list[Any]:
    """Positional parameters of a compiled UPDATE, the key bound to ``key``."""
    return [key if name == "key" else values[name] for name in order]


class RawMutations:
    """Compiled statements of one model for update, soft or hard delete, and restore."""

    def __init__(self, info: ModelInfo, dialect: Dialect) -> None:
        self._info = info
        self._dialect = dialect
        table, pk = info.table, info.pk.column
        self._select = (
            select(*table.c).where(pk == bindparam("key")).compile(dialect=dialect).string
        )
        self._delete = delete(table).where(pk == bindparam("key")).compile(dialect=dialect).string
        self._read = read_columns(info, dialect)
        self._write = {f.key: bind_processor(f.column.type, dialect) for f in info.fields.values()}
        self._key = bind_processor(pk.type, dialect)
        self._updates: dict[frozenset[str], tuple[str, list[str]]] = {}
        self._audit_sql, self._audit_order = compile_audit_insert(dialect)
        self._stamp = bind_processor(audit_table.c.timestamp.type, dialect)
        self._live_sql = info.live_count().compile(dialect=dialect).string

    def _update_sql(self, keys: frozenset[str]) -> tuple[str, list[str]]:
        found = self._updates.get(keys)
        if found is None:
            fields = self._info.fields
            values: dict[str, Any] = {
                fields[k].column.name: bindparam(f"v_{k}") for k in sorted(keys)
            }
            statement = (
                update(self._info.table)
                .where(self._info.pk.column == bindparam("key"))
                .values(values)
            )
            compiled = statement.compile(dialect=self._dialect)
            order = [name.removeprefix("v_") for name in compiled.positiontup or []]
            found = self._updates[keys] = (compiled.string, order)
        return found

    def _row(self, cursor: sqlite3.Cursor, key: Any) -> dict[str, Any] | None:
        row = cursor.execute(self._select, (key,)).fetchone()
        return None if row is None else decode_row(self._read, row)

    def _audit_row(
        self, component: str, key: Any, operation: str, actor: str, before: Any, after: Any
    ) -> list[Any]:
        now = dt.datetime.now(dt.UTC)
        values = {
            "timestamp": to_database(self._stamp, now),
            "component": component,
            "record_id": str(key),
            "operation": operation,
            "actor": actor,
            "before": None if before is None else dumps(before),
            "after": None if after is None else dumps(after),
        }
        return [values[name] for name in self._audit_order]

    def _deleted(self, values: dict[str, Any]) -> bool:
        soft = self._info.soft_delete
        return soft is not None and values.get(soft.key) is not None

    def update(
        self, key: Any, changes: dict[str, Any], *, component: str, actor: str, audit: bool
    ) -> RawWork:
        """Partial update of a live record; the work returns the record after, or ``None``."""
        sql, order = self._update_sql(frozenset(changes))
        raw_key = to_database(self._key, key)
        bound = {k: to_database(self._write[k], v) for k, v in changes.items()}
        params = _params(order, bound, raw_key)
        table = self._info.table.name

        def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
            before = self._row(cursor, raw_key)
            if before is None or self._deleted(before):
                return None, []
            after = {**before, **changes}
            if after == before:
                return before, []
            cursor.execute(sql, params)
            if audit:
                cursor.execute(
                    self._audit_sql,
                    self._audit_row(component, key, "update", actor, before, after),
                )
            return after, [Change(table, "update", after, before)]

        return run

    def delete(self, key: Any, *, component: str, actor: str, audit: bool) -> RawWork:
        """Soft delete (``deleted_at``) or hard delete; the work returns True if done."""
        raw_key = to_database(self._key, key)
        table = self._info.table.name
        soft = self._info.soft_delete
        if soft is not None:
            stamp = self._info.now_for_soft_delete()
            sql, order = self._update_sql(frozenset({soft.key}))
            params = _params(order, {soft.key: to_database(self._write[soft.key], stamp)}, raw_key)

        def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
            before = self._row(cursor, raw_key)
            if before is None or self._deleted(before):
                return False, []
            if soft is None:
                cursor.execute(self._delete, (raw_key,))
                operation, after = "delete", None
            else:
                cursor.execute(sql, params)
                operation, after = "soft_delete", {**before, soft.key: stamp}
            if audit:
                cursor.execute(
                    self._audit_sql,
                    self._audit_row(component, key, operation, actor, before, after),
                )
            return True, [Change(table, operation, after, before)]

        return run

    def delete_many(self, keys: list[Any], *, component: str, actor: str, audit: bool) -> RawWork:
        """Delete each live record of ``keys`` in one job; the work returns how many."""
        works = [
            self.delete(key, component=component, actor=actor, audit=audit)
            for key in dict.fromkeys(keys)
        ]

        def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
            count, changes = 0, []
            for work in works:
                done, changed = work(cursor)
                count += bool(done)
                changes.extend(changed)
            return count, changes

        return run

    def restore(
        self,
        key: Any,
        *,
        component: str,
        actor: str,
        audit: bool,
        max_records: int | None = None,
    ) -> RawWork:
        """Clear ``deleted_at``; the work returns True if the record was deleted."""
        soft = self._info.soft_delete
        assert soft is not None
        raw_key = to_database(self._key, key)
        table = self._info.table.name
        sql, order = self._update_sql(frozenset({soft.key}))
        params = _params(order, {soft.key: None}, raw_key)
        live_sql = self._live_sql

        def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
            before = self._row(cursor, raw_key)
            if before is None or not self._deleted(before):
                return False, []
            if max_records is not None:
                (live,) = cursor.execute(live_sql).fetchone()
                if live + 1 > max_records:
                    raise RecordLimitError(max_records)
            cursor.execute(sql, params)
            after = {**before, soft.key: None}
            if audit:
                cursor.execute(
                    self._audit_sql,
                    self._audit_row(component, key, "restore", actor, before, after),
                )
            return True, [Change(table, "restore", after, before)]

        return run
