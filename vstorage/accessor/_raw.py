"""Inserts compiled once and run on the writer's DBAPI cursor: the accessor's fast path.

Per-statement SQLAlchemy execution costs tens of microseconds; an insert with its audit row
compiled once, with values converted on the event loop, costs a few. The SQL comes from
SQLAlchemy's compiler for the database's dialect, never from hand-written strings.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from sqlalchemy import Dialect, bindparam, func, select

from vstorage.accessor._compiled import (
    AUDIT_COLUMNS,
    CompiledInserts,
    bind_processor,
    compile_audit_insert,
)
from vstorage.accessor._model import ModelInfo
from vstorage.database._audit import audit_table, dumps
from vstorage.database._jobs import Change, RawWork
from vstorage.errors import RecordLimitError, StorageError

_IDENTITY = list(range(len(AUDIT_COLUMNS)))


class RawInserts(CompiledInserts):
    """Compiled INSERT statements of one model and of the audit table, for SQLite."""

    def __init__(self, info: ModelInfo, dialect: Dialect) -> None:
        super().__init__(info, dialect)
        self.audit_sql, audit_order = compile_audit_insert(dialect)
        self._audit_order = [AUDIT_COLUMNS.index(name) for name in audit_order]
        self._timestamp = bind_processor(audit_table.c.timestamp.type, dialect)
        pk_column = info.pk.column
        count = (
            select(func.count())
            .select_from(info.table)
            .where(pk_column >= bindparam("low"), pk_column <= bindparam("high"))
        )
        self.count_sql = count.compile(dialect=dialect).string
        self.live_sql = info.live_count().compile(dialect=dialect).string

    def work(
        self,
        rows: list[dict[str, Any]],
        *,
        component: str,
        actor: str,
        audit: bool,
        report: bool,
        max_records: int | None = None,
    ) -> RawWork:
        """Raw work inserting ``rows`` (attribute-keyed, validated) with one audit row each.

        The work returns the rows with their generated keys filled in, and their changes when
        ``report`` is set (someone listens for this table's commits).
        """
        info = self._info
        pk = info.pk.key
        generated = info.pk_generated
        prepared = self.prepare(rows)
        stamp = dt.datetime.now(dt.UTC)
        timestamp = self._timestamp(stamp) if self._timestamp else stamp
        audit_sql, audit_order, table = self.audit_sql, self._audit_order, info.table.name
        count_sql, live_sql = self.count_sql, self.live_sql

        batch = generated and len(prepared) > 1 and len({sql for sql, _, _ in prepared}) == 1

        def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
            if max_records is not None:
                # Counted inside the write transaction: concurrent inserts cannot overshoot.
                (live,) = cursor.execute(live_sql).fetchone()
                if live + len(prepared) > max_records:
                    raise RecordLimitError(max_records)
            if batch:
                stored_rows = _insert_batch(cursor, prepared, pk, count_sql)
            else:
                stored_rows = []
                for sql, params, row in prepared:
                    cursor.execute(sql, params)
                    stored_rows.append(row if pk in row else {pk: cursor.lastrowid, **row})
            changes = (
                [Change(table, "create", stored, None) for stored in stored_rows] if report else []
            )
            if audit:
                audit_rows: list[tuple[Any, ...]] = [
                    (timestamp, component, str(stored[pk]), "create", actor, None, dumps(stored))
                    for stored in stored_rows
                ]
                if audit_order != _IDENTITY:
                    audit_rows = [tuple(row[i] for i in audit_order) for row in audit_rows]
                cursor.executemany(audit_sql, audit_rows)
            return stored_rows, changes

        return run


def _insert_batch(
    cursor: sqlite3.Cursor,
    prepared: list[tuple[str, list[Any], dict[str, Any]]],
    pk: str,
    count_sql: str,
) -> list[dict[str, Any]]:
    """Insert rows without keys in one ``executemany`` and derive their generated keys.

    Under the write lock SQLite gives each new row the largest rowid plus one, so a batch gets
    consecutive keys ending at ``lastrowid``; a count over that range proves it.
    """
    sql = prepared[0][0]
    cursor.executemany(sql, [params for _, params, _ in prepared])
    # sqlite3 leaves lastrowid unset after executemany; ask the connection (this module is
    # the SQLite fast path: other dialects insert through the session path with RETURNING).
    (last,) = cursor.execute("SELECT last_insert_rowid()").fetchone()
    first = None if last is None else last - len(prepared) + 1
    if last is None or first is None or first < 1:
        raise StorageError("could not determine the keys of a batch insert")
    (count,) = cursor.execute(count_sql, (first, last)).fetchone()
    if count != len(prepared):
        raise StorageError("could not determine the keys of a batch insert")
    return [{pk: first + i, **row} for i, (_, _, row) in enumerate(prepared)]
