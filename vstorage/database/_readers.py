"""Read-only connections lent one statement at a time: the fast path of point reads.

A ``db.read()`` session costs several thread hops (checkout, BEGIN, execute, fetch, reset);
a point read compiled once and run here costs one. Each statement runs in autocommit mode on
a ``query_only`` WAL connection, so it sees one committed snapshot.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")


class RawReaders:
    """A fixed set of reader connections, each used by one caller at a time."""

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self._engine = engine
        self._size = size
        self._idle: asyncio.Queue[tuple[AsyncConnection, Any]] = asyncio.Queue()
        self._held: list[AsyncConnection] = []

    async def start(self) -> None:
        """Open every connection (pragmas are set and verified by the engine)."""
        for _ in range(self._size):
            connection = await self._engine.connect()
            self._held.append(connection)
            fairy = await connection.get_raw_connection()
            self._idle.put_nowait((connection, fairy.driver_connection))

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a free reader's DBAPI connection, in that connection's thread."""
        connection, driver = await self._idle.get()
        try:
            result: T = await driver._execute(fn, driver._conn)
            return result
        finally:
            # A cancelled caller may leave ``fn`` running: the connection's own thread runs
            # the next caller's work after it, so handing it back now is safe.
            self._idle.put_nowait((connection, driver))

    async def close(self) -> None:
        """Close every connection."""
        for connection in self._held:
            await connection.close()
        self._held.clear()
