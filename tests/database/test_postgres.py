"""PostgreSQL specifics: column types, partial indexes, the writer pool, locks and errors."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.conftest import NO_POSTGRES, POSTGRES_URL, Accessors
from tests.models import Counter, Recipe
from vstorage import AsyncDatabase, ConfigurationError, DatabaseBusyError

pytestmark = [pytest.mark.postgresql_only, pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)]


async def _scalar(db: AsyncDatabase, sql: str, **params: object) -> object:
    async with db.read() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def test_audit_columns_are_jsonb_and_timestamptz(acc: Accessors, db: AsyncDatabase) -> None:
    sql = (
        "SELECT data_type FROM information_schema.columns WHERE table_schema = :schema "
        "AND table_name = 'vstorage_audit' AND column_name = :column"
    )
    assert await _scalar(db, sql, schema=db.schema, column="before") == "jsonb"
    assert await _scalar(db, sql, schema=db.schema, column="after") == "jsonb"
    stamp = await _scalar(db, sql, schema=db.schema, column="timestamp")
    assert stamp == "timestamp with time zone"
    await acc.recipes.insert(Recipe(name="bolt"))
    # JSONB really holds objects: the server can look inside them.
    name = await _scalar(db, "SELECT after ->> 'name' FROM vstorage_audit")
    assert name == "bolt"
    assert await _scalar(db, "SELECT count(*) FROM vstorage_audit WHERE before IS NULL") == 1


async def test_unique_index_of_a_soft_delete_model_is_partial(
    acc: Accessors, db: AsyncDatabase
) -> None:
    definition = await _scalar(
        db,
        "SELECT indexdef FROM pg_indexes WHERE schemaname = :schema AND tablename = 'recipes' "
        "AND indexdef LIKE 'CREATE UNIQUE INDEX%(name)%'",
        schema=db.schema,
    )
    assert "WHERE (deleted_at IS NULL)" in str(definition)


async def test_a_long_transaction_does_not_hold_other_writers_back(
    acc: Accessors, db: AsyncDatabase
) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def long_transaction() -> None:
        async with db.transaction():
            await acc.recipes.insert(Recipe(name="slow"))
            inside.set()
            await release.wait()

    slow = asyncio.create_task(long_transaction())
    try:
        await inside.wait()
        # On the writer pool other units of work commit meanwhile (SQLite would queue them).
        inserts = (acc.recipes.insert(Recipe(name=f"r{i}")) for i in range(5))
        others = await asyncio.gather(*inserts)
        assert len(others) == 5 and db.stats().active == 1
        assert "slow" not in {r.name for r in await acc.recipes.all()}  # not committed yet
    finally:
        release.set()
        await slow
    assert "slow" in {r.name for r in await acc.recipes.all()}


async def test_lock_serializes_transactions_that_number_records(
    acc: Accessors, db: AsyncDatabase
) -> None:
    async def next_number() -> None:
        async with db.transaction():
            await db.lock("numbering")
            number = await acc.counters.count() + 1
            await asyncio.sleep(0)
            await acc.counters.insert(Counter(id=number, value=number))

    await asyncio.gather(*(next_number() for _ in range(30)))
    assert sorted(c.id for c in await acc.counters.all()) == list(range(1, 31))
    with pytest.raises(ConfigurationError):
        await db.lock("outside")


async def test_a_deadlock_is_a_busy_error_and_the_other_side_commits(
    acc: Accessors, db: AsyncDatabase
) -> None:
    await acc.counters.insert_many([Counter(id=1), Counter(id=2)])
    first_locked = asyncio.Event()
    second_locked = asyncio.Event()

    async def crossing(mine: int, theirs: int, locked: asyncio.Event, other: asyncio.Event) -> None:
        async with db.transaction():
            await acc.counters.get(mine)  # FOR UPDATE inside a write
            locked.set()
            await other.wait()
            await acc.counters.update(theirs, value=mine)

    results = await asyncio.gather(
        crossing(1, 2, first_locked, second_locked),
        crossing(2, 1, second_locked, first_locked),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], DatabaseBusyError)
    values = sorted(c.value for c in await acc.counters.all())
    assert values in ([0, 1], [0, 2])  # exactly one side's update committed


def test_server_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="schema must be"):
        AsyncDatabase(POSTGRES_URL, schema="bad name; drop")
    with pytest.raises(ConfigurationError, match="writers must be"):
        AsyncDatabase(POSTGRES_URL, writers=0)
    with pytest.raises(ConfigurationError, match="synchronous must be"):
        AsyncDatabase(POSTGRES_URL, synchronous="sometimes")
    with pytest.raises(ConfigurationError, match="reserved"):
        AsyncDatabase(POSTGRES_URL, schema="pg_line")
    with pytest.raises(ConfigurationError, match="1 to 63"):
        AsyncDatabase(POSTGRES_URL, schema="a" * 64)
    with pytest.raises(ConfigurationError, match="different schemas"):
        AsyncDatabase(f"{POSTGRES_URL}?schema=line_1", schema="line_2")
    bare = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    chosen = AsyncDatabase(f"{bare}?schema=line_1")
    assert chosen.schema == "line_1" and chosen.url.startswith("postgresql+asyncpg://")
    assert "schema" not in chosen.url


async def test_synchronous_normal_turns_synchronous_commit_off(place: object) -> None:
    from tests.conftest import Place

    assert isinstance(place, Place)
    async with place.database(synchronous="normal", writers=2) as db:
        info = await db.server_info()
        assert info["synchronous_commit"] == "off"
        assert info["writer_pool"]["size"] == 2
        async with db.transaction() as session:
            setting = (await session.execute(text("SHOW synchronous_commit"))).scalar_one()
        assert setting == "off"


async def test_explicit_keys_move_the_key_sequence_on(acc: Accessors, db: AsyncDatabase) -> None:
    from tests.models import Alarm

    await acc.alarms.insert(Alarm(id=5, code="given"))  # compiled path
    assert (await acc.alarms.insert(Alarm(code="next"))).id == 6
    await acc.recipes.save(Recipe(id=9, name="saved"))  # session path
    assert (await acc.recipes.insert(Recipe(name="after"))).id == 10
    async with db.transaction():
        await acc.alarms.insert(Alarm(id=3, code="lower"))  # never moves the sequence back
    assert (await acc.alarms.insert(Alarm(code="last"))).id == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": 1}, "cannot reach the database server"),
        ({"database": "vstorage_no_such_database"}, "does not exist"),
    ],
)
async def test_an_unreachable_server_is_a_storage_error(
    change: dict[str, object], message: str
) -> None:
    from sqlalchemy.engine import make_url

    from vstorage import StorageError

    url = make_url(POSTGRES_URL).set(**change).render_as_string(False)  # type: ignore[arg-type]
    db = AsyncDatabase(url)
    with pytest.raises(StorageError, match=message):
        await db.connect()
    assert not db.is_open


async def test_values_postgresql_cannot_store_are_refused_with_the_field(
    acc: Accessors, db: AsyncDatabase
) -> None:
    from vstorage import ValidationError

    with pytest.raises(ValidationError) as too_big:
        await acc.recipes.insert(Recipe(name="big", speed=2**40))  # Integer is 32-bit here
    assert [e.field for e in too_big.value.errors] == ["speed"]
    with pytest.raises(ValidationError) as nul:
        await acc.recipes.insert(Recipe(name="nul\x00"))
    assert [e.field for e in nul.value.errors] == ["name"]
    recipe = await acc.recipes.insert(Recipe(name="fine", speed=2**31 - 1))
    with pytest.raises(ValidationError) as update:
        await acc.recipes.update(recipe.id, speed=-(2**31) - 1)
    assert [e.field for e in update.value.errors] == ["speed"]
    assert await acc.recipes.count() == 1
