"""The demo machine app: recipes, production runs and alarms, served over HTTP.

Run it with ``python examples/machine_app.py`` (options: ``--port``, ``--db``) and try::

    curl -s localhost:8000/recipes
    curl -s -X POST localhost:8000/runs -H 'X-User: operator-7' \\
         -H 'content-type: application/json' -d '{"recipe_id": 1, "planned_parts": 40}'
    curl -s 'localhost:8000/db/audit?limit=5'

It stores everything in one SQLite file next to where it runs (``machine.db``), with soft
delete on recipes, a hook that validates runs, and a hook that writes an alarm row in the same
transaction when a run finishes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import enum
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.applications import Starlette

from vstorage import AsyncModelAccessor, use_actor
from vstorage.web import bootstrap


class Base(DeclarativeBase):
    pass


class Recipe(Base):
    __tablename__ = "recipes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    spindle_rpm: Mapped[int] = mapped_column(default=1000)
    cycle_seconds: Mapped[float] = mapped_column(default=30.0)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class RunStatus(enum.Enum):
    PLANNED = "planned"
    RUNNING = "running"
    DONE = "done"
    ABORTED = "aborted"


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipes.id"))
    status: Mapped[RunStatus] = mapped_column(default=RunStatus.PLANNED)
    planned_parts: Mapped[int] = mapped_column(default=1)
    good_parts: Mapped[int] = mapped_column(default=0)


class Alarm(Base):
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), default=None)


MAX_RPM = 24_000

recipes = AsyncModelAccessor(Recipe, "recipes")
runs = AsyncModelAccessor(Run, "runs")
alarms = AsyncModelAccessor(Alarm, "alarms")


@recipes.before_insert()
@recipes.before_update()
def check_spindle(session: AsyncSession, recipe: Recipe) -> None:
    if recipe.spindle_rpm is not None and not 0 < recipe.spindle_rpm <= MAX_RPM:
        raise ValueError(f"spindle_rpm must be between 1 and {MAX_RPM}")


@runs.before_insert()
@runs.before_update()
async def check_run(session: AsyncSession, run: Run) -> None:
    # Reads through the write session: the check and the insert are one transaction.
    recipe = (
        await session.execute(select(Recipe.deleted_at).where(Recipe.id == run.recipe_id))
    ).first()
    if recipe is None or recipe.deleted_at is not None:
        raise ValueError(f"recipe {run.recipe_id} does not exist or is deleted")
    if run.planned_parts is not None and run.planned_parts < 1:
        raise ValueError("planned_parts must be at least 1")
    if run.good_parts is not None and not 0 <= run.good_parts <= (run.planned_parts or 0):
        raise ValueError("good_parts must be between 0 and planned_parts")


@runs.after_update()
async def report_finished_run(session: AsyncSession, run: Run) -> None:
    if run.status in (RunStatus.DONE, RunStatus.ABORTED):
        scrap = run.planned_parts - run.good_parts
        code = "RUN-DONE" if run.status is RunStatus.DONE else "RUN-ABORT"
        message = f"run {run.id} {run.status.value}: {run.good_parts} good, {scrap} short"
        await alarms.insert(Alarm(code=code, message=message, run_id=run.id))


async def seed() -> None:
    """A little data on first start, so the screens have something to show."""
    if await recipes.count(include_deleted=True):
        return
    with use_actor("seed"):
        made = await recipes.insert_many(
            [
                Recipe(name="bracket-a4", spindle_rpm=12_000, cycle_seconds=42.5),
                Recipe(name="flange-dn50", spindle_rpm=8_000, cycle_seconds=65.0),
                Recipe(name="shaft-12mm", spindle_rpm=18_000, cycle_seconds=21.0),
            ]
        )
        run = await runs.insert(Run(recipe_id=made[0].id, planned_parts=40))
        await runs.update(run.id, status=RunStatus.RUNNING)


def build_app(database_url: str) -> Starlette:
    """The Starlette app with the storage routes, seeded on startup."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await seed()
        yield

    app = Starlette(lifespan=lifespan)
    bootstrap(
        app,
        accessors=[recipes, runs, alarms],
        database_url=database_url,
        max_records_per_model=10_000,
    )
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", default="machine.db", help="SQLite file (created if missing)")
    parser.add_argument(
        "--url",
        help="a database URL instead of --db, e.g. postgresql+asyncpg://127.0.0.1/test "
        "(needs the postgres extra)",
    )
    args: Any = parser.parse_args(argv)
    app = build_app(args.url or f"sqlite:///{args.db}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
