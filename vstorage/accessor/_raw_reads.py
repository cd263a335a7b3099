"""Point reads compiled once and run on a reader connection in one hop."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import Dialect, bindparam, select

from vstorage.accessor._compiled import bind_processor, decode_row, read_columns, to_database
from vstorage.accessor._model import ModelInfo


class RawGet:
    """``SELECT`` of one record by key, with the columns' own result conversions."""

    def __init__(self, info: ModelInfo, dialect: Dialect) -> None:
        table, pk = info.table, info.pk.column
        query = select(*table.c).where(pk == bindparam("key"))
        self._sql = {True: query.compile(dialect=dialect).string}
        if info.soft_delete is not None:
            live = query.where(info.soft_delete.column.is_(None))
            self._sql[False] = live.compile(dialect=dialect).string
        else:
            self._sql[False] = self._sql[True]
        self._key = bind_processor(pk.type, dialect)
        self._columns = read_columns(info, dialect)

    def query(self, key: Any, include_deleted: bool) -> Callable[[sqlite3.Connection], list[Any]]:
        """Work for a reader connection: the matching rows, raw."""
        sql = self._sql[include_deleted]
        param = to_database(self._key, key)

        def run(connection: sqlite3.Connection) -> list[Any]:
            return connection.execute(sql, (param,)).fetchall()

        return run

    def values(self, row: Any) -> dict[str, Any]:
        """One raw row as attribute-keyed Python values."""
        return decode_row(self._columns, row)
