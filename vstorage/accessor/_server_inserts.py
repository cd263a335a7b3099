"""Inserts compiled once for PostgreSQL and run on a writer's asyncpg connection.

The PostgreSQL counterpart of :mod:`vstorage.accessor._raw`: a session-level insert costs
several SQLAlchemy round trips per record; this path sends the INSERT (with ``RETURNING`` of
the generated key) and one ``executemany`` of the audit rows, in a transaction of its own.
The SQL comes from SQLAlchemy's compiler for the asyncpg dialect, values are converted by the
column types' own processors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Dialect

from vstorage.accessor._compiled import (
    AUDIT_COLUMNS,
    CompiledInserts,
    bind_processor,
    compile_audit_insert,
)
from vstorage.accessor._model import ModelInfo
from vstorage.database._audit import audit_table
from vstorage.database._jobs import Change
from vstorage.database._postgres import advisory_lock, compile_literal, sequence_advance
from vstorage.errors import RecordLimitError

ServerWork = Callable[[Any], Awaitable[tuple[Any, list[Change]]]]


class ServerInserts(CompiledInserts):
    """Compiled INSERT statements of one model and of the audit table, for PostgreSQL."""

    def __init__(self, info: ModelInfo, dialect: Dialect) -> None:
        super().__init__(info, dialect, returning=True)
        self._audit_sql, order = compile_audit_insert(dialect)
        self._audit_plan = [
            (AUDIT_COLUMNS.index(name), bind_processor(audit_table.c[name].type, dialect))
            for name in order
        ]
        self._lock_sql = compile_literal(advisory_lock(info.limit_lock), dialect)
        self._live_sql = info.live_count().compile(dialect=dialect).string
        advance = sequence_advance(info.table, dialect) if info.pk_generated else None
        self._advance_sql = None if advance is None else compile_literal(advance, dialect)

    def work(
        self,
        rows: list[dict[str, Any]],
        *,
        component: str,
        actor: str,
        audit: bool,
        report: bool,
        max_records: int | None = None,
    ) -> ServerWork:
        """Work inserting ``rows`` (attribute-keyed, validated) with one audit row each.

        It returns the rows with their generated keys, and their changes when ``report``.
        """
        info = self._info
        pk = info.pk.key
        prepared = self.prepare(rows)
        stamp = dt.datetime.now(dt.UTC)
        table = info.table.name
        audit_sql, audit_plan = self._audit_sql, self._audit_plan
        lock_sql, live_sql = self._lock_sql, self._live_sql
        advance_sql = self._advance_sql

        async def run(connection: Any) -> tuple[Any, list[Change]]:
            if max_records is not None:
                # Serialized with every other limited write to the table, then counted.
                await connection.execute(lock_sql)
                if await connection.fetchval(live_sql) + len(prepared) > max_records:
                    raise RecordLimitError(max_records)
            stored_rows = []
            explicit = False
            for sql, params, row in prepared:
                if pk in row:
                    await connection.execute(sql, *params)
                    stored_rows.append(row)
                    explicit = True
                else:
                    stored_rows.append({pk: await connection.fetchval(sql, *params), **row})
            if explicit and advance_sql is not None:
                await connection.execute(advance_sql)  # the key sequence moves past given keys
            if audit:
                entries = []
                for stored in stored_rows:
                    values = (stamp, component, str(stored[pk]), "create", actor, None, stored)
                    entries.append(
                        [
                            values[i] if proc is None or values[i] is None else proc(values[i])
                            for i, proc in audit_plan
                        ]
                    )
                await connection.executemany(audit_sql, entries)
            changes = (
                [Change(table, "create", stored, None) for stored in stored_rows] if report else []
            )
            return stored_rows, changes

        return run
