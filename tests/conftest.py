"""Shared fixtures: a database on each backend, and the accessors of the test models.

Tests that take the ``db`` (or ``backend``) fixture run once on SQLite and once on
PostgreSQL. The PostgreSQL run needs a server: set ``VSTORAGE_TEST_POSTGRES_URL`` (for
example ``postgresql+asyncpg://127.0.0.1/test``); each test gets a schema of its own, dropped
afterwards. Without the variable those runs are skipped, with that reason. Tests marked
``sqlite_only`` exercise what exists only on SQLite (pragmas, files, the single writer);
``postgresql_only`` ones what exists only on a server (pg_dump, the writer pool).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.models import Alarm, Counter, Measurement, Recipe, Run, Tool
from vstorage import AsyncDatabase, AsyncModelAccessor

POSTGRES_URL = os.environ.get("VSTORAGE_TEST_POSTGRES_URL", "")
NO_POSTGRES = "VSTORAGE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs on the SQLite backend only")
    config.addinivalue_line("markers", "postgresql_only: runs on the PostgreSQL backend only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = ["sqlite"]
    elif metafunc.definition.get_closest_marker("postgresql_only"):
        backends = ["postgresql"]
    else:
        backends = ["sqlite", "postgresql"]
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    name = str(getattr(request, "param", "sqlite"))
    if name == "postgresql" and not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    return name


@dataclass
class Place:
    """Where a test's database lives: the URL and the options that go with it."""

    backend: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def database(self, **options: Any) -> AsyncDatabase:
        return AsyncDatabase(self.url, **{**self.options, **options})


def drop_schema(schema: str) -> None:
    """Drop a test schema, on a connection of its own (sync, so it works after the loop)."""
    import asyncio

    import asyncpg

    async def drop() -> None:
        dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()

    asyncio.run(drop())


@pytest.fixture
def place(backend: str, tmp_path: Path) -> Iterator[Place]:
    if backend == "sqlite":
        yield Place(backend, f"sqlite:///{tmp_path / 'machine.db'}")
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield Place(backend, POSTGRES_URL, {"schema": schema})
    drop_schema(schema)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "machine.db"


@pytest.fixture
async def db(place: Place) -> AsyncIterator[AsyncDatabase]:
    database = place.database()
    async with database:
        yield database


class Accessors:
    def __init__(self, db: AsyncDatabase) -> None:
        self.recipes = AsyncModelAccessor(Recipe, "recipes", database=db)
        self.alarms = AsyncModelAccessor(Alarm, "alarms", database=db)
        self.runs = AsyncModelAccessor(Run, "runs", database=db)
        self.measurements = AsyncModelAccessor(Measurement, "measurements", database=db)
        self.counters = AsyncModelAccessor(Counter, "counters", database=db)
        self.tools = AsyncModelAccessor(Tool, "tools", database=db)


@pytest.fixture
async def acc(db: AsyncDatabase) -> Accessors:
    accessors = Accessors(db)
    await db.create_all()
    return accessors
