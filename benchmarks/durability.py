"""What durability costs: the same write load with ``synchronous=FULL`` and ``NORMAL``.

``FULL`` makes every commit durable across a power cut (an fsync of the WAL per commit);
``NORMAL`` may lose the last transactions on a power cut but never corrupts the file. With
group commit the fsync is shared by every job of a group, so vstorage should lose little
going from ``NORMAL`` to ``FULL``; raw ``sqlite3`` with one COMMIT per record pays the fsync
per record (the cost model's two per-row rows).

Every strategy inserts the same records (``id``, ``name``, ``value``, ``created``), each with
one audit row, on a fresh database file in WAL mode. Throughput is in records per second: one
record is one data row plus its audit row, committed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from benchmarks._measure import sample
from benchmarks._suite import Context, Result
from benchmarks.insert_throughput import Record, vstorage_concurrent_inserts
from vstorage import AsyncDatabase, AsyncModelAccessor

SCENARIO = "durability"
TASKS = 100
ACTOR = "bench"
COMPONENT = "records"
AUDIT_TABLE = "vstorage_audit"
LEVELS = ("full", "normal")

Payload = list[tuple[str, int, float]]


def make_payload(count: int) -> Payload:
    """``count`` records as plain tuples ``(name, value, created)``, built before timing."""
    now = time.time()
    return [(f"item-{i:06d}", i, now + i / 1000) for i in range(count)]


def _url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


# -- strategies ---------------------------------------------------------------------------


def vstorage_inserts(path: Path, n: int, errors: Counter[str], *, synchronous: str) -> float:
    """``TASKS`` tasks inserting one record each through ``AsyncModelAccessor.insert``.

    ``AsyncDatabase(..., synchronous=synchronous)``, auditing on. The tasks share the
    ``n`` records; rows/s from the first call to the last commit, committed records only.
    """
    return vstorage_concurrent_inserts(path, n, errors, tasks=TASKS, synchronous=synchronous)


def raw_sqlite3_commit_per_record(
    path: Path, n: int, errors: Counter[str], *, synchronous: str
) -> float:
    """Plain ``sqlite3``, one transaction per record: BEGIN, data row, audit row, COMMIT.

    WAL, ``PRAGMA synchronous`` as given, on the schema vstorage creates (same tables and
    indexes). The audit row's JSON is built with ``json.dumps`` per record. No concurrency,
    no validation: what one COMMIT per record costs at each level. Rows/s over the loop.
    """
    payload = make_payload(n)
    asyncio.run(_create_schema(path))
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        insert_audit = (
            f"INSERT INTO {AUDIT_TABLE} (timestamp, component, record_id, operation, actor,"
            " before, after) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        started = time.perf_counter()
        for name, value, created in payload:
            try:
                connection.execute("BEGIN IMMEDIATE")
                cursor = connection.execute(
                    "INSERT INTO records (name, value, created) VALUES (?, ?, ?)",
                    (name, value, created),
                )
                key = cursor.lastrowid
                after = {"id": key, "name": name, "value": value, "created": created}
                stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
                connection.execute(
                    insert_audit,
                    (stamp, COMPONENT, str(key), "create", ACTOR, None, json.dumps(after)),
                )
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                errors[_describe(exc)] += 1
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    return (len(payload) - errors.total()) / elapsed


async def _create_schema(path: Path) -> None:
    """The tables and indexes vstorage creates for ``Record``, so raw runs write the same."""
    async with AsyncDatabase(_url(path)) as db:
        AsyncModelAccessor(Record, COMPONENT, database=db)
        await db.create_all()


# -- the suite ----------------------------------------------------------------------------

Strategy = Callable[..., float]


def run(ctx: Context) -> list[Result]:
    """Every strategy at both levels, ``ctx.repeats`` times, interleaved, fresh files."""
    vstorage_n = ctx.size(20_000, 5_000)
    raw_n = ctx.size(5_000, 2_000)
    plan: list[tuple[Strategy, int, Result]] = []
    for level in LEVELS:
        plan.append(
            (
                vstorage_inserts,
                vstorage_n,
                Result(
                    SCENARIO,
                    "vstorage",
                    f"{TASKS} tasks, insert per record, synchronous={level.upper()}",
                    "records/s",
                    params={"synchronous": level, "tasks": TASKS, "records": vstorage_n},
                ),
            )
        )
        plan.append(
            (
                raw_sqlite3_commit_per_record,
                raw_n,
                Result(
                    SCENARIO,
                    "raw_sqlite3",
                    f"one COMMIT per record, synchronous={level.upper()}",
                    "records/s",
                    params={"synchronous": level, "commit": "per_record", "records": raw_n},
                ),
            )
        )
    for _ in range(ctx.repeats):
        for strategy, n, result in plan:
            sample(ctx, result, strategy, n, synchronous=result.params["synchronous"])
    return [result for _, _, result in plan]
