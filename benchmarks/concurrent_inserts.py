"""Single-record inserts with audit, from 1, 10, 100 and 1,000 concurrent tasks.

The question an application asks: many handlers each store one record and wait for it to be
durable. Every strategy writes one data row plus one audit row per record, WAL and
``synchronous=FULL``, on a fresh file; rows/s counts committed records.

The same runs on PostgreSQL, when a server is available (:mod:`benchmarks.postgres_inserts`):
vstorage and the naive SQLAlchemy baseline, in a fresh schema per sample, reported beside
SQLite.
"""

from __future__ import annotations

from benchmarks._measure import sample
from benchmarks._suite import Context, Result
from benchmarks.insert_throughput import (
    naive_sqlalchemy_async,
    raw_sqlite3_ceiling,
    vstorage_concurrent_inserts,
)
from benchmarks.postgres_inserts import (
    naive_sqlalchemy_postgresql,
    sample_postgresql,
    server_url,
    vstorage_postgresql,
)

SCENARIO = "concurrent_inserts"
TASKS = (1, 10, 100, 1000)


def run(ctx: Context) -> list[Result]:
    """vstorage and the naive SQLAlchemy async ORM at each concurrency, and the ceiling."""
    vstorage = _by_tasks("vstorage")
    naive = _by_tasks("naive_sqlalchemy")
    ceiling = Result(SCENARIO, "raw_sqlite3", "executemany, one transaction", "records/s")
    records = ctx.size(5_000, 2_000)
    naive_records = ctx.size(1_000, 300)
    for _ in range(ctx.repeats):
        for tasks in TASKS:
            sample(
                ctx,
                vstorage[tasks],
                vstorage_concurrent_inserts,
                max(records, tasks),
                tables=("records", "vstorage_audit"),
                tasks=tasks,
            )
            sample(
                ctx,
                naive[tasks],
                naive_sqlalchemy_async,
                max(naive_records, tasks),
                tables=("records", "audit_log"),
                tasks=tasks,
            )
        sample(
            ctx,
            ceiling,
            raw_sqlite3_ceiling,
            ctx.size(10_000, 10_000),
            tables=("records", "audit_log"),
        )
    return [*vstorage.values(), *naive.values(), ceiling, *_postgresql(ctx, records, naive_records)]


def _by_tasks(strategy: str, skipped: str = "") -> dict[int, Result]:
    """One result of ``strategy`` per concurrency."""
    return {
        tasks: Result(
            SCENARIO,
            strategy,
            f"{tasks} tasks",
            "records/s",
            params={"tasks": tasks},
            skipped=skipped,
        )
        for tasks in TASKS
    }


def _postgresql(ctx: Context, records: int, naive_records: int) -> list[Result]:
    """vstorage and the naive baseline on PostgreSQL, at each concurrency."""
    url, reason = server_url()
    strategies = (
        ("vstorage_postgresql", vstorage_postgresql, records, "vstorage_audit"),
        ("naive_sqlalchemy_postgresql", naive_sqlalchemy_postgresql, naive_records, "audit_log"),
    )
    results = {
        (name, tasks): result
        for name, *_ in strategies
        for tasks, result in _by_tasks(name, skipped=reason).items()
    }
    if url is None:
        return list(results.values())
    for _ in range(ctx.repeats):
        for name, function, count, audit in strategies:
            for tasks in TASKS:
                sample_postgresql(
                    ctx,
                    results[name, tasks],
                    function,
                    url,
                    max(count, tasks),
                    ("records", audit),
                    tasks=tasks,
                )
    return list(results.values())
