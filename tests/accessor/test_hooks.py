"""Lifecycle hooks: order, sync and async, joining the transaction, rolling back on error."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Accessors
from tests.models import Alarm, Recipe
from vstorage import AsyncDatabase, Change, ValidationError


async def test_hooks_run_in_order_sync_and_async(acc: Accessors) -> None:
    calls: list[str] = []
    recipes = acc.recipes

    @recipes.before_insert()
    def b_ins(session: AsyncSession, instance: Recipe) -> None:
        calls.append(f"before_insert:{instance.id}")

    @recipes.after_insert()
    async def a_ins(session: AsyncSession, instance: Recipe) -> None:
        calls.append(f"after_insert:{instance.id}")

    for event in [
        "before_update",
        "after_update",
        "before_delete",
        "after_delete",
        "before_restore",
        "after_restore",
    ]:

        def hook(session: AsyncSession, instance: Any, event: str = event) -> None:
            calls.append(event)

        getattr(recipes, event)()(hook)

    recipe = await recipes.insert(Recipe(name="bolt"))
    await recipes.update(recipe.id, speed=2)
    await recipes.delete(recipe.id)
    await recipes.restore(recipe.id)
    assert calls == [
        "before_insert:None",
        f"after_insert:{recipe.id}",
        "before_update",
        "after_update",
        "before_delete",
        "after_delete",
        "before_restore",
        "after_restore",
    ]


@pytest.mark.parametrize("event", ["before_insert", "after_insert"])
@pytest.mark.parametrize("is_async", [False, True])
async def test_raising_insert_hook_rolls_back_data_audit_and_hook_writes(
    acc: Accessors, db: AsyncDatabase, event: str, is_async: bool
) -> None:
    async def write_then_fail(session: AsyncSession, instance: Recipe) -> None:
        await acc.alarms.insert(Alarm(code="written-by-hook"))
        raise RuntimeError("hook says no")

    def fail(session: AsyncSession, instance: Recipe) -> None:
        raise RuntimeError("hook says no")

    getattr(acc.recipes, event)()(write_then_fail if is_async else fail)
    with pytest.raises(RuntimeError, match="hook says no"):
        await acc.recipes.insert(Recipe(name="bolt"))
    assert await acc.recipes.count(include_deleted=True) == 0
    assert await acc.alarms.count() == 0
    assert await db.read_audit() == []


@pytest.mark.parametrize("event", ["before_update", "after_update"])
async def test_raising_update_hook_rolls_back(
    acc: Accessors, db: AsyncDatabase, event: str
) -> None:
    recipe = await acc.recipes.insert(Recipe(name="bolt", speed=1))

    def fail(session: AsyncSession, instance: Recipe) -> None:
        raise ValueError("speed limit")

    getattr(acc.recipes, event)()(fail)
    with pytest.raises(ValueError, match="speed limit"):
        await acc.recipes.update(recipe.id, speed=99)
    fetched = await acc.recipes.get(recipe.id)
    assert fetched is not None and fetched.speed == 1
    assert [e.operation for e in await db.read_audit()] == ["create"]


@pytest.mark.parametrize("event", ["before_delete", "after_delete"])
async def test_raising_delete_hook_rolls_back(
    acc: Accessors, db: AsyncDatabase, event: str
) -> None:
    recipe = await acc.recipes.insert(Recipe(name="bolt"))

    async def fail(session: AsyncSession, instance: Recipe) -> None:
        raise PermissionError("locked")

    getattr(acc.recipes, event)()(fail)
    with pytest.raises(PermissionError):
        await acc.recipes.delete(recipe.id)
    assert await acc.recipes.get(recipe.id) is not None
    assert len(await db.read_audit()) == 1


async def test_after_hook_sees_the_written_row_through_its_session(acc: Accessors) -> None:
    seen: list[int] = []

    @acc.recipes.after_insert()
    async def count_rows(session: AsyncSession, instance: Recipe) -> None:
        seen.append((await session.execute(select(func.count()).select_from(Recipe))).scalar_one())

    await acc.recipes.insert(Recipe(name="bolt"))
    assert seen == [1]


async def test_hook_that_writes_a_related_row_commits_with_it(
    acc: Accessors, db: AsyncDatabase
) -> None:
    @acc.recipes.after_insert()
    async def raise_alarm(session: AsyncSession, instance: Recipe) -> None:
        await acc.alarms.insert(Alarm(code=f"new:{instance.name}"), actor="hook")

    await acc.recipes.insert(Recipe(name="bolt"), actor="op")
    [alarm] = await acc.alarms.all()
    assert alarm.code == "new:bolt"
    operations = {(e.component, e.actor) for e in await db.read_audit()}
    assert operations == {("recipes", "op"), ("alarms", "hook")}


async def test_before_hook_may_adjust_the_instance_and_is_revalidated(acc: Accessors) -> None:
    @acc.recipes.before_insert()
    def normalise(session: AsyncSession, instance: Recipe) -> None:
        instance.name = instance.name.strip().lower()

    stored = await acc.recipes.insert(Recipe(name="  BOLT "))
    assert stored.name == "bolt"

    @acc.recipes.before_update()
    def corrupt(session: AsyncSession, instance: Recipe) -> None:
        instance.speed = "very fast"  # type: ignore[assignment]

    with pytest.raises(ValidationError):
        await acc.recipes.update(stored.id, speed=5)


async def test_hooks_apply_to_batches(acc: Accessors) -> None:
    names: list[str] = []

    @acc.recipes.before_insert()
    def collect(session: AsyncSession, instance: Recipe) -> None:
        names.append(instance.name)

    @acc.recipes.before_delete()
    def refuse_b(session: AsyncSession, instance: Recipe) -> None:
        if instance.name == "b":
            raise ValueError("b is protected")

    stored = await acc.recipes.insert_many([Recipe(name="a"), Recipe(name="b")])
    assert names == ["a", "b"]
    with pytest.raises(ValueError):
        await acc.recipes.delete_many([r.id for r in stored])
    assert await acc.recipes.count() == 2


async def test_after_commit_once_per_transaction_never_on_rollback(
    acc: Accessors, db: AsyncDatabase
) -> None:
    received: list[list[Change]] = []

    @acc.recipes.after_commit()
    def listener(changes: list[Change]) -> None:
        received.append(changes)

    await acc.recipes.insert(Recipe(name="a"))
    async with db.transaction():
        await acc.recipes.insert(Recipe(name="b"))
        await acc.alarms.insert(Alarm(code="x"))
        await acc.recipes.update(1, speed=5)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await acc.recipes.insert(Recipe(name="c"))
            raise RuntimeError("abort")
    await acc.recipes.insert_many([Recipe(name="d"), Recipe(name="e")])
    assert [[(c.table, c.operation) for c in batch] for batch in received] == [
        [("recipes", "create")],
        [("recipes", "create"), ("recipes", "update")],
        [("recipes", "create"), ("recipes", "create")],
    ]
    update = received[1][1]
    assert update.before is not None and update.values is not None
    assert (update.before["speed"], update.values["speed"]) == (1, 5)


async def test_async_after_commit_listener_runs_and_errors_are_contained(
    acc: Accessors, db: AsyncDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    done = asyncio.Event()

    @acc.alarms.after_commit()
    async def notify(changes: list[Change]) -> None:
        done.set()

    @acc.alarms.after_commit()
    def broken(changes: list[Change]) -> None:
        raise RuntimeError("listener bug")

    await acc.alarms.insert(Alarm(code="x"))
    await asyncio.wait_for(done.wait(), timeout=10)
    assert "listener bug" in caplog.text or "after_commit listener" in caplog.text
    assert await acc.alarms.count() == 1


async def test_accessor_calls_in_hooks_are_audited_under_the_triggering_actor(
    acc: Accessors, db: AsyncDatabase
) -> None:
    @acc.recipes.after_update()
    async def note(session: AsyncSession, instance: Recipe) -> None:
        await acc.alarms.insert(Alarm(code="changed"))

    recipe = await acc.recipes.insert(Recipe(name="bolt"))
    await acc.recipes.update(recipe.id, speed=4, actor="operator-3")
    actors = {(e.component, e.operation): e.actor for e in await db.read_audit(limit=2)}
    assert actors == {("recipes", "update"): "operator-3", ("alarms", "create"): "operator-3"}


async def test_hook_path_returns_values_of_the_column_type(db: AsyncDatabase) -> None:
    import datetime as dt

    from tests.models import Shift
    from vstorage import AsyncModelAccessor

    shifts = AsyncModelAccessor(Shift, "shifts", database=db)
    await db.create_all()

    @shifts.before_insert()
    def noop(session: AsyncSession, shift: Shift) -> None:
        pass

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    stored = await shifts.insert(Shift(starts=now, ends=now))
    assert isinstance(stored.factor, float) and stored.factor == 30.0
    [entry] = await db.read_audit()
    assert entry.after is not None and isinstance(entry.after["factor"], float)
