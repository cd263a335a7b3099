"""Reads and writes together: throughput and per-operation latency under a mixed load.

Every strategy runs for a fixed duration on a fresh database file (WAL,
``synchronous=FULL``, ``readers=4``, auditing on) seeded beforehand, not timed, with records
(``id``, ``name``, ``value``, ``created``). A read is ``get`` of a random seeded id; a write
is a single-record ``insert`` or ``update`` (each with its audit row). Every call's latency
is taken with ``time.perf_counter`` around the awaited call, in milliseconds.

Two kinds of strategy:

- the mixed load: a pool of tasks, each looping over random operations with a given share of
  reads (90/10, 50/50), as fast as the calls return. Throughput is every completed operation
  per second.
- the read latency pair: the same paced read load (a few tasks, each reading at a fixed
  interval) run alone, then again while many tasks insert in a tight loop and keep the
  writer queue full. Comparing the read percentiles of the two says how much a busy writer
  costs readers; pacing keeps the offered read load identical in both.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from benchmarks._suite import Context, Result
from benchmarks.insert_throughput import Record
from vstorage import AsyncDatabase, AsyncModelAccessor

SCENARIO = "mixed_load"
STRATEGY = "vstorage"
READERS = 4
TASKS = 50
READ_SHARES = (90, 50)
READ_TASKS = 4
READ_INTERVAL_S = 0.02
WRITER_TASKS = 50
ACTOR = "bench"
COMPONENT = "records"

Latencies = dict[str, list[float]]
Accessor = AsyncModelAccessor[Record]


def _url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


@contextlib.asynccontextmanager
async def _seeded(path: Path, seed: int) -> AsyncIterator[tuple[Accessor, list[int]]]:
    """An open database with ``seed`` records inserted in one call (before timing)."""
    async with AsyncDatabase(_url(path), readers=READERS) as db:
        records = AsyncModelAccessor(Record, COMPONENT, database=db)
        await db.create_all()
        now = time.time()
        stored = await records.insert_many(
            [Record(name=f"item-{i:06d}", value=i, created=now + i / 1000) for i in range(seed)],
            actor=ACTOR,
        )
        yield records, [record.id for record in stored]


# -- strategies ---------------------------------------------------------------------------


def vstorage_mixed(
    path: Path,
    seed: int,
    duration: float,
    read_share: int,
    latencies: Latencies,
    errors: Counter[str],
) -> float:
    """``TASKS`` tasks for ``duration`` seconds, each op a read with ``read_share`` % odds.

    A read is ``get(id)`` of a random seeded record; a write is, with even odds, ``insert`` of
    a new record or ``update(id, value=...)`` of a random seeded one. Latencies go to
    ``latencies["read"]`` and ``latencies["write"]`` (also split into ``"insert"`` and
    ``"update"``). Returns completed operations per second, reads and writes together.
    """
    return asyncio.run(_mixed(path, seed, duration, read_share, latencies, errors))


async def _mixed(
    path: Path,
    seed: int,
    duration: float,
    read_share: int,
    latencies: Latencies,
    errors: Counter[str],
) -> float:
    for kind in ("read", "write", "insert", "update"):
        latencies.setdefault(kind, [])
    done = 0
    async with _seeded(path, seed) as (records, keys):
        deadline = time.perf_counter() + duration

        async def worker(number: int) -> None:
            nonlocal done
            rng = random.Random(number)
            while time.perf_counter() < deadline:
                reading = rng.random() * 100 < read_share
                kind = "read" if reading else rng.choice(("insert", "update"))
                key = rng.choice(keys)
                started = time.perf_counter()
                try:
                    if kind == "read":
                        found = await records.get(key) is not None
                    elif kind == "insert":
                        await records.insert(
                            Record(name=f"new-{number}", value=key, created=time.time()),
                            actor=ACTOR,
                        )
                        found = True
                    else:
                        updated = await records.update(
                            key, value=rng.randrange(1 << 30), actor=ACTOR
                        )
                        found = updated is not None
                except Exception as exc:
                    errors[_describe(exc)] += 1
                    continue
                took = _ms(started)
                if not found:
                    errors[f"{kind}: record {key} not found"] += 1
                    continue
                latencies["read" if reading else "write"].append(took)
                if not reading:
                    latencies[kind].append(took)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(number) for number in range(TASKS)))
        elapsed = time.perf_counter() - started
    return done / elapsed


def reads_alone(
    path: Path, seed: int, duration: float, latencies: Latencies, errors: Counter[str]
) -> float:
    """The paced read load with no writer: the reference for read latency.

    ``READ_TASKS`` tasks, each calling ``get(id)`` of a random seeded record every
    ``READ_INTERVAL_S`` seconds (at once when a read ran late), for ``duration`` seconds.
    Latencies go to ``latencies["read"]``; returns reads per second.
    """
    return asyncio.run(_paced_reads(path, seed, duration, latencies, errors, writer=False))


def reads_with_saturating_writer(
    path: Path, seed: int, duration: float, latencies: Latencies, errors: Counter[str]
) -> float:
    """The same paced read load while ``WRITER_TASKS`` tasks insert in a tight loop.

    The writers keep the writer queue full for the whole duration (single-record
    ``insert`` with audit, back to back); their latencies go to ``latencies["write"]``, the
    reads' to ``latencies["read"]``. Returns reads per second.
    """
    return asyncio.run(_paced_reads(path, seed, duration, latencies, errors, writer=True))


async def _paced_reads(
    path: Path,
    seed: int,
    duration: float,
    latencies: Latencies,
    errors: Counter[str],
    *,
    writer: bool,
) -> float:
    reads = latencies.setdefault("read", [])
    writes = latencies.setdefault("write", []) if writer else []
    async with _seeded(path, seed) as (records, keys):
        deadline = time.perf_counter() + duration

        async def reader(number: int) -> None:
            rng = random.Random(number)
            # Readers start spread over one interval so that their reads do not coincide.
            due = time.perf_counter() + READ_INTERVAL_S * number / READ_TASKS
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            while time.perf_counter() < deadline:
                key = rng.choice(keys)
                started = time.perf_counter()
                try:
                    found = await records.get(key) is not None
                except Exception as exc:
                    errors[_describe(exc)] += 1
                else:
                    if found:
                        reads.append(_ms(started))
                    else:
                        errors[f"read: record {key} not found"] += 1
                due += READ_INTERVAL_S
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    due = time.perf_counter()

        async def inserter(number: int) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await records.insert(
                        Record(name=f"load-{number}", value=number, created=time.time()),
                        actor=ACTOR,
                    )
                except Exception as exc:
                    errors[_describe(exc)] += 1
                else:
                    writes.append(_ms(started))

        started = time.perf_counter()
        await asyncio.gather(
            *(reader(number) for number in range(READ_TASKS)),
            *(inserter(number) for number in range(WRITER_TASKS if writer else 0)),
        )
        elapsed = time.perf_counter() - started
    return len(reads) / elapsed


# -- the suite ----------------------------------------------------------------------------


def run(ctx: Context) -> list[Result]:
    """Every strategy ``ctx.repeats`` times, interleaved, each on a fresh database file."""
    seed = ctx.size(10_000, 2_000)
    duration = ctx.size(5_000, 1_500) / 1000
    reads_per_s = round(READ_TASKS / READ_INTERVAL_S)
    mixed = {
        share: Result(
            SCENARIO,
            STRATEGY,
            f"{share}% reads / {100 - share}% writes, {TASKS} tasks",
            "operations/s",
            params={"read_share": share, "tasks": TASKS, "readers": READERS, "seed": seed},
        )
        for share in READ_SHARES
    }
    paced = {"read_tasks": READ_TASKS, "reads_per_s": reads_per_s, "readers": READERS, "seed": seed}
    alone = Result(
        SCENARIO,
        STRATEGY,
        f"reads alone ({READ_TASKS} tasks, {reads_per_s} reads/s offered)",
        "reads/s",
        params={"writer": False, **paced},
    )
    with_writer = Result(
        SCENARIO,
        STRATEGY,
        f"reads with saturating writer ({READ_TASKS} tasks, {reads_per_s} reads/s offered, "
        f"{WRITER_TASKS} inserting tasks)",
        "reads/s",
        params={"writer": True, "writer_tasks": WRITER_TASKS, **paced},
    )
    for repeat in range(1, ctx.repeats + 1):
        step = f"[{repeat}/{ctx.repeats}] {SCENARIO}"
        for share, result in mixed.items():
            errors: Counter[str] = Counter()
            with ctx.tempdir() as directory:
                rate = vstorage_mixed(
                    directory / "bench.db",
                    seed,
                    duration,
                    share,
                    result.latencies_ms,
                    errors,
                )
            result.samples.append(rate)
            result.errors.update(errors)
            ctx.progress(f"{step} {result.label}: {rate:,.0f} operations/s{_failed(errors)}")
        for strategy, result in ((reads_alone, alone), (reads_with_saturating_writer, with_writer)):
            errors = Counter()
            writes_before = len(result.latencies_ms.get("write", []))
            with ctx.tempdir() as directory:
                rate = strategy(directory / "bench.db", seed, duration, result.latencies_ms, errors)
            result.samples.append(rate)
            result.errors.update(errors)
            writes = len(result.latencies_ms.get("write", [])) - writes_before
            extra = f", ~{writes / duration:,.0f} inserts/s alongside" if writes else ""
            ctx.progress(f"{step} {result.label}: {rate:,.0f} reads/s{extra}{_failed(errors)}")
    return [*mixed.values(), alone, with_writer]


def _failed(errors: Counter[str]) -> str:
    return f", {errors.total()} failed" if errors else ""
