"""UUID keys, awkward column types, and SQLModel models through the whole contract."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Interval
from sqlalchemy.orm import Mapped, mapped_column

from tests.conftest import Accessors
from tests.models import Alarm, Base, Measurement, Mode, Recipe, Run, Tool
from vstorage import AsyncDatabase, ConflictError, ValidationError


def measurement(key: str = "m-1") -> Measurement:
    return Measurement(
        key=key,
        amount=decimal.Decimal("12.34"),
        mode=Mode.AUTO,
        payload={"axes": [1, 2, 3], "ok": True, "name": "ünï"},
        blob=b"\x00\x01\xff",
        at_time=dt.time(7, 30, 15),
        on_day=dt.date(2026, 1, 31),
        taken_at=dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )


async def test_rich_types_round_trip(acc: Accessors) -> None:
    await acc.measurements.insert(measurement())
    fetched = await acc.measurements.get("m-1")
    assert fetched is not None
    assert fetched.amount == decimal.Decimal("12.34")
    assert fetched.mode is Mode.AUTO
    assert fetched.payload == {"axes": [1, 2, 3], "ok": True, "name": "ünï"}
    assert fetched.blob == b"\x00\x01\xff"
    assert fetched.at_time == dt.time(7, 30, 15)
    assert fetched.on_day == dt.date(2026, 1, 31)
    # A column without timezone stores the UTC instant of an aware value.
    assert fetched.taken_at == dt.datetime(2026, 1, 31, 10, 0)


async def test_rich_types_in_the_audit_trail(acc: Accessors, db: AsyncDatabase) -> None:
    await acc.measurements.insert(measurement())
    await acc.measurements.update("m-1", amount="99.5", mode="manual", blob=b"zz")
    update, create = await db.read_audit(component="measurements")
    assert create.record_id == "m-1"
    assert create.after is not None
    assert create.after["amount"] == "12.34"
    assert create.after["mode"] == "auto"
    assert create.after["blob"] == "AAH/"
    assert create.after["at_time"] == "07:30:15"
    assert create.after["on_day"] == "2026-01-31"
    assert create.after["payload"] == {"axes": [1, 2, 3], "ok": True, "name": "ünï"}
    assert update.after is not None and update.before is not None
    assert (update.before["mode"], update.after["mode"]) == ("auto", "manual")
    assert decimal.Decimal(update.after["amount"]) == decimal.Decimal("99.5")


async def test_rich_types_full_contract(acc: Accessors, db: AsyncDatabase) -> None:
    await acc.measurements.insert_many([measurement("a"), measurement("b")])
    saved = measurement("a")
    saved.payload = {"changed": None}
    await acc.measurements.save(saved)
    assert await acc.measurements.delete("a")
    assert await acc.measurements.get("a") is None
    assert await acc.measurements.restore("a") is False  # hard-delete model
    assert await acc.measurements.delete_many(["b", "zzz"]) == 1
    operations = [e.operation for e in await db.read_audit(limit=None)]
    assert operations == ["delete", "delete", "update", "create", "create"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mode", "sideways"),
        ("payload", {"x": {1, 2}}),
        ("amount", "NaN"),
        ("amount", "1.234"),
        ("blob", 3.5),
    ],
)
async def test_rich_types_reject_bad_values(acc: Accessors, field: str, value: object) -> None:
    record = measurement()
    with pytest.raises(ValidationError) as info:
        values = {
            k: getattr(record, k)
            for k in ("key", "amount", "mode", "payload", "blob", "at_time", "on_day", "taken_at")
        }
        values[field] = value
        await acc.measurements.insert(values)
    assert info.value.errors[0].field.startswith(field)


async def test_uuid_keys(acc: Accessors, db: AsyncDatabase) -> None:
    run = await acc.runs.insert(Run(label="first"))
    assert isinstance(run.id, uuid.UUID)
    assert (await acc.runs.get(run.id)) is not None
    assert (await acc.runs.get(str(run.id))) is not None
    updated = await acc.runs.update(str(run.id), label="second")
    assert updated is not None and updated.label == "second"
    [_update, create] = await db.read_audit(component="runs", record_id=run.id)
    assert create.record_id == str(run.id)
    assert create.after is not None and create.after["id"] == str(run.id)
    assert await acc.runs.delete(run.id)
    with pytest.raises(ValidationError):
        await acc.runs.get("not-a-uuid")


async def test_foreign_key_is_enforced(acc: Accessors) -> None:
    with pytest.raises(ConflictError) as info:
        await acc.runs.insert(Run(label="orphan", recipe_id=12345))
    assert info.value.constraint == "foreign_key"
    recipe = await acc.recipes.insert(Recipe(name="bolt"))
    run = await acc.runs.insert(Run(label="ok", recipe_id=recipe.id))
    assert run.recipe_id == recipe.id


async def test_sqlmodel_contract(acc: Accessors, db: AsyncDatabase) -> None:
    tool = await acc.tools.insert(Tool(name="drill", wear=3), actor="op")
    assert tool.id is not None
    assert (await acc.tools.update(tool.id, wear=10)) is not None
    assert await acc.tools.delete(tool.id)
    again = await acc.tools.insert(Tool(name="drill"))
    assert again.id != tool.id
    with pytest.raises(ConflictError):
        await acc.tools.restore(tool.id)
    await acc.tools.delete(again.id)
    assert await acc.tools.restore(tool.id)
    many = await acc.tools.insert_many([Tool(name="saw"), Tool(name="file")])
    assert await acc.tools.delete_many([t.id for t in many]) == 2
    saved = await acc.tools.save(Tool(name="lathe"))
    saved.wear = 50
    await acc.tools.save(saved)
    assert [t.name for t in await acc.tools.all()] == ["drill", "lathe"]
    operations = [e.operation for e in await db.read_audit(component="tools", limit=None)]
    assert operations.count("create") == 5


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "drill", "wear": 101}, "wear"),
        ({"name": "x" * 31}, "name"),
        ({"name": "drill", "wear": "worn"}, "wear"),
    ],
)
async def test_sqlmodel_field_constraints_are_enforced(
    acc: Accessors, values: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await acc.tools.insert(values)
    assert [e.field for e in info.value.errors] == [field]
    assert await acc.tools.count() == 0


async def test_sqlmodel_instance_skipping_validation_is_still_checked(acc: Accessors) -> None:
    tool = Tool(name="drill", wear=500)  # SQLModel table=True does not validate here
    with pytest.raises(ValidationError):
        await acc.tools.insert(tool)


async def test_sqlmodel_constraints_apply_to_updates(acc: Accessors) -> None:
    tool = await acc.tools.insert(Tool(name="drill"))
    with pytest.raises(ValidationError) as info:
        await acc.tools.update(tool.id, wear=-1)
    assert [e.field for e in info.value.errors] == ["wear"]
    fetched = await acc.tools.get(tool.id)
    assert fetched is not None and fetched.wear == 0


async def test_booleans_are_not_integers(acc: Accessors) -> None:
    with pytest.raises(ValidationError) as info:
        await acc.recipes.insert({"name": "bolt", "speed": True})
    assert info.value.errors[0].field == "speed"


async def test_sql_errors_escaping_a_transaction_are_translated(db: AsyncDatabase) -> None:
    from sqlalchemy import text

    from vstorage import StorageError

    with pytest.raises(StorageError) as info:
        async with db.transaction() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    assert "SELECT" not in str(info.value)
    assert info.value.__cause__ is not None
    with pytest.raises(StorageError):
        async with db.read() as session:
            await session.execute(text("SELECT * FROM no_such_table"))


async def test_errors_of_the_fast_path_are_chained(acc: Accessors) -> None:
    await acc.alarms.insert(Alarm(id=1, code="a"))
    with pytest.raises(ConflictError) as info:
        await acc.alarms.insert(Alarm(id=1, code="b"))
    assert info.value.__cause__ is not None


async def test_aware_datetimes_keep_their_instant(db: AsyncDatabase) -> None:
    from tests.models import Shift
    from vstorage import AsyncModelAccessor

    shifts = AsyncModelAccessor(Shift, "shifts", database=db)
    await db.create_all()
    zone = dt.timezone(dt.timedelta(hours=2))
    local = dt.datetime(2026, 3, 1, 12, 0, tzinfo=zone)
    stored = await shifts.insert(Shift(starts=local, ends=local))
    fetched = await shifts.get(stored.id)
    assert fetched is not None
    if db.dialect_name == "sqlite":
        # SQLite keeps no offset: the UTC instant is stored (naive on read for DateTime).
        assert fetched.starts == dt.datetime(2026, 3, 1, 10, 0)
    else:
        # PostgreSQL's timestamptz gives the instant back, aware.
        assert fetched.starts == local
        assert fetched.starts.utcoffset() == dt.timedelta(0)
    assert fetched.ends == local
    assert fetched.ends.tzinfo is not None


async def test_text_that_is_not_unicode_is_refused_with_its_field(acc: Accessors) -> None:
    with pytest.raises(ValidationError) as refused:
        await acc.recipes.insert(Recipe(name="broken \ud800"))
    assert [e.field for e in refused.value.errors] == ["name"]
    with pytest.raises(ValidationError):
        await acc.recipes.find(Recipe.name == "broken \ud800")
    with pytest.raises(ValidationError):
        await acc.recipes.find(Recipe.speed > 2**70)
    assert await acc.recipes.count() == 0


class Step(Base):
    __tablename__ = "steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    duration: Mapped[dt.timedelta] = mapped_column(Interval)


async def test_interval_columns_take_timedeltas(db: AsyncDatabase) -> None:
    from vstorage import AsyncModelAccessor

    steps = AsyncModelAccessor(Step, "steps", database=db)
    await db.create_all()
    stored = await steps.insert({"duration": dt.timedelta(seconds=5, milliseconds=250)})
    fetched = await steps.get(stored.id)
    assert fetched is not None and fetched.duration == dt.timedelta(seconds=5.25)
    with pytest.raises(ValidationError):
        await steps.insert({"duration": dt.datetime(2026, 1, 1)})
    [entry] = await db.read_audit(component="steps")
    assert entry.after == {"id": stored.id, "duration": 5.25}


async def test_intervals_round_trip_through_csv(db: AsyncDatabase, tmp_path: Path) -> None:
    from vstorage import AsyncModelAccessor
    from vstorage.io import export_zip, import_zip

    steps = AsyncModelAccessor(Step, "steps", database=db)
    await db.create_all()
    values = [dt.timedelta(days=2, microseconds=7), -dt.timedelta(seconds=1.5), dt.timedelta(0)]
    await steps.insert_many([{"duration": value} for value in values])
    await export_zip(db, tmp_path / "steps.zip")
    await import_zip(db, tmp_path / "steps.zip", mode="replace")
    assert [s.duration for s in await steps.all()] == values
