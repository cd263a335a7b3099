"""Insert strategies shared by the insert scenarios: each record with one audit row, durably.

Every strategy writes the same records (``id``, ``name``, ``value``, ``created``) plus one
audit row per record, on a fresh database file in a temporary directory, with WAL and
``synchronous=FULL``. Throughput is given in records per second: one record is one data row
plus its audit row, committed and durable.

Only figures from the same run are comparable: on small machines separate runs swing widely
with core scheduling, so the suite interleaves the strategies and repeats them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Index, String, Text, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vstorage import AsyncDatabase, AsyncModelAccessor

TASKS = 100
ACTOR = "bench"
COMPONENT = "records"
BATCH = 10_000
LOCKED = "database is locked"

Payload = list[tuple[str, int, float]]


class Base(DeclarativeBase):
    """Declarative base of the benchmark models."""


class Record(Base):
    """The record every strategy inserts."""

    __tablename__ = "records"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[int]
    created: Mapped[float]


class AuditRow(Base):
    """A hand-written audit trail, shaped like vstorage's own (same columns and indexes)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_record", "component", "record_id"),
        Index("ix_audit_log_timestamp", "timestamp"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    timestamp: Mapped[dt.datetime]
    component: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


def make_payload(count: int) -> Payload:
    """``count`` records as plain tuples ``(name, value, created)``, built before timing."""
    now = time.time()
    return [(f"item-{i:06d}", i, now + i / 1000) for i in range(count)]


def _sqlite_url(path: Path, driver: str = "sqlite") -> str:
    return f"{driver}:///{path.resolve()}"


# -- strategies ---------------------------------------------------------------------------


def vstorage_concurrent_inserts(
    path: Path, n: int, errors: Counter[str], *, tasks: int = TASKS, synchronous: str = "full"
) -> float:
    """Many callers inserting one record each, the way an application's handlers do.

    ``TASKS`` asyncio tasks run at once, each calling ``AsyncModelAccessor.insert`` for one
    record at a time until ``n`` records are in. Auditing on, ``synchronous=FULL`` (the
    defaults). Measures the writer queue's group commit under concurrent single-record calls:
    rows/s from the first call to the last commit.
    """
    return asyncio.run(_vstorage_concurrent(path, make_payload(n), errors, tasks, synchronous))


async def _vstorage_concurrent(
    path: Path, payload: Payload, errors: Counter[str], tasks: int, synchronous: str
) -> float:
    async with AsyncDatabase(_sqlite_url(path), synchronous=synchronous) as db:
        return await concurrent_accessor_inserts(db, payload, errors, tasks)


async def concurrent_accessor_inserts(
    db: AsyncDatabase, payload: Payload, errors: Counter[str], tasks: int
) -> float:
    """``tasks`` tasks calling ``insert`` for one record at a time; records/s (any backend)."""
    records = AsyncModelAccessor(Record, COMPONENT, database=db)
    await db.create_all()
    pending = iter(payload)

    async def worker() -> None:
        # Tasks share one iterator: each record is taken by exactly one task.
        for name, value, created in pending:
            try:
                await records.insert(Record(name=name, value=value, created=created), actor=ACTOR)
            except Exception as exc:
                errors[_describe(exc)] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    return (len(payload) - errors.total()) / elapsed


def vstorage_insert_many(path: Path, n: int, errors: Counter[str]) -> float:
    """One ``AsyncModelAccessor.insert_many`` call of ``n`` records, auditing on.

    Measures the bulk path: validation, audit rows and one transaction for the whole batch;
    rows/s over the call alone (the model instances are the caller's and built beforehand).
    """
    return asyncio.run(_vstorage_many(path, make_payload(n), errors))


async def _vstorage_many(path: Path, payload: Payload, errors: Counter[str]) -> float:
    async with AsyncDatabase(_sqlite_url(path)) as db:
        records = AsyncModelAccessor(Record, COMPONENT, database=db)
        await db.create_all()
        objs = [Record(name=name, value=value, created=created) for name, value, created in payload]
        started = time.perf_counter()
        try:
            await records.insert_many(objs, actor=ACTOR)
        except Exception as exc:
            errors[_describe(exc)] += len(payload)
        elapsed = time.perf_counter() - started
    return (len(payload) - errors.total()) / elapsed


def naive_sqlalchemy_async(
    path: Path, n: int, errors: Counter[str], *, tasks: int = TASKS
) -> float:
    """The baseline: SQLAlchemy async ORM on aiosqlite, one session and commit per record.

    ``TASKS`` tasks at once; each record gets a new ``AsyncSession``, the record and a
    hand-built audit row are added and committed. WAL, ``synchronous=FULL``,
    ``busy_timeout=5000``, default connection pool. "database is locked" and other failures
    are counted, not retried; rows/s counts committed records only.
    """
    return asyncio.run(_naive(path, make_payload(n), errors, tasks))


async def _naive(path: Path, payload: Payload, errors: Counter[str], tasks: int) -> float:
    engine = create_async_engine(_sqlite_url(path, "sqlite+aiosqlite"))

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: sqlite3.Connection, record: object) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode = WAL", "synchronous = FULL", "busy_timeout = 5000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    try:
        return await naive_session_inserts(engine, payload, errors, tasks)
    finally:
        await engine.dispose()


async def naive_session_inserts(
    engine: AsyncEngine, payload: Payload, errors: Counter[str], tasks: int
) -> float:
    """Create the tables, then ``tasks`` tasks with a new session per record: add it and an
    audit row, commit. Records/s, from the first record to the last commit."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    pending = iter(payload)

    async def worker() -> None:
        for name, value, created in pending:
            try:
                async with AsyncSession(engine) as session:
                    record = Record(name=name, value=value, created=created)
                    session.add(record)
                    await session.flush()
                    after = {"id": record.id, "name": name, "value": value, "created": created}
                    session.add(
                        AuditRow(
                            timestamp=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                            component=COMPONENT,
                            record_id=str(record.id),
                            operation="create",
                            actor=ACTOR,
                            before=None,
                            after=json.dumps(after),
                        )
                    )
                    await session.commit()
            except (sa_exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
                errors[_describe(exc)] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return (len(payload) - errors.total()) / (time.perf_counter() - started)


def raw_sqlite3_ceiling(path: Path, n: int, errors: Counter[str]) -> float:
    """The ceiling: plain ``sqlite3``, one transaction, two ``executemany`` calls.

    WAL, ``synchronous=FULL``. ``n`` data rows with explicit keys, then ``n`` audit rows whose
    JSON is built with ``json.dumps`` per row, then COMMIT. No validation, no per-record
    isolation: what SQLite and the driver can do at best. Rows/s from building the rows to
    the commit.
    """
    payload = make_payload(n)
    engine = create_engine(_sqlite_url(path))
    Base.metadata.create_all(engine)
    engine.dispose()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        started = time.perf_counter()
        rows = [(i, name, value, created) for i, (name, value, created) in enumerate(payload, 1)]
        stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        audits = [
            (
                stamp,
                COMPONENT,
                str(i),
                "create",
                ACTOR,
                None,
                json.dumps({"id": i, "name": name, "value": value, "created": created}),
            )
            for i, name, value, created in rows
        ]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO records (id, name, value, created) VALUES (?, ?, ?, ?)", rows
        )
        connection.executemany(
            "INSERT INTO audit_log (timestamp, component, record_id, operation, actor,"
            " before, after) VALUES (?, ?, ?, ?, ?, ?, ?)",
            audits,
        )
        connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    return len(rows) / elapsed


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if LOCKED in text or type(exc).__name__ == "DatabaseBusyError":
        return LOCKED
    return f"{type(exc).__name__}: {text.splitlines()[0][:120] if text else ''}"
