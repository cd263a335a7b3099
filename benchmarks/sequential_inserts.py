"""Sequential single-record inserts with audit: one caller, waiting for each record.

The simplest program there is: store a record, wait until it is durable, store the next. With
one caller there is nothing to group, so every strategy pays one durable COMMIT per record;
the scenario shows what each layer adds on top of that fsync.
"""

from __future__ import annotations

from benchmarks._measure import sample
from benchmarks._suite import Context, Result
from benchmarks.durability import raw_sqlite3_commit_per_record
from benchmarks.insert_throughput import naive_sqlalchemy_async, vstorage_concurrent_inserts

SCENARIO = "sequential_inserts"


def run(ctx: Context) -> list[Result]:
    """vstorage, the naive SQLAlchemy async ORM and raw sqlite3, one caller each."""
    records = ctx.size(1_000, 300)
    results = {
        "vstorage": Result(SCENARIO, "vstorage", "one caller, insert()", "records/s"),
        "naive": Result(
            SCENARIO, "naive_sqlalchemy", "one caller, session per record", "records/s"
        ),
        "raw": Result(SCENARIO, "raw_sqlite3", "one COMMIT per record", "records/s"),
    }
    for _ in range(ctx.repeats):
        sample(
            ctx,
            results["vstorage"],
            vstorage_concurrent_inserts,
            records,
            tables=("records", "vstorage_audit"),
            tasks=1,
        )
        sample(
            ctx,
            results["naive"],
            naive_sqlalchemy_async,
            records,
            tables=("records", "audit_log"),
            tasks=1,
        )
        sample(
            ctx,
            results["raw"],
            raw_sqlite3_commit_per_record,
            records,
            tables=("records", "vstorage_audit"),
            synchronous="full",
        )
    return list(results.values())
