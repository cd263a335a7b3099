"""Running strategies repeatedly on fresh database files, and collecting their figures."""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# A strategy writes ``n`` records (each with its audit row) to a new database at ``path``,
# counts the records it failed to write in ``errors`` and returns committed records per second.
Strategy = Callable[[Path, int, Counter[str]], float]


@dataclass(frozen=True, slots=True)
class Case:
    """One strategy as the suite runs it: its size and the tables it writes."""

    name: str
    run: Strategy
    records: int
    audit_table: str
    data_table: str = "records"


@dataclass(slots=True)
class CaseResult:
    """Every sample of one strategy in one run of the suite."""

    name: str
    records: int
    samples: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    row_mismatches: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median rows/s."""
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        """Slowest sample, rows/s."""
        return min(self.samples)

    @property
    def high(self) -> float:
        """Fastest sample, rows/s."""
        return max(self.samples)


def check_rows(path: Path, case: Case, errors: Counter[str]) -> str | None:
    """Compare the rows on disk with what the strategy reported as committed."""
    expected = case.records - errors.total()
    connection = sqlite3.connect(path)
    try:
        data = connection.execute(f"SELECT count(*) FROM {case.data_table}").fetchone()[0]
        audit = connection.execute(f"SELECT count(*) FROM {case.audit_table}").fetchone()[0]
    finally:
        connection.close()
    if data == expected and audit == expected:
        return None
    return f"expected {expected} data and audit rows, found {data} data and {audit} audit rows"


def run_cases(
    plan: Sequence[Case], *, repeats: int, progress: Callable[[str], None]
) -> list[CaseResult]:
    """Run every case ``repeats`` times, interleaved, each time on a fresh database file.

    Interleaving spreads the machine's drifts (other load, core scheduling, thermal) over
    every strategy instead of penalising whichever ran during a slow spell.
    """
    results = [CaseResult(case.name, case.records) for case in plan]
    for repeat in range(1, repeats + 1):
        for case, result in zip(plan, results, strict=True):
            errors: Counter[str] = Counter()
            with tempfile.TemporaryDirectory(prefix="vstorage-bench-") as directory:
                path = Path(directory) / "bench.db"
                rate = case.run(path, case.records, errors)
                mismatch = check_rows(path, case, errors)
            result.samples.append(rate)
            result.errors.update(errors)
            if mismatch is not None:
                result.row_mismatches.append(f"run {repeat}: {mismatch}")
            failed = f", {errors.total()} failed" if errors else ""
            progress(f"[{repeat}/{repeats}] {case.name}: {rate:,.0f} rows/s{failed}")
    return results
