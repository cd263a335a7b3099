"""Opening, closing, pragmas, in-memory databases and URLs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.models import Recipe
from vstorage import AsyncDatabase, AsyncModelAccessor, ConfigurationError, DatabaseClosedError


async def test_connect_and_close_are_idempotent(db_path: Path) -> None:
    db = AsyncDatabase(f"sqlite:///{db_path}")
    assert not db.is_open
    await db.connect()
    await db.connect()
    assert db.is_open
    await db.close()
    await db.close()
    assert not db.is_open
    with pytest.raises(DatabaseClosedError):
        await db.connect()


async def test_work_before_connect_or_after_close_is_refused(db_path: Path) -> None:
    db = AsyncDatabase(f"sqlite:///{db_path}")
    recipes = AsyncModelAccessor(Recipe, "recipes", database=db)
    with pytest.raises(DatabaseClosedError):
        await recipes.insert(Recipe(name="early"))
    async with db:
        await db.create_all()
        await recipes.insert(Recipe(name="bolt"))
    with pytest.raises(DatabaseClosedError):
        await recipes.insert(Recipe(name="late"))
    with pytest.raises(DatabaseClosedError):
        await recipes.get(1)
    with pytest.raises(DatabaseClosedError):
        async with db.transaction():
            pass


@pytest.mark.parametrize("synchronous", ["full", "normal"])
async def test_pragmas_are_set_and_verified(db_path: Path, synchronous: str) -> None:
    async with AsyncDatabase(
        f"sqlite:///{db_path}", synchronous=synchronous, busy_timeout_ms=1234
    ) as db:
        settings = await db.settings()
    writer, reader = settings["writer"], settings["reader"]
    for current in (writer, reader):
        assert current.journal_mode == "wal"
        assert current.synchronous == synchronous
        assert current.foreign_keys is True
        assert current.busy_timeout_ms == 1234
        assert current.journal_size_limit == 64 * 1024 * 1024
    assert writer.query_only is False
    assert reader.query_only is True


async def test_the_file_is_in_wal_mode_for_other_processes(db_path: Path) -> None:
    async with AsyncDatabase(f"sqlite:///{db_path}"):
        pass
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_readers_cannot_write(db_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    async with AsyncDatabase(f"sqlite:///{db_path}") as db, db.read() as session:
        with pytest.raises(OperationalError):
            await session.execute(text("CREATE TABLE nope (x INTEGER)"))


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("mysql://localhost/x", {}),
        ("sqlite+pysqlcipher:///x.db", {}),
        ("not a url", {}),
        ("sqlite:///x.db", {"synchronous": "sometimes"}),
        ("sqlite:///x.db", {"readers": 0}),
        ("sqlite:///x.db", {"max_group": 0}),
    ],
)
def test_bad_configuration_is_refused(url: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        AsyncDatabase(url, **kwargs)  # type: ignore[arg-type]


async def test_in_memory_database_is_shared_by_writer_and_reads() -> None:
    async with AsyncDatabase("sqlite:///:memory:") as db:
        recipes = AsyncModelAccessor(Recipe, "recipes", database=db)
        await db.create_all()
        stored = await recipes.insert(Recipe(name="bolt"))
        assert (await recipes.get(stored.id)) is not None
        assert [e.operation for e in await db.read_audit()] == ["create"]
        assert db.path is None
        assert (await db.settings())["writer"].journal_mode == "memory"


async def test_two_in_memory_databases_are_separate() -> None:
    async with AsyncDatabase("sqlite:///:memory:") as one, AsyncDatabase("sqlite://") as two:
        AsyncModelAccessor(Recipe, "recipes", database=one)
        await one.create_all()
        assert one.tables.keys() == {"recipes"}
        from sqlalchemy import text

        async with two.read() as session:
            names = (await session.execute(text("SELECT name FROM sqlite_master"))).all()
        assert names == []


async def test_create_tables_on_connect(db_path: Path) -> None:
    db = AsyncDatabase(f"sqlite:///{db_path}", create_tables=True)
    recipes = AsyncModelAccessor(Recipe, "recipes")
    db.register(recipes)
    async with db:
        await recipes.insert(Recipe(name="bolt"))
    with sqlite3.connect(db_path) as other:
        tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"recipes", "vstorage_audit"} <= tables


async def test_unbound_accessor_says_so() -> None:
    recipes = AsyncModelAccessor(Recipe, "recipes")
    with pytest.raises(ConfigurationError, match="register"):
        await recipes.get(1)


def test_accessor_refuses_an_unmapped_class() -> None:
    with pytest.raises(ConfigurationError):
        AsyncModelAccessor(dict, "dicts")


async def test_data_survives_reopening(db_path: Path) -> None:
    url = f"sqlite:///{db_path}"
    async with AsyncDatabase(url) as db:
        recipes = AsyncModelAccessor(Recipe, "recipes", database=db)
        await db.create_all()
        await recipes.insert(Recipe(name="bolt"))
    async with AsyncDatabase(url) as db:
        recipes = AsyncModelAccessor(Recipe, "recipes", database=db)
        assert [r.name for r in await recipes.all()] == ["bolt"]


async def test_close_inside_a_transaction_is_refused(db_path: Path) -> None:
    async with AsyncDatabase(f"sqlite:///{db_path}") as db:
        async with db.transaction():
            with pytest.raises(ConfigurationError):
                await db.close()
        assert db.is_open


async def test_existing_table_with_other_columns_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as other:
        other.execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT)")
    async with AsyncDatabase(f"sqlite:///{db_path}") as db:
        AsyncModelAccessor(Recipe, "recipes", database=db)
        with pytest.raises(ConfigurationError, match="migrate"):
            await db.create_all()


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("sqlite:///x.db", {"schema": "line1"}),
        ("sqlite:///x.db", {"writers": 4}),
        ("mysql://localhost/db", {}),
        ("postgresql+psycopg://localhost/db", {}),
        ("postgresql+asyncpg://localhost", {}),
    ],
)
def test_backend_options_and_urls_are_checked(url: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        AsyncDatabase(url, **kwargs)  # type: ignore[arg-type]
