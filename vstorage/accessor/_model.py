"""What the accessor needs to know about a mapped model: columns, key, soft delete, defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    Select,
    Table,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import instance_dict

from vstorage.errors import ConfigurationError

SOFT_DELETE_FIELD = "deleted_at"
_UNSET = object()


@dataclass(frozen=True, slots=True)
class Field:
    """One mapped column: its attribute name on the model and the column behind it."""

    key: str
    column: Column[Any]

    @property
    def has_python_default(self) -> bool:
        """True when SQLAlchemy would fill the column from a Python-side default."""
        default = self.column.default
        return default is not None and (
            getattr(default, "is_scalar", False) or getattr(default, "is_callable", False)
        )

    def python_default(self) -> Any:
        """Evaluate the Python-side default (scalar or zero-argument callable)."""
        default: Any = self.column.default
        if default.is_callable:
            return default.arg(None)
        return default.arg


class ModelInfo:
    """Introspection of one SQLAlchemy or SQLModel mapped class, done once."""

    def __init__(self, model: type[Any]) -> None:
        try:
            mapper: Mapper[Any] = sa_inspect(model)
        except NoInspectionAvailable as exc:
            raise ConfigurationError(
                f"{model!r} is not a mapped SQLAlchemy/SQLModel class"
            ) from exc
        table = mapper.local_table
        if not isinstance(table, Table):
            raise ConfigurationError(f"{model.__name__} is not mapped to a table")
        self.model = model
        self.table: Table = table
        self.fields: dict[str, Field] = {}
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if isinstance(column, Column) and column.table is table:
                self.fields[attr.key] = Field(attr.key, column)
        keys = [f for f in self.fields.values() if f.column.primary_key]
        if len(keys) != 1:
            raise ConfigurationError(
                f"{model.__name__} must have exactly one primary-key column, has {len(keys)}"
            )
        self.pk: Field = keys[0]
        self.by_column: dict[str, Field] = {f.column.name: f for f in self.fields.values()}
        self.soft_delete: Field | None = self.fields.get(SOFT_DELETE_FIELD)
        self.server_generated: frozenset[str] = frozenset(
            f.key for f in self.fields.values() if f.column.server_default is not None
        )
        self.is_sqlmodel = any(c.__name__ == "SQLModel" for c in model.__mro__)
        # (key, python default or None, omit when None) per field, for complete().
        self._completion = [
            (
                key,
                field.python_default if field.has_python_default else None,
                key in self.server_generated or (field is self.pk and self.pk_generated),
            )
            for key, field in self.fields.items()
        ]

    @property
    def name(self) -> str:
        """The model's class name."""
        return self.model.__name__

    @property
    def pk_generated(self) -> bool:
        """True when the database generates the key (an autoincrementing integer)."""
        column = self.pk.column
        return isinstance(column.type, Integer) and column.autoincrement in (True, "auto")

    def complete(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every field of a validated record: Python defaults applied, missing ones None.

        A generated key and server-side defaults stay absent when not given.
        """
        out: dict[str, Any] = {}
        for key, default, omit in self._completion:
            value = values.get(key)
            if value is None:
                if default is not None:
                    value = default()
                if value is None and omit:
                    continue
            out[key] = value
        return out

    def values_of(self, obj: Any) -> dict[str, Any]:
        """The column values of a model instance or a mapping, by attribute name.

        A mapping keeps only the keys it has (unknown keys are left for validation to refuse).
        """
        if isinstance(obj, Mapping):
            return dict(obj)
        if not isinstance(obj, self.model):
            raise TypeError(f"expected {self.name} or a mapping, got {type(obj).__name__}")
        # The instance dict holds every attribute that was set; reading it directly skips the
        # descriptor machinery, which dominates the cost of large batches.
        state = instance_dict(obj)
        return {key: state.get(key) for key in self.fields}

    def build(self, values: Mapping[str, Any]) -> Any:
        """A new model instance holding ``values``."""
        return self.model(**values)

    def assign(self, obj: Any, values: Mapping[str, Any]) -> Any:
        """Copy stored values onto ``obj`` when it is a model instance; else build one."""
        if isinstance(obj, self.model):
            state = instance_dict(obj)
            for key, value in values.items():
                if state.get(key, _UNSET) is not value:
                    setattr(obj, key, value)
            return obj
        return self.build(values)

    def from_row(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        """Attribute-keyed values from a row keyed by column name."""
        return {field.key: row[name] for name, field in self.by_column.items() if name in row}

    @property
    def limit_lock(self) -> str:
        """The lock name that serializes writes counted against ``max_records``."""
        return f"vstorage.limit.{self.table.name}"

    def live_count(self) -> Select[Any]:
        """``SELECT count(*)`` of the records that are not soft-deleted."""
        query = select(func.count()).select_from(self.table)
        if self.soft_delete is not None:
            query = query.where(self.soft_delete.column.is_(None))
        return query

    def now_for_soft_delete(self) -> dt.datetime:
        """The deletion timestamp in the form the ``deleted_at`` column stores."""
        now = dt.datetime.now(dt.UTC)
        assert self.soft_delete is not None
        column_type = self.soft_delete.column.type
        if isinstance(column_type, DateTime) and not column_type.timezone:
            return now.replace(tzinfo=None)
        return now


def make_unique_partial(info: ModelInfo) -> None:
    """Turn the unique constraints of a soft-delete table into partial unique indexes.

    A soft-deleted row then releases its unique values (``WHERE deleted_at IS NULL``). The
    table must not have been created yet for this to shape its DDL.
    """
    if info.soft_delete is None:
        return
    table = info.table
    live = info.soft_delete.column.is_(None)
    for constraint in list(table.constraints):
        if isinstance(constraint, UniqueConstraint) and not getattr(
            constraint, "_vstorage_partial", False
        ):
            columns = [c.name for c in constraint.columns]
            table.constraints.discard(constraint)
            name = constraint.name if isinstance(constraint.name, str) else None
            index = Index(
                name or f"uq_{table.name}_{'_'.join(columns)}",
                *[table.c[c] for c in columns],
                unique=True,
                sqlite_where=live,
                postgresql_where=live,
            )
            index._vstorage_partial = True  # type: ignore[attr-defined]
    for index in list(table.indexes):
        if index.unique and not getattr(index, "_vstorage_partial", False):
            index.dialect_kwargs["sqlite_where"] = live
            index.dialect_kwargs["postgresql_where"] = live
            index._vstorage_partial = True  # type: ignore[attr-defined]
