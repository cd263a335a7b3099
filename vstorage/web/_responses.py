"""JSON responses: records serialised exactly, errors in one stable shape.

Errors look like ``{"error": {"code": "...", "message": "...", "details": [...]}}``; the
message never carries SQL text or a stack trace.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from starlette.responses import Response

from vstorage.accessor._hooks import raised_by_hook
from vstorage.database._audit import json_default as audit_default
from vstorage.errors import (
    ConflictError,
    DatabaseBusyError,
    DatabaseClosedError,
    NotFoundError,
    RecordLimitError,
    RestoreError,
    UnsupportedError,
    ValidationError,
)

logger = logging.getLogger("vstorage.web")


def _default(value: Any) -> Any:
    # vstorage stores instants in UTC (a column without timezone holds the UTC wall clock),
    # so a naive value goes out as UTC: RFC 3339 date-times need an offset.
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC).isoformat()
    return audit_default(value)


_encoder = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False)


class JSONResponse(Response):
    """A JSON response in the shape every vstorage route uses.

    UUID and Decimal go out as strings, date-times in RFC 3339 (UTC when naive), bytes in
    base64, Enums by value.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as compact UTF-8 JSON."""
        return _encoder.encode(content).encode("utf-8")


class HTTPError(Exception):
    """An error answered with ``status`` and the standard error body."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def error_response(error: HTTPError) -> JSONResponse:
    """The standard error body for ``error``."""
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return JSONResponse(body, status_code=error.status)


def as_http_error(exc: Exception) -> HTTPError:
    """Map a vstorage error or a hook's exception to an HTTP error.

    A hook raising ``ValueError`` is the client's problem (422, with its message); any other
    unexpected exception is logged and answered with a generic 500.
    """
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, UnsupportedError):
        return HTTPError(501, "not_supported", str(exc))
    if isinstance(exc, RestoreError):
        return HTTPError(422, "restore_refused", str(exc))
    if isinstance(exc, ValidationError):
        details = [{"field": e.field, "message": e.message, "type": e.type} for e in exc.errors]
        return HTTPError(422, "validation_error", str(exc), details)
    if isinstance(exc, RecordLimitError):
        return HTTPError(409, "record_limit", str(exc), [{"limit": exc.limit}])
    if isinstance(exc, ConflictError):
        conflict = [{"constraint": exc.constraint, "fields": list(exc.fields)}]
        return HTTPError(409, "conflict", str(exc), conflict)
    if isinstance(exc, NotFoundError):
        return HTTPError(404, "not_found", str(exc))
    if isinstance(exc, DatabaseClosedError):
        return HTTPError(503, "database_unavailable", "the database is not open")
    if isinstance(exc, DatabaseBusyError):
        return HTTPError(503, "database_busy", "the database is busy; retry shortly")
    if isinstance(exc, ValueError) and raised_by_hook(exc):
        # A hook's ValueError is a business rule refusing the input: the client's to fix.
        return HTTPError(422, "rejected", str(exc))
    logger.error("vstorage: unhandled error in a request", exc_info=exc)
    return HTTPError(500, "internal_error", "internal error")
