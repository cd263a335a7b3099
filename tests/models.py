"""Models the tests share: soft delete, hard delete, UUID key, rich column types, SQLModel."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, LargeBinary, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlmodel import Field, SQLModel

from vstorage import UTCDateTime


class Base(DeclarativeBase):
    pass


class Recipe(Base):
    """Soft delete: has ``deleted_at``; ``name`` is unique among live rows."""

    __tablename__ = "recipes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    speed: Mapped[int] = mapped_column(default=1)
    note: Mapped[str | None] = mapped_column(default=None)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Alarm(Base):
    """Hard delete: no ``deleted_at``."""

    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    level: Mapped[int] = mapped_column(default=0)


class Run(Base):
    """UUID primary key, generated in Python, and a foreign key to recipes."""

    __tablename__ = "runs"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    recipe_id: Mapped[int | None] = mapped_column(ForeignKey("recipes.id"), default=None)
    label: Mapped[str] = mapped_column(String(40))


class Mode(enum.Enum):
    AUTO = "auto"
    MANUAL = "manual"


class Measurement(Base):
    """Every awkward column type: Decimal, Enum, JSON, bytes, time, date, tz-aware datetime."""

    __tablename__ = "measurements"
    key: Mapped[str] = mapped_column(String(36), primary_key=True)
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    mode: Mapped[Mode]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    at_time: Mapped[dt.time]
    on_day: Mapped[dt.date]
    taken_at: Mapped[dt.datetime]


class Counter(Base):
    __tablename__ = "counters"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class Shift(Base):
    """Timezone-aware columns: SQLAlchemy's DateTime(timezone=True) and vstorage's UTCDateTime."""

    __tablename__ = "shifts"
    id: Mapped[int] = mapped_column(primary_key=True)
    starts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    factor: Mapped[float] = mapped_column(default=30.0)


class Tool(SQLModel, table=True):
    """A SQLModel table model with soft delete and a field constraint."""

    __tablename__ = "tools"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=30, unique=True)
    wear: int = Field(default=0, ge=0, le=100)
    deleted_at: dt.datetime | None = Field(default=None)
