"""The single writer: a bounded queue served by one connection, with group commit.

The writer task takes whatever jobs are queued (up to ``max_group``) into one transaction
started with ``BEGIN IMMEDIATE``; every job runs inside its own SAVEPOINT, so a failing job is
rolled back alone while its neighbours commit. Callers are answered only after COMMIT returned.

Raw jobs (statements the accessor built on the event loop) run in the connection's thread:
a group made only of raw jobs costs one thread hop for BEGIN, every job and COMMIT. Lease jobs
lend the connection to the caller's task, as an ``AsyncSession`` inside a savepoint, for the
body of ``db.transaction()`` or a call whose hooks need a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from vstorage.database._errors import translate
from vstorage.database._jobs import Change, Job, LeaseJob, Outcome, RawJob, RawWork
from vstorage.errors import (
    ConfigurationError,
    DatabaseClosedError,
    StorageError,
    VStorageError,
)

logger = logging.getLogger("vstorage")

_STOP = object()


@dataclass(frozen=True, slots=True)
class WriterStats:
    """A snapshot of the writer, for health checks.

    Attributes:
        queue_depth: jobs waiting for the writer.
        transactions: group transactions committed since connect.
        jobs: jobs committed since connect.
        last_commit_seconds: how long the last group took from BEGIN to COMMIT.
        last_group_size: how many jobs the last group held.
        connections: writer connections (1 on SQLite; the writer pool's size on PostgreSQL).
        active: units of work running right now.

    """

    queue_depth: int
    transactions: int
    jobs: int
    last_commit_seconds: float | None
    last_group_size: int
    connections: int = 1
    active: int = 0


def run_raw_group(
    connection: sqlite3.Connection, works: Sequence[RawWork], own_transaction: bool
) -> list[Outcome]:
    """Run raw jobs, one SAVEPOINT each; in the writer's thread."""
    cursor = connection.cursor()
    try:
        if own_transaction:
            # BEGIN IMMEDIATE: take the write lock up front so a read-then-write inside a job
            # cannot fail with SQLITE_BUSY halfway through.
            cursor.execute("BEGIN IMMEDIATE")
        outcomes: list[Outcome] = []
        for work in works:
            cursor.execute("SAVEPOINT vstorage_job")
            try:
                value, changes = work(cursor)
            except Exception as exc:
                cursor.execute("ROLLBACK TO vstorage_job")
                cursor.execute("RELEASE vstorage_job")
                outcomes.append(Outcome(error=exc))
            else:
                cursor.execute("RELEASE vstorage_job")
                outcomes.append(Outcome(value=value, changes=changes))
        if own_transaction:
            cursor.execute("COMMIT")
        return outcomes
    except BaseException:
        if own_transaction and connection.in_transaction:
            connection.rollback()
        raise
    finally:
        cursor.close()


def _in_transaction(connection: sqlite3.Connection) -> bool:
    return connection.in_transaction


class Writer:
    """One writer connection fed by a bounded queue; see the module docstring."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_queue: int,
        max_group: int,
        on_commit: Callable[[list[Change]], None],
    ) -> None:
        self._engine = engine
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_queue)
        self._max_group = max_group
        self._on_commit = on_commit
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._sqlite: sqlite3.Connection | None = None
        self._closed = False
        self._transactions = 0
        self._jobs = 0
        self._last_commit: float | None = None
        self._last_group = 0
        self._busy = False

    async def start(self) -> None:
        """Open the writer connection and start serving the queue."""
        self._conn = await self._engine.connect()
        fairy = await self._conn.get_raw_connection()
        self._driver = fairy.driver_connection
        if not hasattr(self._driver, "_execute"):
            raise ConfigurationError("this aiosqlite version is not supported by vstorage")
        self._sqlite = self._driver._conn
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="vstorage-writer")

    # -- submitting work -------------------------------------------------------------------

    async def run(self, work: RawWork) -> Any:
        """Queue raw work and return its result once its group has committed.

        Raises:
            DatabaseClosedError: the writer is closed.

        """
        job = RawJob(done=asyncio.get_running_loop().create_future(), work=work)
        await self._enqueue(job)
        return await job.done

    @contextlib.asynccontextmanager
    async def lease(
        self, changes: list[Change], *, read_only: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """Borrow the writer connection, inside a savepoint of a group transaction.

        The body's changes are kept when it ends normally (rolled back when ``read_only``),
        and the context exits only after the group's COMMIT.

        Raises:
            DatabaseClosedError: the writer is closed.

        """
        loop = asyncio.get_running_loop()
        job = LeaseJob(
            done=loop.create_future(),
            changes=changes,
            granted=loop.create_future(),
            finished=loop.create_future(),
            read_only=read_only,
        )
        assert job.granted is not None and job.finished is not None
        await self._enqueue(job)
        try:
            session = await job.granted
        except BaseException:
            # Cancelled while the grant was on its way: hand the connection straight back.
            if job.granted.done() and not job.granted.cancelled():
                job.finished.set_result(False)
            job.done.cancel()
            raise
        try:
            yield session
        except BaseException:
            job.finished.set_result(False)
            job.done.cancel()
            raise
        job.finished.set_result(True)
        await job.done

    async def _enqueue(self, job: Job) -> None:
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        await self._queue.put(job)

    # -- serving ---------------------------------------------------------------------------

    def stats(self) -> WriterStats:
        """A snapshot of the queue and the last commit."""
        return WriterStats(
            queue_depth=self._queue.qsize(),
            transactions=self._transactions,
            jobs=self._jobs,
            last_commit_seconds=self._last_commit,
            last_group_size=self._last_group,
            active=int(self._busy),
        )

    async def in_transaction(self) -> bool:
        """Whether the writer connection has a transaction open (False between groups)."""
        assert self._driver is not None
        return bool(await self._driver._execute(_in_transaction, self._sqlite))

    async def execute_raw(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` on the writer's DBAPI connection in its thread (outside the queue)."""
        assert self._driver is not None
        return await self._driver._execute(fn, self._sqlite)

    async def _serve(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is _STOP:
                break
            group = [first]
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)
            await self._run_group(group)

    async def _run_group(self, group: list[Job]) -> None:
        live = [job for job in group if not job.abandoned()]
        if not live:
            return
        started = time.perf_counter()
        self._busy = True
        try:
            if all(isinstance(job, RawJob) for job in live):
                outcomes = await self._run_raw_only(live)
            else:
                outcomes = await self._run_mixed(live)
        except Exception as exc:
            error = translate(exc)
            if not isinstance(error, VStorageError):
                error = StorageError(f"the transaction failed ({type(exc).__name__})")
            logger.warning("vstorage: group of %d jobs rolled back: %r", len(live), exc)
            for job in live:
                job.fail(error)
            return
        finally:
            self._busy = False
        self._transactions += 1
        self._last_commit = time.perf_counter() - started
        self._last_group = len(live)
        for job, outcome in zip(live, outcomes, strict=True):
            self._settle(job, outcome)

    def _settle(self, job: Job, outcome: Outcome) -> None:
        if outcome.error is not None:
            error = translate(outcome.error)
            if error is not outcome.error and error.__cause__ is None:
                error.__cause__ = outcome.error
            job.fail(error)
            return
        self._jobs += 1
        changes = outcome.changes or job.changes
        if changes:
            self._on_commit(changes)
        job.resolve(outcome.value)

    async def _run_raw_only(self, jobs: list[Job]) -> list[Outcome]:
        works = [job.work for job in jobs if isinstance(job, RawJob) and job.work is not None]
        result: list[Outcome] = await self._driver._execute(
            run_raw_group, self._sqlite, works, True
        )
        return result

    async def _run_mixed(self, jobs: list[Job]) -> list[Outcome]:
        assert self._conn is not None
        await self._conn.begin()
        try:
            outcomes: list[Outcome] = []
            index = 0
            while index < len(jobs):
                job = jobs[index]
                if isinstance(job, LeaseJob):
                    outcomes.append(await self._lend(job))
                    index += 1
                    continue
                end = index
                while end < len(jobs) and isinstance(jobs[end], RawJob):
                    end += 1
                works = [j.work for j in jobs[index:end] if isinstance(j, RawJob) and j.work]
                outcomes.extend(
                    await self._driver._execute(run_raw_group, self._sqlite, works, False)
                )
                index = end
            await self._conn.commit()
        except BaseException:
            await self._conn.rollback()
            raise
        return outcomes

    async def _lend(self, job: LeaseJob) -> Outcome:
        assert self._conn is not None and job.granted is not None and job.finished is not None
        if job.granted.cancelled():
            return Outcome(error=asyncio.CancelledError())
        session = AsyncSession(
            bind=self._conn,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=True,
        )
        # The savepoint is opened before the caller's body runs, so everything the body does
        # (and only that) is undone by a rollback.
        await session.connection()
        if job.granted.cancelled():  # the caller gave up while the savepoint was opening
            await session.rollback()
            await session.close()
            return Outcome(error=asyncio.CancelledError())
        job.granted.set_result(session)
        keep = await job.finished
        try:
            if keep and not job.read_only:
                await session.commit()
            else:
                await session.rollback()
        except Exception as exc:
            await session.rollback()
            return Outcome(error=exc)
        finally:
            await session.close()
        if not keep:
            return Outcome(error=asyncio.CancelledError())
        return Outcome(value=None)

    # -- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Refuse new work, run everything already queued, then close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            await self._queue.put(_STOP)
            await self._task
            self._task = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, Job):
                item.fail(DatabaseClosedError("the database closed before this write ran"))
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
