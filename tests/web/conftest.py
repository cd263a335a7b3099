from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette

from tests.conftest import Place
from tests.models import Alarm, Measurement, Recipe, Run
from vstorage import AsyncDatabase, AsyncModelAccessor
from vstorage.web import bootstrap


@dataclass
class Web:
    client: httpx.AsyncClient
    db: AsyncDatabase
    recipes: AsyncModelAccessor[Recipe]
    alarms: AsyncModelAccessor[Alarm]
    runs: AsyncModelAccessor[Run]
    measurements: AsyncModelAccessor[Measurement]
    app: Starlette


@pytest.fixture(params=["starlette", "fastapi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_web(kind: str, place: Place, tmp_path: Path) -> Any:
    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Web]:
        app: Starlette = FastAPI() if kind == "fastapi" else Starlette()
        recipes = AsyncModelAccessor(Recipe, "recipes")
        alarms = AsyncModelAccessor(Alarm, "alarms")
        runs = AsyncModelAccessor(Run, "runs")
        measurements = AsyncModelAccessor(Measurement, "measurements")
        hooks = options.pop("hooks", None)
        if hooks is not None:
            hooks(recipes, alarms)
        database = options.pop("database", None) or place.database()
        options.setdefault("safety_backup_dir", tmp_path)
        db = bootstrap(
            app, accessors=[recipes, alarms, runs, measurements], database=database, **options
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://test", headers={"X-User": "tester"}
            ) as client,
        ):
            yield Web(client, db, recipes, alarms, runs, measurements, app)

    return make


@pytest.fixture
async def web(make_web: Any) -> AsyncIterator[Web]:
    async with make_web() as value:
        yield value
