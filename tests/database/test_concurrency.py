"""Group commit, concurrent writers, serialized transactions and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.conftest import Accessors, Place
from tests.models import Alarm, Counter, Recipe
from vstorage import AsyncDatabase, ConflictError, DatabaseClosedError


async def test_100_concurrent_writers_no_locked_errors_and_every_write_present(
    acc: Accessors, db: AsyncDatabase
) -> None:
    async def writer(n: int) -> list[int]:
        ids = []
        for i in range(5):
            alarm = await acc.alarms.insert(Alarm(code=f"{n}-{i}"), actor=f"task-{n}")
            ids.append(alarm.id)
        return ids

    results = await asyncio.gather(*(writer(n) for n in range(100)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    acknowledged = {i for ids in results if isinstance(ids, list) for i in ids}
    assert len(acknowledged) == 500
    stored = {a.id for a in await acc.alarms.all()}
    assert stored == acknowledged
    assert len(await db.read_audit(limit=None)) == 500
    stats = db.stats()
    if db.dialect_name == "sqlite":
        # Group commit really grouped: far fewer transactions than jobs.
        assert stats.transactions < 500
    else:
        # One transaction per unit of work (and one for create_all), on the writer pool.
        assert stats.transactions == 501
        assert stats.connections == 8


async def test_200_concurrent_increments_end_at_200(acc: Accessors, db: AsyncDatabase) -> None:
    await acc.counters.insert(Counter(id=1, value=0))

    async def increment() -> None:
        async with db.transaction():
            counter = await acc.counters.get(1)
            assert counter is not None
            await asyncio.sleep(0)  # let every other task try to interleave
            await acc.counters.update(1, value=counter.value + 1)

    await asyncio.gather(*(increment() for _ in range(200)))
    final = await acc.counters.get(1)
    assert final is not None and final.value == 200
    assert len(await db.read_audit(operation="update", limit=None)) == 200


async def test_failing_job_does_not_fail_its_group_neighbours(
    acc: Accessors, db: AsyncDatabase
) -> None:
    await acc.recipes.insert(Recipe(name="taken"))
    names = [f"ok{i}" if i % 7 else "taken" for i in range(50)]
    results = await asyncio.gather(
        *(acc.recipes.insert(Recipe(name=n)) for n in names), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures and all(isinstance(f, ConflictError) for f in failures)
    assert len(failures) == names.count("taken")
    live = {r.name for r in await acc.recipes.all()}
    assert live == {n for n in names if n != "taken"} | {"taken"}
    assert db.stats().last_group_size > 1 or db.stats().transactions < 50


async def test_failing_transaction_in_a_group_rolls_back_alone(
    acc: Accessors, db: AsyncDatabase
) -> None:
    async def good(i: int) -> None:
        async with db.transaction():
            await acc.alarms.insert(Alarm(code=f"good{i}"))

    async def bad() -> None:
        async with db.transaction():
            await acc.alarms.insert(Alarm(code="bad"))
            raise RuntimeError("abort")

    results = await asyncio.gather(
        good(0), bad(), good(1), acc.alarms.insert(Alarm(code="raw")), return_exceptions=True
    )
    assert isinstance(results[1], RuntimeError)
    assert sorted(a.code for a in await acc.alarms.all()) == ["good0", "good1", "raw"]


async def test_nested_transactions_use_savepoints(acc: Accessors, db: AsyncDatabase) -> None:
    async with db.transaction() as outer:
        await acc.alarms.insert(Alarm(code="outer"))
        with pytest.raises(RuntimeError):
            async with db.transaction() as inner:
                assert inner is outer
                await acc.alarms.insert(Alarm(code="inner-rolled-back"))
                raise RuntimeError("inner fails")
        async with db.transaction():
            await acc.alarms.insert(Alarm(code="inner-kept"))
            async with db.transaction():
                await acc.alarms.insert(Alarm(code="deepest"))
        # Reads inside the transaction see its own uncommitted writes.
        assert await acc.alarms.count() == 3
    assert sorted(a.code for a in await acc.alarms.all()) == ["deepest", "inner-kept", "outer"]
    assert len(await db.read_audit()) == 3


async def test_failing_accessor_call_inside_a_transaction_leaves_it_usable(
    acc: Accessors, db: AsyncDatabase
) -> None:
    await acc.recipes.insert(Recipe(name="taken"))
    async with db.transaction():
        with pytest.raises(ConflictError):
            await acc.recipes.insert(Recipe(name="taken"))
        await acc.recipes.insert(Recipe(name="fine"))
    assert {r.name for r in await acc.recipes.all()} == {"taken", "fine"}


async def test_transaction_rollback_discards_everything(acc: Accessors, db: AsyncDatabase) -> None:
    with pytest.raises(KeyError):
        async with db.transaction() as session:
            await acc.recipes.insert(Recipe(name="a"))
            await session.execute(text("INSERT INTO alarms (code, level) VALUES ('raw', 1)"))
            raise KeyError("boom")
    assert await acc.recipes.count() == 0
    assert await acc.alarms.count() == 0
    assert await db.read_audit() == []


async def test_readers_run_while_a_transaction_holds_the_writer(
    acc: Accessors, db: AsyncDatabase
) -> None:
    await acc.recipes.insert(Recipe(name="committed"))
    async with db.transaction():
        await acc.recipes.insert(Recipe(name="pending"))

        async def read_elsewhere() -> list[str]:
            return [r.name for r in await acc.recipes.all()]

        # Another task reads through a reader connection: it sees only committed rows.
        assert await asyncio.create_task(read_elsewhere()) == ["committed"]


async def test_close_drains_queued_writes(place: Place) -> None:
    db = place.database()
    await db.connect()
    from vstorage import AsyncModelAccessor

    alarms = AsyncModelAccessor(Alarm, "alarms", database=db)
    await db.create_all()
    pending = [asyncio.create_task(alarms.insert(Alarm(code=str(i)))) for i in range(50)]
    await asyncio.sleep(0)  # every task has queued its write
    await db.close()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(not isinstance(r, BaseException) for r in results)
    with pytest.raises(DatabaseClosedError):
        await alarms.insert(Alarm(code="late"))
    async with place.database() as again:
        assert await AsyncModelAccessor(Alarm, "alarms", database=again).count() == 50


async def _no_lock_is_held(db: AsyncDatabase, db_path: Path) -> bool:
    if db.dialect_name == "sqlite":
        return _lock_is_free(db_path)
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vstorage' "
        "AND state LIKE 'idle in transaction%'"
    )
    async with db.read() as session:
        return int((await session.execute(query)).scalar_one()) == 0


def _lock_is_free(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


@pytest.mark.parametrize("yields_before_cancel", range(0, 12))
async def test_cancellation_never_leaves_a_transaction_open_or_half_a_job(
    acc: Accessors, db: AsyncDatabase, db_path: Path, yields_before_cancel: int
) -> None:
    """Cancel callers after a varying number of event-loop turns, at every stage of a write."""

    async def two_row_transaction(i: int) -> None:
        async with db.transaction():
            await acc.alarms.insert(Alarm(code=f"pair{i}", level=1))
            await asyncio.sleep(0)
            await acc.alarms.insert(Alarm(code=f"pair{i}", level=2))

    async def hooked_insert(i: int) -> None:
        await acc.recipes.insert(Recipe(name=f"r{i}"))

    @acc.recipes.after_insert()
    async def slow_hook(session: object, instance: Recipe) -> None:
        await asyncio.sleep(0)
        await acc.alarms.insert(Alarm(code=f"hook-{instance.name}", level=3))

    tasks = []
    for i in range(8):
        tasks.append(asyncio.create_task(two_row_transaction(i)))
        tasks.append(asyncio.create_task(hooked_insert(i)))
        tasks.append(asyncio.create_task(acc.alarms.insert(Alarm(code=f"raw{i}", level=4))))
    for _ in range(yields_before_cancel):
        await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # The writer is idle and holds no lock; the database takes new writes.
    assert await db.writer_in_transaction() is False
    assert await _no_lock_is_held(db, db_path)
    await acc.alarms.insert(Alarm(code="after", level=0))

    alarms = await acc.alarms.all()
    pairs: dict[str, list[int]] = {}
    for alarm in alarms:
        if alarm.code.startswith("pair"):
            pairs.setdefault(alarm.code, []).append(alarm.level)
    assert all(sorted(levels) == [1, 2] for levels in pairs.values())  # never half a job
    recipes = {r.name for r in await acc.recipes.all()}
    hooks = {a.code.removeprefix("hook-") for a in alarms if a.code.startswith("hook-")}
    assert recipes == hooks  # a hooked insert commits with its hook's row, or neither does
    audit = await db.read_audit(limit=None)
    assert len(audit) == len(alarms) + len(recipes)


async def test_a_task_spawned_inside_a_transaction_does_not_join_it(
    acc: Accessors, db: AsyncDatabase
) -> None:
    async with db.transaction():
        await acc.alarms.insert(Alarm(code="inside"))
        async with db.read() as session:
            rows = (await session.execute(select(Alarm.code))).scalars().all()
        assert rows == ["inside"]


async def test_lock_held_by_another_process_gives_busy_then_recovers(db_path: Path) -> None:
    from vstorage import AsyncModelAccessor, DatabaseBusyError

    async with AsyncDatabase(f"sqlite:///{db_path}", busy_timeout_ms=50) as db:
        alarms = AsyncModelAccessor(Alarm, "alarms", database=db)
        await db.create_all()
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(DatabaseBusyError):
                await alarms.insert(Alarm(code="fast-path"))
            with pytest.raises(DatabaseBusyError):
                async with db.transaction():
                    await alarms.insert(Alarm(code="session-path"))
            other.execute("ROLLBACK")
        finally:
            other.close()
        await alarms.insert(Alarm(code="after"))
        async with db.transaction():
            await alarms.insert(Alarm(code="after-tx"))
        assert sorted(a.code for a in await alarms.all()) == ["after", "after-tx"]
        assert await db.writer_in_transaction() is False


async def test_a_caught_failed_statement_never_commits_silently(
    acc: Accessors, db: AsyncDatabase
) -> None:
    """A statement that fails inside a block, its error caught by the caller.

    SQLite carries on with the transaction; PostgreSQL aborts all of it. Either way nothing is
    acknowledged that was not committed: on PostgreSQL the block raises and no listener runs.
    """
    from sqlalchemy.exc import IntegrityError

    from vstorage import StorageError

    commits: list[object] = []
    acc.alarms.after_commit()(commits.append)
    await acc.alarms.insert(Alarm(id=1, code="first"))
    commits.clear()

    async def block() -> None:
        async with db.transaction() as session:
            await acc.alarms.insert(Alarm(id=2, code="second"))
            with contextlib.suppress(IntegrityError):
                await session.execute(
                    text("INSERT INTO alarms (id, code, level) VALUES (1, 'x', 0)")
                )

    if db.dialect_name == "sqlite":
        await block()
        assert await acc.alarms.get(2) is not None and len(commits) == 1
    else:
        with pytest.raises(StorageError, match="rolled all of it back"):
            await block()
        assert await acc.alarms.get(2) is None and commits == []
    # A statement that may fail, in a nested block (a savepoint), leaves the rest intact.
    async with db.transaction() as session:
        await acc.alarms.insert(Alarm(id=3, code="third"))
        with pytest.raises(ConflictError):
            async with db.transaction():
                await session.execute(
                    text("INSERT INTO alarms (id, code, level) VALUES (1, 'x', 0)")
                )
    assert await acc.alarms.get(3) is not None
