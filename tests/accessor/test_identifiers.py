"""Table and column names that need quoting: spaces, capitals, SQL keywords."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tests.models import Base
from vstorage import AsyncDatabase, AsyncModelAccessor
from vstorage.io import export_zip, import_zip


class Station(Base):
    __tablename__ = "Line Stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    select: Mapped[str] = mapped_column("select", String(20), unique=True)
    mixed: Mapped[int] = mapped_column("Mixed Case", default=0)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


async def test_quoted_names_work_end_to_end(db: AsyncDatabase, tmp_path: Path) -> None:
    stations = AsyncModelAccessor(Station, "stations", database=db)
    await db.create_all()
    first = await stations.insert({"select": "weld", "mixed": 2}, actor="op")
    await stations.update(first.id, mixed=3)
    assert [s.select for s in await stations.find(Station.mixed == 3)] == ["weld"]
    assert await stations.delete(first.id)
    again = await stations.insert({"select": "weld"})  # the partial unique index allows it
    assert again.id != first.id
    audit = await db.read_audit(component="stations", limit=None)
    assert [e.operation for e in reversed(audit)] == ["create", "update", "soft_delete", "create"]
    assert audit[-1].after is not None and audit[-1].after["select"] == "weld"
    await export_zip(db, tmp_path / "export.zip")
    report = await import_zip(db, tmp_path / "export.zip", mode="replace")
    assert report.imported["Line Stations"] == 2
    assert len(await stations.all(include_deleted=True)) == 2
    fresh = await stations.insert({"select": "paint"})
    assert fresh.id is not None and fresh.id > again.id
