r"""Cells of exported CSV files: every column type written as text and read back exactly.

``NULL`` is written as ``\N`` and a text value starting with a backslash gets one more, so
NULL stays distinct from the empty string. Bytes are base64, JSON is JSON text, date-times are
ISO 8601 with their offset, Decimals and UUIDs their exact string.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Column
from sqlalchemy import types as sa_types

from vstorage.database._audit import JSONText

NULL = "\\N"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")

Encoder = Callable[[Any], str]
Decoder = Callable[[str], Any]


def _kind(column: Column[Any]) -> str:
    column_type = column.type
    if isinstance(column_type, JSONText):
        return "json"
    if isinstance(column_type, sa_types.TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa_types.JSON):
        return "json"
    if isinstance(column_type, sa_types._Binary):
        return "binary"
    return "scalar"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _text(value.value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, str):
        return "\\" + value if value.startswith("\\") else value
    return str(value)


def _duration(value: dt.timedelta) -> str:
    """ISO 8601, exact to the microsecond: ``P1DT5.250000S``, ``-P0DT0.000001S``."""
    sign, value = ("-", -value) if value < dt.timedelta(0) else ("", value)
    return f"{sign}P{value.days}DT{value.seconds}.{value.microseconds:06d}S"


def encoder(column: Column[Any], *, neutralise_formulas: bool = False) -> Encoder:
    """The cell encoder of one column."""
    kind = _kind(column)

    def encode(value: Any) -> str:
        if value is None:
            return NULL
        if kind == "json":
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif kind == "binary":
            text = base64.b64encode(bytes(value)).decode("ascii")
        else:
            text = _text(value)
        if neutralise_formulas and isinstance(value, str) and text.startswith(_FORMULA):
            # Spreadsheets run cells starting with these as formulas; a leading quote makes
            # them text. Such a file is for people: it does not import back unchanged.
            text = "'" + text
        return text

    return encode


def decoder(column: Column[Any]) -> Decoder:
    """The cell decoder of one column; the result is then validated like any input.

    Raises (from the decoder):
        ValueError: bad base64 or JSON.
    """
    kind = _kind(column)

    def decode(text: str) -> Any:
        if text == NULL:
            return None
        if kind == "json":
            return json.loads(text)
        if kind == "binary":
            try:
                return base64.b64decode(text, validate=True)
            except binascii.Error as exc:
                raise ValueError("not base64") from exc
        if text.startswith("\\"):
            return text[1:]
        return text

    return decode
