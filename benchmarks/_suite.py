"""What every scenario of the suite shares: its context and the shape of its results.

A scenario is a module with one documented function per strategy and a ``run(ctx)`` that
measures every strategy **in the same run** and returns a list of :class:`Result`. Only
figures from the same run are compared: on small shared machines, separate runs swing by up
to 2x, ratios measured together hold.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Context:
    """How the suite runs: sizes, repetitions, progress output."""

    quick: bool = False
    repeats: int = 3
    progress: Callable[[str], None] = print

    @contextlib.contextmanager
    def tempdir(self) -> Iterator[Path]:
        """A fresh temporary directory, removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="vstorage-bench-") as directory:
            yield Path(directory)

    def size(self, full: int, quick: int) -> int:
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full


def percentile(values: list[float], q: float) -> float:
    """The ``q`` percentile (0-100) of ``values``, nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Result:
    """One strategy of one scenario: throughput samples and, where measured, latencies.

    Attributes:
        scenario: the scenario module's name (e.g. ``"concurrent_inserts"``).
        strategy: the strategy (e.g. ``"vstorage"``, ``"naive_sqlalchemy"``, ``"raw_sqlite3"``).
        label: what a reader of the table needs (e.g. ``"100 tasks"``).
        unit: ``"records/s"``, ``"requests/s"``, ``"operations/s"``...
        samples: one throughput figure per repetition.
        params: the parameters that distinguish results of one strategy (e.g. ``{"tasks": 100}``).
        latencies_ms: latency samples pooled over repetitions, by kind (e.g. ``"read"``).
        errors: failures counted by kind (e.g. ``"database is locked"``).
        skipped: why the strategy could not run here (empty when it ran).
    """

    scenario: str
    strategy: str
    label: str
    unit: str
    samples: list[float] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    skipped: str = ""

    @property
    def median(self) -> float:
        """Median throughput."""
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def low(self) -> float:
        """Slowest sample."""
        return min(self.samples) if self.samples else math.nan

    @property
    def high(self) -> float:
        """Fastest sample."""
        return max(self.samples) if self.samples else math.nan

    def latency(self, kind: str, q: float) -> float:
        """The ``q`` percentile of the ``kind`` latencies, in milliseconds."""
        return percentile(self.latencies_ms.get(kind, []), q)

    def matches(self, scenario: str, strategy: str, **params: Any) -> bool:
        """True for this scenario and strategy with at least these parameters."""
        return (
            self.scenario == scenario
            and self.strategy == strategy
            and all(self.params.get(k) == v for k, v in params.items())
        )

    def as_dict(self) -> dict[str, Any]:
        """Every figure, for the JSON report."""
        body: dict[str, Any] = {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "label": self.label,
            "unit": self.unit,
            "params": self.params,
            "samples": self.samples,
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "errors": dict(self.errors),
            "skipped": self.skipped,
        }
        if self.latencies_ms:
            body["latency_ms"] = {
                kind: {f"p{q:g}": self.latency(kind, q) for q in (50, 99, 99.9)}
                for kind in self.latencies_ms
            }
        return body
