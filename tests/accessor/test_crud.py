"""The behaviour contract of the accessor, row by row, for soft- and hard-delete models."""

from __future__ import annotations

import pytest

from tests.conftest import Accessors
from tests.models import Alarm, Recipe
from vstorage import AsyncDatabase, ConflictError, ValidationError


async def test_insert_returns_stored_object_with_key(acc: Accessors) -> None:
    recipe = Recipe(name="bolt", speed=3)
    stored = await acc.recipes.insert(recipe, actor="op")
    assert stored is recipe
    assert isinstance(stored.id, int)
    fetched = await acc.recipes.get(stored.id)
    assert fetched is not None
    assert (fetched.name, fetched.speed, fetched.note, fetched.deleted_at) == (
        "bolt",
        3,
        None,
        None,
    )


async def test_insert_accepts_a_mapping_and_applies_defaults(acc: Accessors) -> None:
    stored = await acc.recipes.insert({"name": "nut"})
    assert isinstance(stored, Recipe)
    assert stored.speed == 1


async def test_insert_writes_a_create_audit_row(acc: Accessors, db: AsyncDatabase) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt", speed=3), actor="op")
    [entry] = await db.read_audit(component="recipes")
    assert (entry.operation, entry.actor, entry.record_id) == ("create", "op", str(stored.id))
    assert entry.before is None
    assert entry.after == {
        "id": stored.id,
        "name": "bolt",
        "speed": 3,
        "note": None,
        "deleted_at": None,
    }


async def test_get_missing_is_none(acc: Accessors) -> None:
    assert await acc.recipes.get(404) is None


async def test_get_with_a_key_of_the_wrong_type_is_a_validation_error(acc: Accessors) -> None:
    with pytest.raises(ValidationError) as info:
        await acc.recipes.get("not-a-number")
    assert info.value.errors[0].field == "id"


async def test_all_orders_by_key_and_pages(acc: Accessors) -> None:
    for name in ["c", "a", "b"]:
        await acc.recipes.insert(Recipe(name=name))
    assert [r.name for r in await acc.recipes.all()] == ["c", "a", "b"]
    assert [r.name for r in await acc.recipes.all(order_by="name")] == ["a", "b", "c"]
    assert [r.name for r in await acc.recipes.all(order_by="name", order_desc=True)] == [
        "c",
        "b",
        "a",
    ]
    assert [r.name for r in await acc.recipes.all(limit=1, offset=1)] == ["a"]


async def test_all_refuses_an_unknown_order_by_field(acc: Accessors) -> None:
    with pytest.raises(ValidationError) as info:
        await acc.recipes.all(order_by="__class__")
    assert info.value.errors[0].field == "order_by"


async def test_all_refuses_negative_paging(acc: Accessors) -> None:
    with pytest.raises(ValidationError):
        await acc.recipes.all(limit=-1)


async def test_find_and_count_with_conditions(acc: Accessors) -> None:
    for speed in [1, 2, 3, 4]:
        await acc.recipes.insert(Recipe(name=f"r{speed}", speed=speed))
    found = await acc.recipes.find(Recipe.speed >= 3, Recipe.name != "r4")
    assert [r.name for r in found] == ["r3"]
    assert await acc.recipes.count(Recipe.speed >= 2) == 3
    assert await acc.recipes.count() == 4


async def test_update_changes_fields_and_audits_before_and_after(
    acc: Accessors, db: AsyncDatabase
) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt", speed=3))
    updated = await acc.recipes.update(stored.id, speed=5, actor="op")
    assert updated is not None and updated.speed == 5
    entry = (await db.read_audit(component="recipes", operation="update"))[0]
    assert entry.before is not None and entry.after is not None
    assert (entry.before["speed"], entry.after["speed"], entry.actor) == (3, 5, "op")


async def test_update_coerces_values(acc: Accessors) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    updated = await acc.recipes.update(stored.id, speed="7")
    assert updated is not None and updated.speed == 7


async def test_update_without_effective_change_writes_no_audit(
    acc: Accessors, db: AsyncDatabase
) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt", speed=3))
    assert await acc.recipes.update(stored.id, speed=3) is not None
    assert [e.operation for e in await db.read_audit()] == ["create"]


@pytest.mark.parametrize("field", ["deleted_at", "id", "colour"])
async def test_update_refuses_unknown_and_protected_fields(acc: Accessors, field: str) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    with pytest.raises(ValidationError) as info:
        await acc.recipes.update(stored.id, **{field: None})
    assert info.value.errors[0].field == field


async def test_update_refuses_null_in_a_required_column(acc: Accessors) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    with pytest.raises(ValidationError) as info:
        await acc.recipes.update(stored.id, name=None)
    assert info.value.errors[0].field == "name"


async def test_update_of_missing_or_deleted_row_is_none(acc: Accessors, db: AsyncDatabase) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    await acc.recipes.delete(stored.id)
    assert await acc.recipes.update(stored.id, speed=9) is None
    assert await acc.recipes.update(999, speed=9) is None
    assert [e.operation for e in await db.read_audit()] == ["soft_delete", "create"]


async def test_soft_delete_hides_the_row_and_audits(acc: Accessors, db: AsyncDatabase) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    assert await acc.recipes.delete(stored.id, actor="op") is True
    assert await acc.recipes.get(stored.id) is None
    hidden = await acc.recipes.get(stored.id, include_deleted=True)
    assert hidden is not None and hidden.deleted_at is not None
    assert await acc.recipes.all() == []
    assert len(await acc.recipes.all(include_deleted=True)) == 1
    assert await acc.recipes.count() == 0
    assert await acc.recipes.count(include_deleted=True) == 1
    entry = (await db.read_audit())[0]
    assert entry.operation == "soft_delete" and entry.after is not None
    assert entry.after["deleted_at"] is not None


async def test_delete_missing_or_already_deleted_is_false_and_writes_nothing(
    acc: Accessors, db: AsyncDatabase
) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    assert await acc.recipes.delete(stored.id)
    assert await acc.recipes.delete(stored.id) is False
    assert await acc.recipes.delete(12345) is False
    assert len(await db.read_audit()) == 2


async def test_hard_delete_removes_the_row(acc: Accessors, db: AsyncDatabase) -> None:
    alarm = await acc.alarms.insert(Alarm(code="E1"))
    assert await acc.alarms.delete(alarm.id)
    assert await acc.alarms.get(alarm.id, include_deleted=True) is None
    entry = (await db.read_audit(component="alarms"))[0]
    assert (entry.operation, entry.after) == ("delete", None)
    assert entry.before == {"id": alarm.id, "code": "E1", "level": 0}


async def test_restore_clears_deleted_at(acc: Accessors, db: AsyncDatabase) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    await acc.recipes.delete(stored.id)
    assert await acc.recipes.restore(stored.id, actor="op") is True
    restored = await acc.recipes.get(stored.id)
    assert restored is not None and restored.deleted_at is None
    assert (await db.read_audit())[0].operation == "restore"


async def test_restore_of_live_or_missing_row_is_false(acc: Accessors, db: AsyncDatabase) -> None:
    stored = await acc.recipes.insert(Recipe(name="bolt"))
    assert await acc.recipes.restore(stored.id) is False
    assert await acc.recipes.restore(999) is False
    alarm = await acc.alarms.insert(Alarm(code="E1"))
    assert await acc.alarms.restore(alarm.id) is False
    assert len(await db.read_audit()) == 2


async def test_soft_deleted_row_releases_its_unique_values(acc: Accessors) -> None:
    first = await acc.recipes.insert(Recipe(name="bolt"))
    with pytest.raises(ConflictError) as info:
        await acc.recipes.insert(Recipe(name="bolt"))
    assert info.value.fields == ("name",)
    await acc.recipes.delete(first.id)
    second = await acc.recipes.insert(Recipe(name="bolt"))
    assert second.id != first.id
    with pytest.raises(ConflictError):
        await acc.recipes.restore(first.id)


async def test_conflict_message_carries_no_sql(acc: Accessors) -> None:
    await acc.recipes.insert(Recipe(name="bolt"))
    with pytest.raises(ConflictError) as info:
        await acc.recipes.insert(Recipe(name="bolt"))
    message = str(info.value)
    assert "INSERT" not in message.upper().split() and "recipes" not in message


async def test_save_inserts_new_and_updates_existing(acc: Accessors, db: AsyncDatabase) -> None:
    recipe = await acc.recipes.save(Recipe(name="bolt", speed=1))
    recipe.speed = 2
    recipe.note = "faster"
    saved = await acc.recipes.save(recipe, actor="op")
    assert saved is recipe
    fetched = await acc.recipes.get(recipe.id)
    assert fetched is not None and (fetched.speed, fetched.note) == (2, "faster")
    assert [e.operation for e in await db.read_audit()] == ["update", "create"]


async def test_save_with_an_unknown_key_inserts_it(acc: Accessors) -> None:
    saved = await acc.recipes.save(Recipe(id=77, name="bolt"))
    assert saved.id == 77
    assert await acc.recipes.get(77) is not None


async def test_save_never_changes_deleted_at(acc: Accessors) -> None:
    recipe = await acc.recipes.insert(Recipe(name="bolt"))
    live = await acc.recipes.get(recipe.id)
    assert live is not None
    await acc.recipes.delete(recipe.id)
    with pytest.raises(ConflictError):
        await acc.recipes.save(live)
    hidden = await acc.recipes.get(recipe.id, include_deleted=True)
    assert hidden is not None and hidden.deleted_at is not None


async def test_insert_many_is_all_or_nothing(acc: Accessors, db: AsyncDatabase) -> None:
    await acc.recipes.insert(Recipe(name="taken"))
    with pytest.raises(ConflictError):
        await acc.recipes.insert_many([Recipe(name="a"), Recipe(name="taken"), Recipe(name="b")])
    assert [r.name for r in await acc.recipes.all()] == ["taken"]
    assert len(await db.read_audit()) == 1


async def test_insert_many_validates_every_record_first(acc: Accessors) -> None:
    with pytest.raises(ValidationError) as info:
        await acc.recipes.insert_many([{"name": "a"}, {"name": "b", "speed": "fast"}])
    assert [e.field for e in info.value.errors] == ["1.speed"]
    assert await acc.recipes.count() == 0


async def test_insert_many_audits_each_record(acc: Accessors, db: AsyncDatabase) -> None:
    stored = await acc.recipes.insert_many([Recipe(name=f"r{i}") for i in range(5)], actor="op")
    assert len({r.id for r in stored}) == 5
    audit = await db.read_audit(component="recipes", limit=None)
    assert sorted(int(e.record_id) for e in audit) == sorted(r.id for r in stored)
    assert {e.actor for e in audit} == {"op"}


async def test_delete_many_skips_missing_and_counts(acc: Accessors, db: AsyncDatabase) -> None:
    stored = await acc.recipes.insert_many([Recipe(name=f"r{i}") for i in range(3)])
    count = await acc.recipes.delete_many([stored[0].id, stored[1].id, 999, stored[0].id])
    assert count == 2
    assert [r.name for r in await acc.recipes.all()] == ["r2"]
    assert [e.operation for e in await db.read_audit(limit=2)] == ["soft_delete", "soft_delete"]


async def test_delete_many_is_all_or_nothing(acc: Accessors) -> None:
    recipe = await acc.recipes.insert(Recipe(name="bolt"))
    with pytest.raises(ValidationError):
        await acc.recipes.delete_many([recipe.id, "nope"])
    assert await acc.recipes.get(recipe.id) is not None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "x", "speed": "fast"}, "speed"),
        ({"name": "x", "speed": 2**70}, "speed"),
        ({"name": "x" * 51}, "name"),
        ({"speed": 1}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "deleted_at": "2024-01-01T00:00:00"}, "deleted_at"),
    ],
)
async def test_insert_rejects_bad_input_naming_the_field(
    acc: Accessors, db: AsyncDatabase, values: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await acc.recipes.insert(values)
    assert field in [e.field for e in info.value.errors]
    assert await acc.recipes.count(include_deleted=True) == 0
    assert await db.read_audit() == []


async def test_actor_must_be_a_non_empty_string(acc: Accessors) -> None:
    with pytest.raises(ValidationError):
        await acc.recipes.insert(Recipe(name="bolt"), actor="")


async def test_accessor_without_audit_writes_none(db: AsyncDatabase) -> None:
    from vstorage import AsyncModelAccessor

    alarms = AsyncModelAccessor(Alarm, "alarms", database=db, enable_auditing=False)
    await db.create_all()
    alarm = await alarms.insert(Alarm(code="E2"))
    await alarms.update(alarm.id, level=3)
    await alarms.delete(alarm.id)
    assert await db.read_audit() == []


async def test_max_records_is_enforced_on_both_paths(acc: Accessors, db: AsyncDatabase) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import AsyncSession

    from vstorage import RecordLimitError

    results = await asyncio.gather(
        *(acc.recipes.insert(Recipe(name=f"r{i}"), max_records=5) for i in range(20)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert all(isinstance(r, RecordLimitError) for r in results if isinstance(r, BaseException))
    assert await acc.recipes.count() == 5
    with pytest.raises(RecordLimitError):
        await acc.recipes.insert_many([Recipe(name="x")], max_records=5)
    # A soft-deleted record no longer counts.
    await acc.recipes.delete(1)
    await acc.recipes.insert(Recipe(name="replacement"), max_records=5)

    @acc.alarms.before_insert()
    def noop(session: AsyncSession, instance: Alarm) -> None:
        pass

    hooked = await asyncio.gather(
        *(acc.alarms.insert(Alarm(code=str(i)), max_records=3) for i in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in hooked) == 3
    assert await acc.alarms.count() == 3
    assert len(await db.read_audit(component="alarms")) == 3


async def test_replace_resets_absent_fields_and_keeps_key_and_deleted_at(
    acc: Accessors, db: AsyncDatabase
) -> None:
    recipe = await acc.recipes.insert(Recipe(name="bolt", speed=5, note="n"))
    replaced = await acc.recipes.replace(recipe.id, {"name": "nut", "id": 999}, actor="op")
    assert replaced is not None
    assert (replaced.id, replaced.name, replaced.speed, replaced.note) == (
        recipe.id,
        "nut",
        1,
        None,
    )
    with pytest.raises(ValidationError):
        await acc.recipes.replace(recipe.id, {"speed": 2})
    await acc.recipes.delete(recipe.id)
    assert await acc.recipes.replace(recipe.id, {"name": "x"}) is None
    assert await acc.recipes.replace(12345, {"name": "y"}) is None
    assert [e.operation for e in await db.read_audit()] == ["soft_delete", "update", "create"]


async def test_page_gives_items_and_total_from_one_snapshot(acc: Accessors) -> None:
    await acc.recipes.insert_many([Recipe(name=f"r{i}", speed=i) for i in range(7)])
    items, total = await acc.recipes.page(Recipe.speed >= 2, limit=2, offset=1, order_by="speed")
    assert [r.speed for r in items] == [3, 4] and total == 5
    await acc.recipes.delete(1)
    _, live = await acc.recipes.page()
    _, everything = await acc.recipes.page(include_deleted=True)
    assert (live, everything) == (6, 7)
    with pytest.raises(ValidationError):
        await acc.recipes.page(order_by="nope")


@pytest.mark.parametrize("with_hooks", [False, True])
async def test_restore_respects_max_records(acc: Accessors, with_hooks: bool) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    from vstorage import RecordLimitError

    if with_hooks:

        @acc.recipes.before_restore()
        def noop(session: AsyncSession, recipe: Recipe) -> None:
            pass

    first = await acc.recipes.insert(Recipe(name="a"))
    await acc.recipes.delete(first.id)
    await acc.recipes.insert_many([Recipe(name="b"), Recipe(name="c")])
    with pytest.raises(RecordLimitError):
        await acc.recipes.restore(first.id, max_records=2)
    assert await acc.recipes.count() == 2
    assert await acc.recipes.restore(first.id, max_records=3)


async def test_nulls_sort_first_ascending_and_last_descending(acc: Accessors) -> None:
    await acc.recipes.insert_many(
        [Recipe(name="b", note="x"), Recipe(name="a"), Recipe(name="c", note="y")]
    )
    ascending = [r.name for r in await acc.recipes.all(order_by="note")]
    descending = [r.name for r in await acc.recipes.all(order_by="note", order_desc=True)]
    assert ascending == ["a", "b", "c"]
    assert descending == ["c", "b", "a"]
