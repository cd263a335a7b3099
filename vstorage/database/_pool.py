"""The PostgreSQL writer: a pool of connections, one transaction per unit of work.

A server serializes concurrent transactions itself, so there is no queue to group commits:
each unit of work (a ``transaction()`` block, or an accessor call) takes a connection of the
writer pool, runs in its own transaction, and its caller is answered after COMMIT. At most
``size`` units run at once; the others wait their turn in arrival order.

Row locks keep read-modify-write correct: the accessor reads rows ``FOR UPDATE`` inside a
write, so two units touching the same row run one after the other. :meth:`PoolWriter.exclusive`
drains every unit and holds new ones back, for a restore that must not lose in-flight writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from vstorage.database._jobs import Change, RawWork
from vstorage.database._writer import WriterStats
from vstorage.errors import DatabaseClosedError, StorageError, UnsupportedError

logger = logging.getLogger("vstorage")
_PROBE = text("SELECT 1")

# Runs on the event loop with a writer's asyncpg connection, inside its transaction; returns
# the caller's result and the rows it changed.
ServerWork = Callable[[Any], Awaitable[tuple[Any, list[Change]]]]


class PoolWriter:
    """Units of work on a pool of ``size`` writer connections; see the module docstring."""

    def __init__(
        self, engine: AsyncEngine, *, size: int, on_commit: Callable[[list[Change]], None]
    ) -> None:
        self._engine = engine
        self._size = size
        self._on_commit = on_commit
        self._slots = asyncio.Semaphore(size)
        self._open = asyncio.Event()  # cleared while a unit of work has the database alone
        self._open.set()
        self._exclusive = asyncio.Lock()
        self._inflight = 0  # waiting or running units
        self._running = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._closed = False
        self._transactions = 0
        self._last_commit: float | None = None

    async def start(self) -> None:
        """Check that a writer connection can be opened."""
        async with self._engine.connect():
            pass

    @property
    def size(self) -> int:
        """How many units of work may run at once."""
        return self._size

    async def run(self, work: RawWork) -> Any:
        """Raw DBAPI work is a SQLite path; PostgreSQL writes go through sessions.

        Raises:
            UnsupportedError: always.

        """
        raise UnsupportedError("raw writer jobs exist only on SQLite")

    async def in_transaction(self) -> bool:
        """Whether any writer connection is inside a unit of work right now."""
        return self._running > 0

    def stats(self) -> WriterStats:
        """Waiting and running units, and the last commit."""
        return WriterStats(
            queue_depth=self._inflight - self._running,
            transactions=self._transactions,
            jobs=self._transactions,
            last_commit_seconds=self._last_commit,
            last_group_size=1 if self._transactions else 0,
            connections=self._size,
            active=self._running,
        )

    @contextlib.asynccontextmanager
    async def lease(
        self, changes: list[Change], *, read_only: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session in a transaction of its own on a writer connection.

        The body's changes commit when it ends normally (roll back when ``read_only`` or
        when it raises); the context exits only after COMMIT returned.

        Raises:
            DatabaseClosedError: the writer is closed.

        """
        async with self._unit():
            started = time.perf_counter()
            async with self._session(read_only) as session:
                yield session
            if not read_only:
                self._committed(started)
        if changes and not read_only:
            self._on_commit(changes)

    async def run_server(self, work: ServerWork) -> Any:
        """Run ``work(connection)`` on a writer's asyncpg connection, in a transaction of its own.

        ``work`` returns ``(value, changes)``; the value is returned after COMMIT.

        Raises:
            DatabaseClosedError: the writer is closed.

        """
        async with self._unit():
            started = time.perf_counter()
            async with self._engine.connect() as connection:
                fairy = await connection.get_raw_connection()
                driver: Any = fairy.driver_connection
                value, changes = await _transact(connection, driver, work)
            self._committed(started)
        if changes:
            self._on_commit(changes)
        return value

    def _committed(self, started: float) -> None:
        self._transactions += 1
        self._last_commit = time.perf_counter() - started

    @contextlib.asynccontextmanager
    async def _unit(self) -> AsyncIterator[None]:
        """A writer slot for one unit of work, counted for close() and stats()."""
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        self._inflight += 1
        self._drained.clear()
        try:
            await self._take_slot()
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1
                self._slots.release()
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._drained.set()

    async def _take_slot(self) -> None:
        while True:
            await self._open.wait()
            await self._slots.acquire()
            if self._open.is_set():
                return
            self._slots.release()  # an exclusive unit closed the gate meanwhile

    @contextlib.asynccontextmanager
    async def _session(self, read_only: bool) -> AsyncIterator[AsyncSession]:
        session = AsyncSession(self._engine, expire_on_commit=False, autoflush=True)
        try:
            await session.connection()  # BEGIN now: the body runs inside the transaction
            try:
                yield session
            except BaseException:
                with contextlib.suppress(Exception):
                    await session.rollback()
                raise
            if read_only:
                await session.rollback()
            else:
                await session.flush()
                # A failed statement whose error the body caught leaves the transaction
                # aborted, and PostgreSQL answers COMMIT with a silent ROLLBACK. Ask first, so
                # that the caller gets an error instead of a commit that did not happen.
                await session.execute(_PROBE)
                await session.commit()
        finally:
            await session.close()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[AsyncEngine]:
        """Wait for every running unit to end, and hold new ones back until the block ends.

        Raises:
            DatabaseClosedError: the writer is closed.

        """
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        async with self._exclusive:
            self._open.clear()
            taken = 0
            try:
                for _ in range(self._size):
                    await self._slots.acquire()
                    taken += 1
                yield self._engine
            finally:
                for _ in range(taken):
                    self._slots.release()
                self._open.set()

    async def close(self) -> None:
        """Refuse new work, let every waiting and running unit finish."""
        self._closed = True
        await self._drained.wait()


async def _transact(connection: Any, driver: Any, work: ServerWork) -> tuple[Any, list[Change]]:
    """BEGIN, ``work``, COMMIT on an asyncpg connection; never pools it mid-transaction."""
    if driver.is_in_transaction():
        await connection.invalidate()
        raise StorageError("a writer connection was left inside a transaction; retry")
    try:
        await driver.execute("BEGIN")
        result = await work(driver)
        await driver.execute("COMMIT")
    except asyncio.CancelledError:
        # Cancelled mid-statement: the connection's state is unknown. Closing it makes the
        # server roll back whatever was not committed.
        await connection.invalidate()
        raise
    except BaseException:
        try:
            if driver.is_in_transaction():
                await driver.execute("ROLLBACK")
        except BaseException:
            await connection.invalidate()
        raise
    return result
