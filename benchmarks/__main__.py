"""Run the benchmark suite: ``python -m benchmarks [--quick] [--json PATH]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._runner import CaseResult
from benchmarks.insert_throughput import run_suite


@dataclass(frozen=True, slots=True)
class Ratio:
    """A throughput ratio between two strategies, with the target it should reach."""

    numerator: str
    denominator: str
    target: float
    percent: bool

    def value(self, results: dict[str, CaseResult]) -> float:
        """Median of the numerator over median of the denominator."""
        return results[self.numerator].median / results[self.denominator].median

    def show(self, value: float) -> str:
        """The value as the target is written: a percentage or a multiple."""
        return f"{value:.0%}" if self.percent else f"{value:.1f}x"

    @property
    def goal(self) -> str:
        """The target, e.g. ``>= 10x`` or ``>= 40%``."""
        return ">= " + (f"{self.target:.0%}" if self.percent else f"{self.target:g}x")


RATIOS = (
    Ratio("vstorage_concurrent_inserts", "naive_sqlalchemy_async", 10.0, percent=False),
    Ratio("vstorage_insert_many", "raw_sqlite3_ceiling", 0.40, percent=True),
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def environment() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": _version("sqlalchemy"),
        "aiosqlite": _version("aiosqlite"),
        "vstorage": _version("vstorage"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def render(
    results: list[CaseResult], repeats: int, caught: Counter[str], env: dict[str, Any]
) -> str:
    """The report as printed: one table of strategies, one of ratios, then any problems."""
    by_name = {result.name: result for result in results}
    name_width = max(len(result.name) for result in results)
    lines = [
        f"Insert throughput: median of {repeats} run(s); one record = one data row + one audit row",
        f"Python {env['python']}, SQLite {env['sqlite']}, SQLAlchemy {env['sqlalchemy']}, "
        f"{env['cpu_count']} CPUs",
        "",
        f"{'strategy':<{name_width}}  {'records':>7}  {'rows/s median':>13}  "
        f"{'min-max':>17}  {'failed':>6}",
    ]
    for result in results:
        spread = f"{result.low:,.0f}-{result.high:,.0f}"
        lines.append(
            f"{result.name:<{name_width}}  {result.records:>7,}  {result.median:>13,.0f}  "
            f"{spread:>17}  {result.errors.total():>6,}"
        )
    lines += ["", f"{'ratio':<{2 * name_width + 3}}  {'value':>6}  {'target':>7}  result"]
    for ratio in RATIOS:
        value = ratio.value(by_name)
        label = f"{ratio.numerator} / {ratio.denominator}"
        verdict = "met" if value >= ratio.target else "missed"
        lines.append(
            f"{label:<{2 * name_width + 3}}  {ratio.show(value):>6}  {ratio.goal:>7}  {verdict}"
        )
    notes = []
    for result in results:
        for error, count in result.errors.most_common():
            notes.append(f"{result.name}: {count} x {error}")
        notes.extend(f"{result.name}: {mismatch}" for mismatch in result.row_mismatches)
    notes.extend(f"warning ({count} x): {message}" for message, count in caught.most_common())
    if notes:
        lines += ["", "Problems:", *(f"  {note}" for note in notes)]
    return "\n".join(lines)


def as_json(
    results: list[CaseResult],
    *,
    quick: bool,
    repeats: int,
    caught: Counter[str],
    env: dict[str, Any],
) -> dict[str, Any]:
    """Every figure of the run, for later comparison."""
    by_name = {result.name: result for result in results}
    return {
        "suite": "insert_throughput",
        "unit": "records/s (one data row + one audit row each)",
        "quick": quick,
        "repeats": repeats,
        "environment": env,
        "strategies": [
            {
                "name": result.name,
                "records": result.records,
                "samples": result.samples,
                "median": result.median,
                "min": result.low,
                "max": result.high,
                "errors": dict(result.errors),
                "row_mismatches": result.row_mismatches,
            }
            for result in results
        ],
        "ratios": [
            {
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "value": ratio.value(by_name),
                "target": ratio.target,
                "goal": ratio.goal,
                "met": ratio.value(by_name) >= ratio.target,
            }
            for ratio in RATIOS
        ],
        "warnings": dict(caught),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the suite, print the report and optionally write JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="one run of each strategy, smaller sizes"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument("--repeats", type=int, help="runs per strategy (default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        results = run_suite(quick=args.quick, repeats=repeats, progress=_progress)
    caught = Counter(f"{w.category.__name__}: {w.message}" for w in recorded)
    env = environment()
    print(render(results, repeats, caught, env))
    if args.json is not None:
        report = as_json(results, quick=args.quick, repeats=repeats, caught=caught, env=env)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
