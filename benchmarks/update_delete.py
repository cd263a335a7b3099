"""Update, delete and restore throughput, each mutation audited, durably on SQLite.

Every strategy works on records (``id``, ``name``, ``value``, ``created``) seeded beforehand
(not timed) in a fresh database file, WAL and ``synchronous=FULL``, auditing on. One record
is one changed data row plus its audit row (``before`` and ``after`` as JSON), committed.
The soft-delete model is the same record with a ``deleted_at`` column: its ``delete`` sets
the column, its ``restore`` clears it; the hard-delete model's ``delete`` removes the row.

Unlike inserts, these calls read the row before writing it (for the audit's ``before`` and to
skip missing or deleted records), inside the writer's transaction, and run their statements on
the writer's SQLAlchemy session rather than the compiled statements inserts use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks._measure import sample
from benchmarks._suite import Context, Result
from benchmarks.insert_throughput import Record
from vstorage import AsyncDatabase, AsyncModelAccessor

SCENARIO = "update_delete"
TASKS = 50
ACTOR = "bench"
COMPONENT = "records"
SOFT_COMPONENT = "soft_records"
AUDIT_TABLE = "vstorage_audit"


class Base(DeclarativeBase):
    """Declarative base of the soft-delete model."""


class SoftRecord(Base):
    """``Record`` with a ``deleted_at`` column: deleted softly, restorable."""

    __tablename__ = "soft_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[int]
    created: Mapped[float]
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def _url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


async def _seed(accessor: AsyncModelAccessor[Any], n: int) -> list[int]:
    """Insert ``n`` records in one ``insert_many`` call (before timing); their keys."""
    model = accessor.model
    now = time.time()
    stored = await accessor.insert_many(
        [model(name=f"item-{i:06d}", value=i, created=now + i / 1000) for i in range(n)],
        actor=ACTOR,
    )
    return [obj.id for obj in stored]


async def _concurrently(
    keys: Iterable[int], call: Callable[[int], Awaitable[bool]], errors: Counter[str]
) -> float:
    """``TASKS`` tasks share ``keys``, one ``call`` per key; changed records per second.

    A call returning False (nothing found to change) is counted as an error.
    """
    pending = iter(keys)
    done = 0

    async def worker() -> None:
        nonlocal done
        for key in pending:
            try:
                changed = await call(key)
            except Exception as exc:
                errors[_describe(exc)] += 1
                continue
            if changed:
                done += 1
            else:
                errors["nothing changed"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    return done / (time.perf_counter() - started)


# -- strategies ---------------------------------------------------------------------------


def vstorage_update(path: Path, n: int, errors: Counter[str]) -> float:
    """``TASKS`` tasks each calling ``update(id, value=...)`` for one record at a time.

    Every seeded record is updated once (its ``value`` changes), audit ``update``. Records/s
    from the first call to the last commit.
    """
    return asyncio.run(_vstorage_update(path, n, errors, in_transaction=False))


def vstorage_update_in_transaction(path: Path, n: int, errors: Counter[str]) -> float:
    """As :func:`vstorage_update`, each call inside its own ``async with db.transaction()``.

    The call joins the block's transaction as a nested savepoint: what an application pays
    for wrapping a single update in an explicit unit of work. Records/s, first block to last
    commit.
    """
    return asyncio.run(_vstorage_update(path, n, errors, in_transaction=True))


async def _vstorage_update(
    path: Path, n: int, errors: Counter[str], *, in_transaction: bool
) -> float:
    async with AsyncDatabase(_url(path)) as db:
        records = AsyncModelAccessor(Record, COMPONENT, database=db)
        await db.create_all()
        keys = await _seed(records, n)

        async def update(key: int) -> bool:
            return await records.update(key, value=key + n, actor=ACTOR) is not None

        async def update_in_transaction(key: int) -> bool:
            async with db.transaction():
                return await update(key)

        return await _concurrently(
            keys, update_in_transaction if in_transaction else update, errors
        )


def vstorage_delete_soft(path: Path, n: int, errors: Counter[str]) -> float:
    """``TASKS`` tasks each calling ``delete(id)`` on the soft-delete model.

    Sets ``deleted_at``, audit ``soft_delete``. Records/s, first call to last commit.
    """
    return asyncio.run(_vstorage_delete(path, n, errors, soft=True))


def vstorage_delete_hard(path: Path, n: int, errors: Counter[str]) -> float:
    """``TASKS`` tasks each calling ``delete(id)`` on the hard-delete model.

    Removes the row, audit ``delete``. Records/s, first call to last commit.
    """
    return asyncio.run(_vstorage_delete(path, n, errors, soft=False))


def _accessor(db: AsyncDatabase, *, soft: bool) -> AsyncModelAccessor[Any]:
    """The soft-delete or the hard-delete model's accessor, bound to ``db``."""
    if soft:
        return AsyncModelAccessor(SoftRecord, SOFT_COMPONENT, database=db)
    return AsyncModelAccessor(Record, COMPONENT, database=db)


async def _vstorage_delete(path: Path, n: int, errors: Counter[str], *, soft: bool) -> float:
    async with AsyncDatabase(_url(path)) as db:
        accessor = _accessor(db, soft=soft)
        await db.create_all()
        keys = await _seed(accessor, n)

        async def delete(key: int) -> bool:
            return await accessor.delete(key, actor=ACTOR)

        return await _concurrently(keys, delete, errors)


def vstorage_restore(path: Path, n: int, errors: Counter[str]) -> float:
    """``TASKS`` tasks each calling ``restore(id)`` on soft-deleted records.

    The records are seeded and soft-deleted with ``delete_many`` before timing; each restore
    clears ``deleted_at``, audit ``restore``. Records/s, first call to last commit.
    """
    return asyncio.run(_vstorage_restore(path, n, errors))


async def _vstorage_restore(path: Path, n: int, errors: Counter[str]) -> float:
    async with AsyncDatabase(_url(path)) as db:
        records = AsyncModelAccessor(SoftRecord, SOFT_COMPONENT, database=db)
        await db.create_all()
        keys = await _seed(records, n)
        await records.delete_many(keys, actor=ACTOR)

        async def restore(key: int) -> bool:
            return await records.restore(key, actor=ACTOR)

        return await _concurrently(keys, restore, errors)


def vstorage_delete_many_soft(path: Path, n: int, errors: Counter[str]) -> float:
    """One ``delete_many`` call of ``n`` ids on the soft-delete model, one transaction.

    One audit ``soft_delete`` row per record. Records/s over the call.
    """
    return asyncio.run(_vstorage_delete_many(path, n, errors, soft=True))


def vstorage_delete_many_hard(path: Path, n: int, errors: Counter[str]) -> float:
    """One ``delete_many`` call of ``n`` ids on the hard-delete model, one transaction.

    One audit ``delete`` row per record. Records/s over the call.
    """
    return asyncio.run(_vstorage_delete_many(path, n, errors, soft=False))


async def _vstorage_delete_many(path: Path, n: int, errors: Counter[str], *, soft: bool) -> float:
    async with AsyncDatabase(_url(path)) as db:
        accessor = _accessor(db, soft=soft)
        await db.create_all()
        keys = await _seed(accessor, n)
        started = time.perf_counter()
        try:
            deleted = await accessor.delete_many(keys, actor=ACTOR)
        except Exception as exc:
            errors[_describe(exc)] += n
            deleted = 0
        elapsed = time.perf_counter() - started
    if 0 < deleted < n:
        errors["nothing changed"] += n - deleted
    return deleted / elapsed


def raw_sqlite3_update(path: Path, n: int, errors: Counter[str]) -> float:
    """The baseline: plain ``sqlite3``, one transaction updating every record, with audit.

    On the schema and rows vstorage created: BEGIN IMMEDIATE, read the rows (for the audit's
    ``before``), ``executemany`` UPDATE of ``value``, ``executemany`` INSERT of one audit row
    per record with ``before``/``after`` built by ``json.dumps``, COMMIT. WAL,
    ``synchronous=FULL``. No validation, no per-record isolation. Records/s over all of it.
    """
    asyncio.run(_seed_file(path, n))
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        rows = connection.execute("SELECT id, name, value, created FROM records").fetchall()
        stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        updates = []
        audits = []
        for key, name, value, created in rows:
            before = {"id": key, "name": name, "value": value, "created": created}
            after = {**before, "value": key + n}
            updates.append((key + n, key))
            audits.append(
                (
                    stamp,
                    COMPONENT,
                    str(key),
                    "update",
                    ACTOR,
                    json.dumps(before),
                    json.dumps(after),
                )
            )
        connection.executemany("UPDATE records SET value = ? WHERE id = ?", updates)
        connection.executemany(
            f"INSERT INTO {AUDIT_TABLE} (timestamp, component, record_id, operation, actor,"
            " before, after) VALUES (?, ?, ?, ?, ?, ?, ?)",
            audits,
        )
        connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    if len(rows) != n:
        errors["nothing changed"] += n - len(rows)
    return len(rows) / elapsed


async def _seed_file(path: Path, n: int) -> None:
    """vstorage's tables for ``Record`` with ``n`` seeded records, for the raw baseline."""
    async with AsyncDatabase(_url(path)) as db:
        records = AsyncModelAccessor(Record, COMPONENT, database=db)
        await db.create_all()
        await _seed(records, n)


# -- the suite ----------------------------------------------------------------------------

Strategy = Callable[[Path, int, Counter[str]], float]


def run(ctx: Context) -> list[Result]:
    """Every strategy ``ctx.repeats`` times, interleaved, each on a fresh database file."""
    n = ctx.size(2_000, 300)
    batch = ctx.size(1_000, 500)
    raw_n = ctx.size(10_000, 2_000)
    concurrent = f"{TASKS} tasks, one call per record"

    def vstorage(operation: str, model: str, label: str, records: int, **params: Any) -> Result:
        return Result(
            SCENARIO,
            "vstorage",
            label,
            "records/s",
            params={"operation": operation, "model": model, "records": records, **params},
        )

    plan: list[tuple[Strategy, int, Result]] = [
        (
            vstorage_update,
            n,
            vstorage("update", "hard", f"update, {concurrent}", n, tasks=TASKS),
        ),
        (
            vstorage_update_in_transaction,
            n,
            vstorage(
                "update_in_transaction",
                "hard",
                f"update in db.transaction(), {concurrent}",
                n,
                tasks=TASKS,
            ),
        ),
        (
            vstorage_delete_soft,
            n,
            vstorage("delete", "soft", f"soft delete, {concurrent}", n, tasks=TASKS),
        ),
        (
            vstorage_delete_hard,
            n,
            vstorage("delete", "hard", f"hard delete, {concurrent}", n, tasks=TASKS),
        ),
        (
            vstorage_restore,
            n,
            vstorage("restore", "soft", f"restore, {concurrent}", n, tasks=TASKS),
        ),
        (
            vstorage_delete_many_soft,
            batch,
            vstorage("delete_many", "soft", f"soft delete_many of {batch:,} ids", batch),
        ),
        (
            vstorage_delete_many_hard,
            batch,
            vstorage("delete_many", "hard", f"hard delete_many of {batch:,} ids", batch),
        ),
        (
            raw_sqlite3_update,
            raw_n,
            Result(
                SCENARIO,
                "raw_sqlite3",
                "update, one transaction, executemany + audit rows",
                "records/s",
                params={"operation": "update", "model": "hard", "records": raw_n},
            ),
        ),
    ]
    for _ in range(ctx.repeats):
        for strategy, size, result in plan:
            sample(ctx, result, strategy, size)
    return [result for _, _, result in plan]
