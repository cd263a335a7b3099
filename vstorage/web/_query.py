"""Query strings of the list route: paging, ordering and column filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement

from vstorage.accessor import AsyncModelAccessor
from vstorage.errors import FieldError, ValidationError

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "is_null")
_RESERVED = ("limit", "offset", "order_by", "order_desc", "include_deleted")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass
class ListQuery:
    """A parsed list request."""

    limit: int
    offset: int
    order_by: str | None
    order_desc: bool
    include_deleted: bool
    conditions: list[ColumnElement[bool]] = field(default_factory=list)


def parse_bool(name: str, raw: str) -> bool:
    """``true``/``false`` (and 1/0, yes/no, on/off).

    Raises:
        ValidationError: anything else.

    """
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError.single(name, "must be true or false")


def parse_int(name: str, raw: str, *, low: int, high: int) -> int:
    """An integer between ``low`` and ``high``.

    Raises:
        ValidationError: not an integer, or out of range.

    """
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ValidationError.single(name, "must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ValidationError.single(name, f"must be between {low} and {high}")
    return value


def parse_list_query(
    accessor: AsyncModelAccessor[Any],
    params: list[tuple[str, str]],
    *,
    default_limit: int,
    max_limit: int,
) -> ListQuery:
    """Parse ``?limit=&offset=&order_by=&order_desc=&include_deleted=&<field>[__op]=``.

    Unknown parameters are refused rather than ignored: a misspelt filter must not silently
    widen the result.

    Raises:
        ValidationError: one error per bad parameter.

    """
    query = ListQuery(default_limit, 0, None, False, False)
    errors: list[FieldError] = []
    seen: set[str] = set()
    for name, raw in params:
        try:
            if name in _RESERVED and name in seen:
                raise ValidationError.single(name, "given more than once")
            seen.add(name)
            _apply(query, accessor, name, raw, max_limit)
        except ValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    return query


def _apply(
    query: ListQuery, accessor: AsyncModelAccessor[Any], name: str, raw: str, max_limit: int
) -> None:
    if name == "limit":
        query.limit = parse_int(name, raw, low=0, high=max_limit)
    elif name == "offset":
        query.offset = parse_int(name, raw, low=0, high=2**62)
    elif name == "order_by":
        if raw not in accessor.fields:
            raise ValidationError.single(name, f"unknown field {raw!r}", "unknown_field")
        query.order_by = raw
    elif name == "order_desc":
        query.order_desc = parse_bool(name, raw)
    elif name == "include_deleted":
        query.include_deleted = parse_bool(name, raw)
    else:
        query.conditions.append(_condition(accessor, name, raw))


def _condition(accessor: AsyncModelAccessor[Any], name: str, raw: str) -> ColumnElement[bool]:
    field_name, _, operator = name.partition("__")
    operator = operator or "eq"
    if field_name not in accessor.fields:
        raise ValidationError.single(name, "unknown query parameter", "unknown_field")
    if operator not in OPERATORS:
        raise ValidationError.single(name, f"unknown operator {operator!r}", "unknown_operator")
    column = accessor.column(field_name)
    condition: ColumnElement[bool]
    if operator == "is_null":
        condition = column.is_(None) if parse_bool(name, raw) else column.is_not(None)
        return condition
    if operator == "contains":
        escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        result: ColumnElement[bool] = column.like(f"%{escaped}%", escape="\\")
        return result
    if operator == "in":
        values = [_value(accessor, field_name, name, part) for part in raw.split(",")]
        condition = column.in_(values)
        return condition
    value = _value(accessor, field_name, name, raw)
    comparisons = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }
    return comparisons[operator](value)  # type: ignore[no-any-return]


def _value(accessor: AsyncModelAccessor[Any], field_name: str, name: str, raw: str) -> Any:
    try:
        return accessor.parse_value(field_name, raw)
    except ValidationError as exc:
        raise ValidationError.single(name, exc.errors[0].message) from None
