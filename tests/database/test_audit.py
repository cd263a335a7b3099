"""read_audit: filters, ordering, paging, and instants compared across UTC offsets."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import Accessors
from tests.models import Alarm, Recipe
from vstorage import AsyncDatabase, ValidationError


async def test_newest_first_with_a_stable_order(acc: Accessors, db: AsyncDatabase) -> None:
    await acc.alarms.insert_many([Alarm(code=str(i)) for i in range(5)])
    entries = await db.read_audit()
    assert len(entries) == 5
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True)
    keys = [(e.timestamp, e.id) for e in entries]
    assert keys == sorted(keys, reverse=True)
    if db.dialect_name == "sqlite":
        # The compiled batch stamps one instant on every row: the id breaks the tie.
        assert len({e.timestamp for e in entries}) == 1


async def test_filters(acc: Accessors, db: AsyncDatabase) -> None:
    recipe = await acc.recipes.insert(Recipe(name="bolt"), actor="alice")
    await acc.recipes.update(recipe.id, speed=2, actor="bob")
    await acc.alarms.insert(Alarm(code="E1"), actor="alice")
    assert len(await db.read_audit(component="recipes")) == 2
    assert len(await db.read_audit(actor="alice")) == 2
    assert [e.operation for e in await db.read_audit(operation="update")] == ["update"]
    assert len(await db.read_audit(component="recipes", record_id=recipe.id)) == 2
    assert len(await db.read_audit(component="recipes", record_id=str(recipe.id))) == 2
    assert await db.read_audit(component="nothing") == []


async def test_paging(acc: Accessors, db: AsyncDatabase) -> None:
    await acc.alarms.insert_many([Alarm(code=str(i)) for i in range(10)])
    everything = await db.read_audit(limit=None)
    assert len(everything) == 10
    page = await db.read_audit(limit=3, offset=3)
    assert [e.id for e in page] == [e.id for e in everything[3:6]]
    with pytest.raises(ValidationError):
        await db.read_audit(limit=-1)
    with pytest.raises(ValidationError):
        await db.read_audit(offset=-5)


async def test_timestamps_are_utc_aware(acc: Accessors, db: AsyncDatabase) -> None:
    before = dt.datetime.now(dt.UTC)
    await acc.alarms.insert(Alarm(code="E1"))
    [entry] = await db.read_audit()
    assert entry.timestamp.tzinfo is not None
    assert entry.timestamp.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=5) <= entry.timestamp <= dt.datetime.now(dt.UTC)


async def test_since_and_until_compare_instants_whatever_the_offset(
    acc: Accessors, db: AsyncDatabase
) -> None:
    await acc.alarms.insert(Alarm(code="E1"))
    [entry] = await db.read_audit()
    stamp = entry.timestamp
    for offset_hours in (-8, 0, 5.5, 14):
        zone = dt.timezone(dt.timedelta(hours=offset_hours))
        local = stamp.astimezone(zone)
        assert len(await db.read_audit(since=local, until=local)) == 1
        assert await db.read_audit(since=local + dt.timedelta(microseconds=1)) == []
        assert await db.read_audit(until=local - dt.timedelta(microseconds=1)) == []
    naive_utc = stamp.replace(tzinfo=None)
    assert len(await db.read_audit(since=naive_utc)) == 1
