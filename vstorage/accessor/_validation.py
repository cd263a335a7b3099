"""Pydantic validation derived from a model's columns, for SQLAlchemy and SQLModel alike."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, TypeAdapter
from sqlalchemy import types as sa_types

from vstorage.accessor._model import ModelInfo
from vstorage.errors import FieldError, ValidationError

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
_INT16 = (-(2**15), 2**15 - 1)


def _unicode(value: str) -> str:
    if value.isascii():  # the common case, without encoding
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("PostgreSQL text cannot hold the NUL character")
    return value


def _json_value(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON-serialisable: {exc}") from None
    return value


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


def _aware_to_utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps no offset: normalising to UTC keeps the instant right on every backend.
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("the instant is out of range in UTC") from None


def _aware_to_utc_naive(value: dt.datetime) -> dt.datetime:
    # A column without timezone stores wall-clock text: store the UTC instant, never a local
    # time whose offset would be silently dropped.
    return _aware_to_utc(value).replace(tzinfo=None)


def python_type(column_type: sa_types.TypeEngine[Any], server: bool = False) -> Any:
    """The pydantic annotation for a SQLAlchemy column type.

    With ``server`` (PostgreSQL), integers are bounded by their column's size (``Integer`` is
    32-bit there, SQLite's integers are all 64-bit) and text refuses the NUL character, so
    such values are refused with the field's name before the database sees them.
    """
    if isinstance(column_type, sa_types.Interval):
        return dt.timedelta  # a TypeDecorator over DateTime where there is no native type
    if isinstance(column_type, sa_types.TypeDecorator):
        inner = column_type.impl_instance
        if isinstance(inner, sa_types.DateTime):
            return dt.datetime  # the decorator decides how instants are stored
        return python_type(inner, server)
    if isinstance(column_type, sa_types.Boolean):
        return bool
    if isinstance(column_type, sa_types.Integer):
        low, high = _INT64
        if server and isinstance(column_type, sa_types.SmallInteger):
            low, high = _INT16
        elif server and not isinstance(column_type, sa_types.BigInteger):
            low, high = _INT32
        # Constraints before the validator, so the JSON schema says minimum/maximum.
        return Annotated[int, Field(ge=low, le=high), BeforeValidator(_not_bool)]
    if isinstance(column_type, sa_types.Enum):
        if column_type.enum_class is not None:
            return column_type.enum_class
        return Annotated[str, AfterValidator(_one_of(column_type.enums))]
    if isinstance(column_type, sa_types.String):
        checks: list[Any] = [AfterValidator(_unicode)]
        if server:
            checks.append(AfterValidator(_no_nul))
        if column_type.length:
            return Annotated[str, Field(max_length=column_type.length), *checks]
        return Annotated[str, *checks]
    if isinstance(column_type, sa_types.Float):
        if column_type.asdecimal:
            return Annotated[decimal.Decimal, Field(allow_inf_nan=False)]
        return Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_not_bool)]
    if isinstance(column_type, sa_types.Numeric):
        if not column_type.asdecimal:
            return Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_not_bool)]
        return Annotated[
            decimal.Decimal,
            Field(
                allow_inf_nan=False,
                max_digits=column_type.precision,
                decimal_places=column_type.scale,
            ),
        ]
    if isinstance(column_type, sa_types.DateTime):
        if column_type.timezone:
            return Annotated[dt.datetime, AfterValidator(_aware_to_utc)]
        return Annotated[dt.datetime, AfterValidator(_aware_to_utc_naive)]
    if isinstance(column_type, sa_types.Date):
        return dt.date
    if isinstance(column_type, sa_types.Time):
        return dt.time
    if isinstance(column_type, sa_types.Interval):
        return dt.timedelta
    if isinstance(column_type, sa_types._Binary):
        return bytes
    if isinstance(column_type, sa_types.Uuid):
        return uuid.UUID if column_type.as_uuid else str
    if isinstance(column_type, sa_types.JSON):
        return Annotated[Any, AfterValidator(_json_value)]
    try:
        return column_type.python_type
    except NotImplementedError:
        return Any


def _one_of(choices: tuple[str, ...] | list[str]) -> Any:
    allowed = set(choices)

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value

    return check


def _errors(exc: pydantic.ValidationError, model: str) -> ValidationError:
    details = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"]) or "__root__"
        kind = error["type"]
        message = "unknown field" if kind == "extra_forbidden" else error["msg"]
        details.append(FieldError(loc, message, kind))
    return ValidationError(details, model=model)


class Validator:
    """Validates full rows (insert, save) and partial changes (update) of one model."""

    def __init__(self, info: ModelInfo, *, server: bool = False) -> None:
        self._info = info
        self.server = server
        full: dict[str, Any] = {}
        partial: dict[str, Any] = {}
        for key, field in info.fields.items():
            annotation = python_type(field.column.type, server)
            column = field.column
            optional = (
                column.nullable
                or field.has_python_default
                or key in info.server_generated
                or (field is info.pk and info.pk_generated)
            )
            full[key] = (annotation | None, None) if optional else (annotation, ...)
            partial[key] = (annotation | None if column.nullable else annotation, None)
        config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        name = info.name
        self._full: type[pydantic.BaseModel] = pydantic.create_model(
            f"{name}Record", __config__=config, **full
        )
        self._partial: type[pydantic.BaseModel] = pydantic.create_model(
            f"{name}Changes", __config__=config, **partial
        )
        # The core validator directly: model_validate's Python wrapper costs as much as the
        # validation itself on small records.
        self._validate_full = self._full.__pydantic_validator__.validate_python
        self._pk: TypeAdapter[Any] = TypeAdapter(python_type(info.pk.column.type, server))
        self._fields: dict[str, TypeAdapter[Any]] = {
            key: TypeAdapter(
                python_type(f.column.type, server) | None
                if f.column.nullable
                else python_type(f.column.type, server)
            )
            for key, f in info.fields.items()
        }

    def record(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a whole record; returns coerced values for the keys given.

        Raises:
            ValidationError: a value has the wrong type, a required field is missing or null,
                or a key is not a column of the model.

        """
        try:
            parsed = self._validate_full(values)
        except pydantic.ValidationError as exc:
            raise _errors(exc, self._info.name) from None
        data = parsed.__dict__
        out = {key: data[key] for key in parsed.__pydantic_fields_set__}
        if self._info.is_sqlmodel:
            self._sqlmodel_checks(out)
        return out

    def changes(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a partial update; returns coerced values for the keys given.

        Raises:
            ValidationError: as for :meth:`record`; null in a non-nullable column is refused.

        """
        try:
            parsed = self._partial.model_validate(values)
        except pydantic.ValidationError as exc:
            raise _errors(exc, self._info.name) from None
        out = {key: getattr(parsed, key) for key in parsed.model_fields_set}
        if self._info.is_sqlmodel:
            self._sqlmodel_checks(out)
        return out

    def value(self, field: str, value: Any) -> Any:
        """Validate and coerce one value of ``field`` (``None`` only where nullable).

        Raises:
            ValidationError: the value does not fit the column.

        """
        adapter = self._fields.get(field)
        if adapter is None:
            raise ValidationError.single(field, "unknown field", "unknown_field")
        try:
            return adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            message = exc.errors(include_url=False)[0]["msg"]
            raise ValidationError.single(field, message, "invalid") from None

    def schemas(
        self, *, ref_template: str = "#/$defs/{model}", mode: str = "validation"
    ) -> dict[str, dict[str, Any]]:
        """JSON schemas of a whole record and of a partial change."""
        options: dict[str, Any] = {"ref_template": ref_template, "mode": mode}
        return {
            "record": self._full.model_json_schema(**options),
            "changes": self._partial.model_json_schema(**options),
        }

    def key(self, value: Any) -> Any:
        """Validate and coerce a primary-key value.

        Raises:
            ValidationError: the value cannot be this model's key.

        """
        if isinstance(value, bool):
            raise ValidationError.single(self._info.pk.key, "not a valid key", "type_error")
        try:
            return self._pk.validate_python(value)
        except pydantic.ValidationError:
            raise ValidationError.single(
                self._info.pk.key, "not a valid key", "type_error"
            ) from None

    def _sqlmodel_checks(self, values: dict[str, Any]) -> None:
        # SQLModel table=True classes skip validation on construction; run the model's own
        # field constraints (Field(gt=0), max_length, ...) here.
        candidate = {k: v for k, v in values.items() if v is not None}
        try:
            self._info.model.model_validate(candidate)
        except pydantic.ValidationError as exc:
            errors = [e for e in _errors(exc, self._info.name).errors if e.type != "missing"]
            if errors:
                raise ValidationError(errors, model=self._info.name) from None
