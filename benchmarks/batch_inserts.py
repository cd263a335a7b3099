"""Batch inserts with audit: ``insert_many`` of 1k, 10k and 100k records against the ceiling.

One call, all or nothing, one audit row per record, validation of every value; the ceiling is
plain ``sqlite3`` ``executemany`` of the same rows and audit rows in one transaction.
"""

from __future__ import annotations

from benchmarks._measure import sample
from benchmarks._suite import Context, Result
from benchmarks.insert_throughput import raw_sqlite3_ceiling, vstorage_insert_many

SCENARIO = "batch_inserts"


def run(ctx: Context) -> list[Result]:
    """``insert_many`` and the raw ceiling at each batch size."""
    sizes = (1_000, 10_000) if ctx.quick else (1_000, 10_000, 100_000)
    results: list[Result] = []
    for size in sizes:
        results.append(
            Result(SCENARIO, "vstorage", f"{size:,} records", "records/s", params={"size": size})
        )
        results.append(
            Result(SCENARIO, "raw_sqlite3", f"{size:,} records", "records/s", params={"size": size})
        )
    for _ in range(ctx.repeats):
        for size in sizes:
            mine = next(r for r in results if r.matches(SCENARIO, "vstorage", size=size))
            raw = next(r for r in results if r.matches(SCENARIO, "raw_sqlite3", size=size))
            sample(ctx, mine, vstorage_insert_many, size, tables=("records", "vstorage_audit"))
            sample(ctx, raw, raw_sqlite3_ceiling, size, tables=("records", "audit_log"))
    return results
