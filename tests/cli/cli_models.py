"""Models for the command-line tests, loaded with ``--models tests.cli.cli_models``.

``Part`` is soft-deleted (it has ``deleted_at``) and references a ``Station``; the accessors
are created without a database, at module top level, as the CLI expects to find them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vstorage import AsyncModelAccessor


class Base(DeclarativeBase):
    pass


class Station(Base):
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class Part(Base):
    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    quantity: Mapped[int] = mapped_column(default=0)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), default=None)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


stations = AsyncModelAccessor(Station, "stations")
parts = AsyncModelAccessor(Part, "parts")

#: For ``--models tests.cli.cli_models:only_stations``.
only_stations = [stations]
