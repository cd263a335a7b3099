"""The benchmark suite: ``python -m benchmarks [--quick] [--only NAME ...] [--json PATH]``.

Every scenario measures vstorage and its baselines in the same run and reports ratios; the
targets below are checked on those ratios, never on absolute times.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import sqlite3
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._suite import Context, Result

SCENARIOS = (
    "sequential_inserts",
    "concurrent_inserts",
    "batch_inserts",
    "mixed_load",
    "update_delete",
    "http_end_to_end",
    "durability",
    "peers.vention",
)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Target:
    """A goal stated as a ratio between two results of the same run."""

    name: str
    goal: str
    compute: Callable[[list[Result]], float | None]
    passes: Callable[[float], bool]
    show: Callable[[float], str]


def _find(results: list[Result], scenario: str, strategy: str, **params: Any) -> Result | None:
    for result in results:
        if result.matches(scenario, strategy, **params) and result.samples:
            return result
    return None


def _ratio(num: Result | None, den: Result | None) -> float | None:
    if num is None or den is None or not den.median:
        return None
    return num.median / den.median


def _http(results: list[Result]) -> float | None:
    pairs = [
        (r, _find(results, "http", "bare_starlette", **r.params))
        for r in results
        if r.scenario == "http" and r.strategy == "vstorage_post" and r.samples
    ]
    ratios = [_ratio(post, bare) for post, bare in pairs]
    values = [v for v in ratios if v is not None]
    return min(values) if values else None


def _reads(results: list[Result]) -> float | None:
    alone = _find(results, "mixed_load", "vstorage", writer=False)
    busy = _find(results, "mixed_load", "vstorage", writer=True)
    if alone is None or busy is None:
        return None
    return busy.latency("read", 99) / alone.latency("read", 99)


TARGETS = (
    Target(
        "concurrent single inserts (100 tasks) / naive SQLAlchemy async",
        ">= 10x",
        lambda rs: _ratio(
            _find(rs, "concurrent_inserts", "vstorage", tasks=100),
            _find(rs, "concurrent_inserts", "naive_sqlalchemy", tasks=100),
        ),
        lambda v: v >= 10,
        lambda v: f"{v:.1f}x",
    ),
    Target(
        "concurrent single inserts (100 tasks) / vention-storage insert",
        ">= 20x",
        lambda rs: _ratio(
            _find(rs, "concurrent_inserts", "vstorage", tasks=100),
            _find(rs, "peers", "vention_storage", mode="insert"),
        ),
        lambda v: v >= 20,
        lambda v: f"{v:.1f}x",
    ),
    Target(
        "insert_many 10k / raw sqlite3 ceiling",
        ">= 50%",
        lambda rs: _ratio(
            _find(rs, "batch_inserts", "vstorage", size=10_000),
            _find(rs, "batch_inserts", "raw_sqlite3", size=10_000),
        ),
        lambda v: v >= 0.5,
        lambda v: f"{v:.0%}",
    ),
    Target(
        "read p99 with a saturating writer / read p99 alone",
        "<= 3x",
        _reads,
        lambda v: v <= 3,
        lambda v: f"{v:.2f}x",
    ),
    Target(
        "HTTP POST route / bare Starlette route (requests/s, worst concurrency)",
        ">= 50%",
        _http,
        lambda v: v >= 0.5,
        lambda v: f"{v:.0%}",
    ),
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": _version("sqlalchemy"),
        "aiosqlite": _version("aiosqlite"),
        "vstorage": _version("vstorage"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def render(results: list[Result], repeats: int) -> str:
    """Tables per scenario (median, min-max, latency percentiles), then the targets."""
    lines = [f"median of {repeats} run(s); every record is a data row plus its audit row", ""]
    for scenario in dict.fromkeys(r.scenario for r in results):
        rows = [r for r in results if r.scenario == scenario]
        lines.append(f"## {scenario}")
        for r in rows:
            if r.skipped:
                lines.append(f"  {r.strategy:<28} {r.label:<34} skipped: {r.skipped}")
                continue
            spread = f"{_number(r.low)}-{_number(r.high)}"
            text = (
                f"  {r.strategy:<28} {r.label:<34} {_number(r.median):>9} {r.unit:<13} {spread:>17}"
            )
            for kind in r.latencies_ms:
                p50, p99, p999 = (r.latency(kind, q) for q in (50, 99, 99.9))
                text += f"  {kind} p50/p99/p99.9 {p50:.1f}/{p99:.1f}/{p999:.1f} ms"
            if r.errors:
                text += f"  errors: {dict(r.errors)}"
            lines.append(text)
        lines.append("")
    lines.append("## targets (ratios in this run)")
    for target in TARGETS:
        value = target.compute(results)
        if value is None:
            lines.append(f"  {target.name:<72} {target.goal:>7}  not measured")
            continue
        verdict = "met" if target.passes(value) else "missed"
        lines.append(f"  {target.name:<72} {target.goal:>7}  {target.show(value):>7}  {verdict}")
    return "\n".join(lines)


def chart(results: list[Result], path: Path) -> str:
    """Throughput against concurrency (PNG and SVG); returns what was written or why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install matplotlib)"
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for strategy, label in (
        ("vstorage", "vstorage"),
        ("naive_sqlalchemy", "naive SQLAlchemy async"),
        ("vstorage_postgresql", "vstorage on PostgreSQL"),
        ("naive_sqlalchemy_postgresql", "naive SQLAlchemy async on PostgreSQL"),
    ):
        points = sorted(
            (r.params["tasks"], r.median)
            for r in results
            if r.scenario == "concurrent_inserts" and r.strategy == strategy and r.samples
        )
        if points:
            style = ":" if strategy.endswith("postgresql") else "-"
            axes.plot(*zip(*points, strict=True), marker="o", linestyle=style, label=label)
    for r in results:
        if r.scenario == "peers" and r.samples and r.params.get("mode") != "insert_many":
            axes.plot(
                [r.params["tasks"]],
                [r.median],
                marker="s",
                linestyle="",
                label=f"vention-storage ({r.label})",
            )
    ceiling = _find(results, "concurrent_inserts", "raw_sqlite3")
    if ceiling is not None:
        axes.axhline(ceiling.median, linestyle="--", color="grey", label="raw sqlite3 ceiling")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("concurrent tasks, one record each (with audit)")
    axes.set_ylabel("records/s (median)")
    axes.set_title("Durable single-record inserts (SQLite synchronous=FULL; PostgreSQL)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path.with_suffix(".png"), dpi=120)
    figure.savefig(path.with_suffix(".svg"))
    plt.close(figure)
    return f"chart written to {path.with_suffix('.png')} and .svg"


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios, print the report, write JSON and the chart."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run, small sizes (< 2 minutes)")
    parser.add_argument("--repeats", type=int, help="runs per strategy (default 3; 1 with --quick)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="run these scenarios only")
    parser.add_argument("--json", type=Path, help="where to write every figure (default: results/)")
    parser.add_argument("--chart", type=Path, help="chart path without suffix (default: results/)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    ctx = Context(
        quick=args.quick,
        repeats=repeats,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    results: list[Result] = []
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in args.only or SCENARIOS:
            ctx.progress(f"{name} ...")
            module = importlib.import_module(f"benchmarks.{name}")
            results.extend(module.run(ctx))
    elapsed = time.perf_counter() - started
    env = environment()
    print(
        f"Python {env['python']}, SQLite {env['sqlite']}, SQLAlchemy {env['sqlalchemy']}, "
        f"{env['cpu_count']} CPUs; suite took {elapsed:.0f} s"
    )
    print(render(results, repeats))
    warned = Counter(f"{w.category.__name__}: {w.message}" for w in caught)
    for message, count in warned.items():
        print(f"warning ({count}x): {message}")
    json_path = args.json or RESULTS_DIR / "latest.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "environment": env,
        "quick": args.quick,
        "repeats": repeats,
        "seconds": elapsed,
        "results": [r.as_dict() for r in results],
        "targets": [
            {"name": t.name, "goal": t.goal, "value": v, "met": None if v is None else t.passes(v)}
            for t in TARGETS
            for v in [t.compute(results)]
        ],
        "warnings": dict(warned),
    }
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nfigures written to {json_path}")
    print(chart(results, args.chart or RESULTS_DIR / "throughput_vs_concurrency"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
