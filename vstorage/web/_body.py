"""Request bodies: size-capped, parsed as JSON, checked against the model's fields."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sqlalchemy import types as sa_types
from starlette.requests import Request

from vstorage.accessor import AsyncModelAccessor
from vstorage.accessor._model import SOFT_DELETE_FIELD
from vstorage.errors import FieldError, ValidationError
from vstorage.web._responses import HTTPError


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON, read up to ``max_bytes``.

    Raises:
        HTTPError: 413 when the body is larger; 400 when it is not valid JSON.

    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPError(413, "payload_too_large", f"the body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPError(413, "payload_too_large", f"the body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise HTTPError(400, "invalid_json", "the body is not valid JSON") from None


def record_body(
    accessor: AsyncModelAccessor[Any], body: Any, *, allow_key: bool, where: str = ""
) -> dict[str, Any]:
    """A JSON object of field values, with server-owned fields refused.

    ``deleted_at`` is never accepted; the key only where ``allow_key`` (a model whose key the
    client must supply). Binary fields are given as base64 text.

    Raises:
        ValidationError: not an object, a server-owned field, or bad base64.

    """
    prefix = f"{where}." if where else ""
    if not isinstance(body, dict):
        raise ValidationError.single(where or "body", "must be a JSON object", "type_error")
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name == SOFT_DELETE_FIELD or (name == accessor.primary_key and not allow_key):
            errors.append(FieldError(f"{prefix}{name}", "is set by the server", "read_only"))
            continue
        if name in accessor.fields and isinstance(value, str) and _is_binary(accessor, name):
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                errors.append(FieldError(f"{prefix}{name}", "must be base64 text", "base64"))
                continue
        values[name] = value
    if errors:
        raise ValidationError(errors)
    return values


def _is_binary(accessor: AsyncModelAccessor[Any], name: str) -> bool:
    column_type = accessor.column(name).type
    if isinstance(column_type, sa_types.TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, sa_types._Binary)
