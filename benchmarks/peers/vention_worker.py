"""Measure vention-storage's write throughput; run under the Python 3.10 of its environment.

Usage: ``python -I vention_worker.py DATABASE RECORDS MODE [--threads N]``, where MODE is

- ``insert``: one thread calling ``ModelAccessor.insert`` for one record at a time;
- ``insert_threads``: the same per-record calls from ``--threads`` threads at once (100 by
  default), taking records from one shared queue; failures (e.g. "database is locked") are
  counted per kind, not retried;
- ``insert_many``: one ``ModelAccessor.insert_many`` call with every record, as shipped.

vention-storage is configured the way its documentation shows: ``database.set_database_url``
then the tables created on its engine, a ``ModelAccessor`` with auditing on (the default), and
nothing else: its engine's own settings (SQLAlchemy's default pool, SQLite's default rollback
journal and ``synchronous``, the driver's 5 s busy timeout) are what is measured.

Prints ONE JSON line on stdout: the throughput (committed records per second, from the first
call to the last return), the failures by kind, and what is on disk afterwards, counted with
plain ``sqlite3`` (data rows, audit rows, records reported as inserted but missing, data rows
without their audit row). This file imports only the standard library, sqlmodel and
vention-storage's ``storage`` package: it does not run in the suite's interpreter.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import threading
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlmodel import Field, SQLModel
from storage import database
from storage.accessor import ModelAccessor
from storage.auditor import AuditLog

ACTOR = "bench"
COMPONENT = "records"
LOCKED = "database is locked"
MODES = ("insert", "insert_threads", "insert_many")

Payload = list[tuple[str, int, float]]


class Record(SQLModel, table=True):
    """The record every strategy of the suite inserts: same table and columns."""

    __tablename__ = "records"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    value: int
    created: float


def make_payload(count: int) -> Payload:
    """``count`` records as plain tuples ``(name, value, created)``, built before timing."""
    now = time.time()
    return [(f"item-{i:06d}", i, now + i / 1000) for i in range(count)]


def describe(exc: BaseException) -> str:
    """A failure's kind: "database is locked", or the exception's type and first line."""
    text = str(exc)
    if LOCKED in text:
        return LOCKED
    first = text.splitlines()[0][:120] if text else ""
    return f"{type(exc).__name__}: {first}"


def insert_one_by_one(
    accessor: ModelAccessor[Record], payload: Payload, threads: int, errors: Counter[str]
) -> tuple[float, list[int]]:
    """Per-record ``accessor.insert`` calls from ``threads`` threads sharing one queue.

    Returns the elapsed seconds (first call to last return) and the ids of the records
    ``insert`` returned.
    """
    pending = iter(payload)
    take = threading.Lock()
    record_lock = threading.Lock()
    ids: list[int] = []
    # Every thread starts inserting at once, when the clock starts.
    start = threading.Barrier(threads + 1 if threads > 1 else 1)

    def worker() -> None:
        start.wait()
        while True:
            with take:
                item = next(pending, None)
            if item is None:
                return
            name, value, created = item
            try:
                saved = accessor.insert(
                    Record(name=name, value=value, created=created), actor=ACTOR
                )
            except Exception as exc:
                with record_lock:
                    errors[describe(exc)] += 1
            else:
                with record_lock:
                    ids.append(int(saved.id))  # type: ignore[arg-type]

    if threads == 1:
        # No thread: the calling thread inserts, the way a sequential script does.
        started = time.perf_counter()
        worker()
        return time.perf_counter() - started, ids

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, ids


def insert_batch(
    accessor: ModelAccessor[Record], payload: Payload, errors: Counter[str]
) -> tuple[float, list[int]]:
    """One ``accessor.insert_many`` call over instances built beforehand."""
    objs = [Record(name=name, value=value, created=created) for name, value, created in payload]
    ids: list[int] = []
    started = time.perf_counter()
    try:
        saved = accessor.insert_many(objs, actor=ACTOR)
    except Exception as exc:
        errors[describe(exc)] += len(payload)
    else:
        ids = [int(obj.id) for obj in saved]  # type: ignore[arg-type]
    return time.perf_counter() - started, ids


def verify(path: Path, ids: list[int]) -> dict[str, Any]:
    """What is on disk, read with plain ``sqlite3`` once the engine is disposed."""
    audit_table = AuditLog.__tablename__
    connection = sqlite3.connect(path)
    try:
        connection.execute("CREATE TEMP TABLE reported (id INTEGER PRIMARY KEY)")
        connection.executemany("INSERT OR IGNORE INTO reported VALUES (?)", [(i,) for i in ids])

        def scalar(sql: str, *args: Any) -> Any:
            return connection.execute(sql, args).fetchone()[0]

        return {
            "data_rows": scalar("SELECT count(*) FROM records"),
            "audit_rows": scalar(
                f"SELECT count(*) FROM {audit_table} WHERE component = ? AND operation = 'create'",
                COMPONENT,
            ),
            "reported_ids": len(ids),
            "distinct_reported_ids": scalar("SELECT count(*) FROM reported"),
            "reported_missing": scalar(
                "SELECT count(*) FROM reported WHERE id NOT IN (SELECT id FROM records)"
            ),
            "data_without_audit": scalar(
                f"SELECT count(*) FROM records WHERE id NOT IN (SELECT record_id FROM"
                f" {audit_table} WHERE component = ? AND operation = 'create')",
                COMPONENT,
            ),
            "audit_without_data": scalar(
                f"SELECT count(*) FROM {audit_table} WHERE component = ?"
                " AND record_id NOT IN (SELECT id FROM records)",
                COMPONENT,
            ),
            "journal_mode": scalar("PRAGMA journal_mode"),
            "integrity": scalar("PRAGMA quick_check"),
        }
    finally:
        connection.close()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run one mode on a fresh database and print the JSON line."""
    parser = argparse.ArgumentParser(description="Measure vention-storage's write throughput.")
    parser.add_argument("database", type=Path, help="SQLite file to create (must not exist)")
    parser.add_argument("records", type=int, help="how many records to insert")
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--threads", type=int, default=100, help="threads for insert_threads")
    args = parser.parse_args(argv)

    path: Path = args.database.resolve()
    if path.exists():
        parser.error(f"{path} exists: the worker writes to a fresh database only")
    threads = args.threads if args.mode == "insert_threads" else 1

    database.set_database_url(f"sqlite:///{path}")
    engine = database.get_engine()
    SQLModel.metadata.create_all(engine)
    accessor = ModelAccessor(Record, COMPONENT)
    pool_class = type(engine.pool).__name__

    payload = make_payload(args.records)
    errors: Counter[str] = Counter()
    if args.mode == "insert_many":
        elapsed, ids = insert_batch(accessor, payload, errors)
    else:
        elapsed, ids = insert_one_by_one(accessor, payload, threads, errors)
    engine.dispose()

    committed = len(ids)
    print(
        json.dumps(
            {
                "mode": args.mode,
                "records": args.records,
                "threads": threads,
                "committed": committed,
                "elapsed_s": elapsed,
                "records_per_s": committed / elapsed if elapsed > 0 else 0.0,
                "errors": dict(errors),
                "disk": verify(path, ids),
                "engine": {"pool": pool_class, "url": str(engine.url)},
                "versions": {
                    "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version,
                    "vention-storage": _version("vention-storage"),
                    "sqlmodel": _version("sqlmodel"),
                    "sqlalchemy": _version("sqlalchemy"),
                },
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
