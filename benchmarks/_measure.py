"""Running a strategy on a fresh database file and checking what it wrote."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._suite import Context, Result


def count_rows(path: Path, *tables: str) -> list[int]:
    """Row counts of ``tables`` in the database at ``path``."""
    connection = sqlite3.connect(path)
    try:
        return [connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables]
    finally:
        connection.close()


def sample(
    ctx: Context,
    result: Result,
    strategy: Callable[..., float],
    records: int,
    *,
    tables: tuple[str, str] | None = None,
    **options: Any,
) -> None:
    """Run ``strategy`` once on a fresh file and add its figure to ``result``.

    With ``tables`` (data table, audit table), the rows on disk are counted afterwards: a
    strategy that acknowledged records it did not write is reported, not silently fast.
    """
    errors: Counter[str] = Counter()
    with ctx.tempdir() as directory:
        path = directory / "bench.db"
        rate = strategy(path, records, errors, **options)
        if tables is not None:
            expected = records - errors.total()
            found = count_rows(path, *tables)
            if found != [expected, expected]:
                errors[f"expected {expected} data and audit rows, found {found}"] += 1
    report(ctx, result, rate, errors)


def report(ctx: Context, result: Result, rate: float, errors: Counter[str]) -> None:
    """Add one sample to ``result`` and print it."""
    result.samples.append(rate)
    result.errors.update(errors)
    failed = f", {errors.total()} failed" if errors else ""
    ctx.progress(
        f"  {result.scenario}/{result.strategy} {result.label}: {rate:,.0f} {result.unit}{failed}"
    )
