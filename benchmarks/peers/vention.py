"""A peer baseline: vention-storage, a synchronous SQLModel storage layer, in the same run.

vention-storage needs Python 3.10, so it runs in a virtual environment of its own, built once
and cached (``.venvs/vention`` beside the suite), and is measured by
``vention_worker.py`` in a subprocess, on a fresh database file per sample. It is set up the
way its documentation shows: ``database.set_database_url``, the tables created, one
``ModelAccessor`` with auditing on (the default), and its engine's defaults otherwise. Each
sample counts committed records per second, one record being a data row plus its audit row,
as in :mod:`benchmarks.insert_throughput`; the worker checks both on disk afterwards.

When the environment cannot be had (no Python 3.10, no network for pip), ``run`` returns one
skipped :class:`Result` saying why.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks._suite import Context, Result

SCENARIO = "peers"
STRATEGY = "vention_storage"
UNIT = "records/s"
# Pinned: the worker is written against this release's API (``bootstrap``'s signature, for
# one, differs between releases). Changing it rebuilds the cached environment.
REQUIREMENT = "vention-storage==0.20.12"
PYTHON_VERSION = (3, 10)
THREADS = 100

HERE = Path(__file__).resolve().parent
WORKER = HERE / "vention_worker.py"
CACHE_DIR = HERE.parent / ".venvs" / "vention"
MARKER = ".vention-ready"

PIP_TIMEOUT = 900.0
PROBE_TIMEOUT = 60.0
# Per worker run: a fixed allowance plus a generous time per record (the per-record modes
# write a few hundred records per second here; a stalled run is cut off and counted).
BASE_TIMEOUT = 120.0
TIMEOUT_PER_RECORD = 0.1


# -- the environment ----------------------------------------------------------------------


def _python_candidates() -> list[str]:
    """Interpreters that may be a Python 3.10: on PATH first, then pyenv's installs."""
    found: list[str] = []
    on_path = shutil.which("python3.10")
    if on_path:
        found.append(on_path)
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        pattern = str(Path(root) / "versions" / "3.10*" / "bin" / "python3.10")
        found.extend(sorted(glob.glob(pattern), reverse=True))
    return list(dict.fromkeys(found))


def _probe(python: str, code: str) -> subprocess.CompletedProcess[str] | None:
    """Run ``python -I -c code``; None when it cannot be started or hangs."""
    try:
        return subprocess.run(
            [python, "-I", "-c", code],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def find_python310() -> str | None:
    """A working Python 3.10 with ``venv``, or None.

    A candidate is run, not only found: a pyenv shim named ``python3.10`` is on PATH even
    when 3.10 is not an active pyenv version, and then fails.
    """
    check = "import sys, venv; print(*sys.version_info[:2], sep='.')"
    wanted = ".".join(map(str, PYTHON_VERSION))
    for candidate in _python_candidates():
        probe = _probe(candidate, check)
        if probe is not None and probe.returncode == 0 and probe.stdout.strip() == wanted:
            return candidate
    return None


def _last_line(text: str) -> str:
    """The line that says why a command failed: pip's last ERROR line, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "no output"


def _interpreter(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def _is_ready(env_dir: Path) -> bool:
    """The cached environment was built for ``REQUIREMENT`` and still imports."""
    python = _interpreter(env_dir)
    marker = env_dir / MARKER
    if not python.exists() or not marker.exists():
        return False
    if marker.read_text().strip() != REQUIREMENT:
        return False
    probe = _probe(str(python), "import sqlmodel, storage.accessor, storage.database")
    return probe is not None and probe.returncode == 0


def ensure_environment(cache_dir: Path) -> Path | str:
    """A Python 3.10 virtual environment with vention-storage, built once in ``cache_dir``.

    Returns its interpreter, or a string saying why there is none (no Python 3.10 found, the
    virtual environment or ``pip install`` failed, with the command's last error line).
    """
    if _is_ready(cache_dir):
        return _interpreter(cache_dir)
    base = find_python310()
    if base is None:
        looked = ", ".join(_python_candidates()) or "nothing on PATH or in ~/.pyenv/versions"
        return f"vention-storage needs Python 3.10, none works here (tried: {looked})"

    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    (cache_dir / MARKER).unlink(missing_ok=True)
    steps = [
        ("python3.10 -m venv", [base, "-m", "venv", "--clear", str(cache_dir)]),
        (
            f"pip install {REQUIREMENT}",
            [
                str(_interpreter(cache_dir)),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                REQUIREMENT,
            ],
        ),
    ]
    for title, command in steps:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return f"{title} took over {PIP_TIMEOUT:g} s"
        except OSError as exc:
            return f"{title} failed: {exc}"
        if done.returncode != 0:
            return f"{title} failed: {_last_line(done.stderr or done.stdout)}"

    (cache_dir / MARKER).write_text(REQUIREMENT + "\n")
    if not _is_ready(cache_dir):
        return f"{REQUIREMENT} installed in {cache_dir} but `import storage.accessor` fails"
    return _interpreter(cache_dir)


# -- the strategies -----------------------------------------------------------------------


def vention_insert(python: Path, directory: Path, n: int) -> dict[str, Any]:
    """One thread calling ``ModelAccessor.insert`` for one record at a time, auditing on.

    Each call opens its own transaction (``database.transaction()``), inserts the record,
    reads it back, adds its audit row and commits: a sequential script's throughput.
    """
    return _run_worker(python, directory / "vention.db", n, "insert", 1)


def vention_insert_threads(python: Path, directory: Path, n: int) -> dict[str, Any]:
    """``THREADS`` threads at once, each calling ``ModelAccessor.insert`` per record.

    The synchronous counterpart of many concurrent handlers: threads share vention-storage's
    engine (SQLAlchemy's default pool) and SQLite's locking; failures such as "database is
    locked" are counted, not retried.
    """
    return _run_worker(python, directory / "vention.db", n, "insert_threads", THREADS)


def vention_insert_many(python: Path, directory: Path, n: int) -> dict[str, Any]:
    """One ``ModelAccessor.insert_many`` call of ``n`` records, auditing on, as shipped.

    One transaction: the records are flushed together, then each is read back and gets its
    audit row. Timed over the call alone (instances built beforehand).
    """
    return _run_worker(python, directory / "vention.db", n, "insert_many", 1)


def _run_worker(python: Path, path: Path, n: int, mode: str, threads: int) -> dict[str, Any]:
    """Run the worker once and return its JSON line; raise ``RuntimeError`` if it fails."""
    command = [str(python), "-I", str(WORKER), str(path), str(n), mode, "--threads", str(threads)]
    timeout = BASE_TIMEOUT + TIMEOUT_PER_RECORD * n
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"worker timed out after {timeout:g} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"worker exited {done.returncode}: {_last_line(done.stderr)}")
    lines = done.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise RuntimeError(f"worker printed no JSON line: {_last_line(done.stdout)}") from exc
    return report


def _mismatches(report: dict[str, Any]) -> Counter[str]:
    """What the disk disagrees with: records reported but absent, rows without audit..."""
    disk = report["disk"]
    committed = report["committed"]
    found: Counter[str] = Counter()
    checks = {
        "reported inserted but not on disk": disk["reported_missing"],
        "duplicate ids reported": disk["reported_ids"] - disk["distinct_reported_ids"],
        "data rows without their audit row": disk["data_without_audit"],
        "audit rows without their data row": disk["audit_without_data"],
        "data rows != committed": abs(disk["data_rows"] - committed),
        "audit rows != committed": abs(disk["audit_rows"] - committed),
    }
    for kind, count in checks.items():
        if count:
            found[kind] += count
    if disk["integrity"] != "ok":
        found[f"quick_check: {disk['integrity']}"] += 1
    return found


# -- the suite ----------------------------------------------------------------------------


def run(ctx: Context) -> list[Result]:
    """Every mode ``ctx.repeats`` times, interleaved, each on a fresh database file."""
    python = ensure_environment(CACHE_DIR)
    if isinstance(python, str):
        ctx.progress(f"{SCENARIO}/{STRATEGY}: skipped: {python}")
        return [Result(SCENARIO, STRATEGY, label="", unit=UNIT, skipped=python)]

    per_record = ctx.size(2_000, 500)
    batch = ctx.size(10_000, 2_000)
    plans = [
        (vention_insert, "insert", 1, per_record, f"insert, 1 thread, {per_record:,} records"),
        (
            vention_insert_threads,
            "insert_threads",
            THREADS,
            per_record,
            f"insert, {THREADS} threads, {per_record:,} records",
        ),
        (vention_insert_many, "insert_many", 1, batch, f"insert_many, {batch:,} records"),
    ]
    results = [
        Result(SCENARIO, STRATEGY, label=label, unit=UNIT, params={"mode": mode, "tasks": tasks})
        for _, mode, tasks, _, label in plans
    ]
    for repeat in range(1, ctx.repeats + 1):
        for (strategy, mode, _, n, _), result in zip(plans, results, strict=True):
            with ctx.tempdir() as directory:
                try:
                    report = strategy(python, directory, n)
                except RuntimeError as exc:
                    result.errors[str(exc)] += 1
                    ctx.progress(f"{SCENARIO}/{STRATEGY} {mode} #{repeat}: failed: {exc}")
                    continue
            result.samples.append(float(report["records_per_s"]))
            result.errors.update(report["errors"])
            result.errors.update(_mismatches(report))
            failed = sum(report["errors"].values())
            ctx.progress(
                f"{SCENARIO}/{STRATEGY} {mode} #{repeat}: {report['records_per_s']:,.0f} {UNIT}"
                f" ({report['committed']}/{n} committed, {failed} failed,"
                f" vention-storage {report['versions']['vention-storage']})"
            )
    return results


if __name__ == "__main__":
    for item in run(Context(quick="--quick" in sys.argv, repeats=1)):
        print(json.dumps(item.as_dict()))
