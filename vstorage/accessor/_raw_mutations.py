"""Update, delete and restore of one record in one unit of work, for accessors without hooks.

Each operation reads the current row (locked for update), writes the change and its audit row,
with statements compiled once by SQLAlchemy for the dialect. An operation is written once, as
a generator of steps (read a row, read a value, execute), and driven either on SQLite's writer
cursor inside a job's savepoint (one thread hop) or on a PostgreSQL writer's asyncpg
connection inside its own transaction. The session path does the same in several awaited
SQLAlchemy statements.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Generator
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
from vstorage.database._audit import audit_table
from vstorage.database._jobs import Change, RawWork
from vstorage.database._pool import ServerWork
from vstorage.database._postgres import advisory_lock, compile_literal
from vstorage.errors import RecordLimitError

# A step: ("row", sql, params) answers the first row or None, ("value", ...) the first column
# of the first row, ("exec", ...) nothing. An operation returns (value, changes).
Step = tuple[str, str, list[Any]]
Steps = Generator[Step, Any, tuple[Any, list[Change]]]
Plan = Callable[[], Steps]


def on_cursor(plan: Plan) -> RawWork:
    """The plan as raw work on SQLite's writer cursor."""

    def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
        steps = plan()
        answer: Any = None
        try:
            while True:
                kind, sql, params = steps.send(answer)
                result = cursor.execute(sql, params)
                answer = None if kind == "exec" else result.fetchone()
                if kind == "value" and answer is not None:
                    answer = answer[0]
        except StopIteration as done:
            outcome: tuple[Any, list[Change]] = done.value
            return outcome

    return run


def on_connection(plan: Plan) -> ServerWork:
    """The plan as work on a PostgreSQL writer's asyncpg connection."""

    async def run(connection: Any) -> tuple[Any, list[Change]]:
        steps = plan()
        answer: Any = None
        try:
            while True:
                kind, sql, params = steps.send(answer)
                if kind == "exec":
                    answer = await connection.execute(sql, *params)
                elif kind == "row":
                    answer = await connection.fetchrow(sql, *params)
                else:
                    answer = await connection.fetchval(sql, *params)
        except StopIteration as done:
            outcome: tuple[Any, list[Change]] = done.value
            return outcome

    return run


def _params(order: list[str], values: dict[str, Any], key: Any) -> list[Any]:
    """Positional parameters of a compiled UPDATE, the key bound to ``key``."""
    return [key if name == "key" else values[name] for name in order]


class RawMutations:
    """Compiled statements of one model for update, soft or hard delete, and restore.

    Each operation returns a :data:`Plan`; :func:`on_cursor` and :func:`on_connection` run it.
    """

    def __init__(self, info: ModelInfo, dialect: Dialect) -> None:
        self._info = info
        self._dialect = dialect
        table, pk = info.table, info.pk.column
        # FOR UPDATE locks the row on PostgreSQL; SQLite's writer is exclusive anyway.
        query = select(*table.c).where(pk == bindparam("key")).with_for_update()
        self._select = query.compile(dialect=dialect).string
        self._delete = delete(table).where(pk == bindparam("key")).compile(dialect=dialect).string
        self._read = read_columns(info, dialect)
        self._write = {f.key: bind_processor(f.column.type, dialect) for f in info.fields.values()}
        self._key = bind_processor(pk.type, dialect)
        self._updates: dict[frozenset[str], tuple[str, list[str]]] = {}
        self._audit_sql, self._audit_order = compile_audit_insert(dialect)
        self._stamp = bind_processor(audit_table.c.timestamp.type, dialect)
        self._json = bind_processor(audit_table.c.after.type, dialect)
        self._live_sql = info.live_count().compile(dialect=dialect).string
        self._server = dialect.name == "postgresql"
        self._lock_sql = (
            compile_literal(advisory_lock(info.limit_lock), dialect) if self._server else ""
        )

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

    def _row(self, key: Any) -> Generator[Step, Any, dict[str, Any] | None]:
        row = yield ("row", self._select, [key])
        return None if row is None else decode_row(self._read, row)

    def _audit(
        self, component: str, key: Any, operation: str, actor: str, before: Any, after: Any
    ) -> Step:
        return (
            "exec",
            self._audit_sql,
            self._audit_row(component, key, operation, actor, before, after),
        )

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
            "before": to_database(self._json, before),
            "after": to_database(self._json, after),
        }
        return [values[name] for name in self._audit_order]

    def _deleted(self, values: dict[str, Any]) -> bool:
        soft = self._info.soft_delete
        return soft is not None and values.get(soft.key) is not None

    def update(
        self, key: Any, changes: dict[str, Any], *, component: str, actor: str, audit: bool
    ) -> Plan:
        """Partial update of a live record; the plan returns the record after, or ``None``."""
        sql, order = self._update_sql(frozenset(changes))
        raw_key = to_database(self._key, key)
        bound = {k: to_database(self._write[k], v) for k, v in changes.items()}
        params = _params(order, bound, raw_key)
        table = self._info.table.name

        def plan() -> Steps:
            before = yield from self._row(raw_key)
            if before is None or self._deleted(before):
                return None, []
            after = {**before, **changes}
            if after == before:
                return before, []
            yield ("exec", sql, params)
            if audit:
                yield self._audit(component, key, "update", actor, before, after)
            return after, [Change(table, "update", after, before)]

        return plan

    def delete(self, key: Any, *, component: str, actor: str, audit: bool) -> Plan:
        """Soft delete (``deleted_at``) or hard delete; the plan returns True if done."""
        raw_key = to_database(self._key, key)
        table = self._info.table.name
        soft = self._info.soft_delete
        if soft is not None:
            stamp = self._info.now_for_soft_delete()
            sql, order = self._update_sql(frozenset({soft.key}))
            params = _params(order, {soft.key: to_database(self._write[soft.key], stamp)}, raw_key)

        def plan() -> Steps:
            before = yield from self._row(raw_key)
            if before is None or self._deleted(before):
                return False, []
            if soft is None:
                yield ("exec", self._delete, [raw_key])
                operation, after = "delete", None
            else:
                yield ("exec", sql, params)
                operation, after = "soft_delete", {**before, soft.key: stamp}
            if audit:
                yield self._audit(component, key, operation, actor, before, after)
            return True, [Change(table, operation, after, before)]

        return plan

    def delete_many(self, keys: list[Any], *, component: str, actor: str, audit: bool) -> Plan:
        """Delete each live record of ``keys`` in one unit; the plan returns how many."""
        plans = [
            self.delete(key, component=component, actor=actor, audit=audit)
            for key in dict.fromkeys(keys)
        ]

        def plan() -> Steps:
            count, changes = 0, []
            for one in plans:
                done, changed = yield from one()
                count += bool(done)
                changes.extend(changed)
            return count, changes

        return plan

    def restore(
        self,
        key: Any,
        *,
        component: str,
        actor: str,
        audit: bool,
        max_records: int | None = None,
    ) -> Plan:
        """Clear ``deleted_at``; the plan returns True if the record was deleted."""
        soft = self._info.soft_delete
        assert soft is not None
        raw_key = to_database(self._key, key)
        table = self._info.table.name
        sql, order = self._update_sql(frozenset({soft.key}))
        params = _params(order, {soft.key: None}, raw_key)
        live_sql = self._live_sql

        def plan() -> Steps:
            before = yield from self._row(raw_key)
            if before is None or not self._deleted(before):
                return False, []
            if max_records is not None:
                if self._server:  # serialized with every other limited write to the table
                    yield ("exec", self._lock_sql, [])
                live = yield ("value", live_sql, [])
                if live + 1 > max_records:
                    raise RecordLimitError(max_records)
            yield ("exec", sql, params)
            after = {**before, soft.key: None}
            if audit:
                yield self._audit(component, key, "restore", actor, before, after)
            return True, [Change(table, "restore", after, before)]

        return plan
