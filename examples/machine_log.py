"""A small machine app: recipes and alarms on an embedded SQLite file, with an audit trail.

Run it with ``python examples/machine_log.py [path/to/file.db]`` (default
``machine_log.db``). It opens (or creates) the database, writes from several concurrent
tasks the way a cell controller would, reads the data back, and prints the audit trail: who
changed what, and when.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vstorage import AsyncDatabase, AsyncModelAccessor, use_actor


class Base(DeclarativeBase):
    pass


class Recipe(Base):
    __tablename__ = "recipes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    spindle_rpm: Mapped[int] = mapped_column(default=1000)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Alarm(Base):
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(String(200))


recipes = AsyncModelAccessor(Recipe, "recipes")
alarms = AsyncModelAccessor(Alarm, "alarms")


@recipes.before_update()
def check_speed(session: AsyncSession, recipe: Recipe) -> None:
    if recipe.spindle_rpm > 24_000:
        raise ValueError("spindle_rpm above the machine's limit of 24000")


@recipes.after_update()
async def log_speed_change(session: AsyncSession, recipe: Recipe) -> None:
    # Written in the same transaction as the update and its audit row.
    await alarms.insert(Alarm(code="INFO", message=f"{recipe.name} now at {recipe.spindle_rpm}"))


async def main(path: str) -> None:
    async with AsyncDatabase(f"sqlite:///{path}") as db:
        db.register(recipes)
        db.register(alarms)
        await db.create_all()

        stamp = dt.datetime.now().strftime("%H%M%S")
        names = [f"bracket-{stamp}", f"flange-{stamp}", f"shaft-{stamp}"]
        created = await asyncio.gather(
            *(recipes.insert(Recipe(name=name), actor="setup") for name in names)
        )
        with use_actor("operator-7"):
            await recipes.update(created[0].id, spindle_rpm=12_000)
            try:
                await recipes.update(created[1].id, spindle_rpm=90_000)
            except ValueError as exc:
                print(f"refused: {exc}")
            await recipes.delete(created[2].id)

        print("\nlive recipes:")
        for recipe in await recipes.all(order_by="name"):
            print(f"  {recipe.id:>4}  {recipe.name:<20} {recipe.spindle_rpm:>6} rpm")
        print(f"\nalarms: {await alarms.count()}")
        print("\naudit trail (newest first):")
        for entry in await db.read_audit(limit=8):
            print(
                f"  {entry.timestamp:%Y-%m-%d %H:%M:%S}Z  {entry.actor:<11} "
                f"{entry.operation:<11} {entry.component}/{entry.record_id}"
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "machine_log.db"))
