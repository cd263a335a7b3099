from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.models import Alarm, Counter, Measurement, Recipe, Run, Tool
from vstorage import AsyncDatabase, AsyncModelAccessor


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "machine.db"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[AsyncDatabase]:
    database = AsyncDatabase(f"sqlite:///{db_path}")
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
