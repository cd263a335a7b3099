"""Translate driver errors into vstorage errors, without SQL text or bound values."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator

from sqlalchemy import exc as sa_exc

from vstorage.errors import (
    ConflictError,
    DatabaseBusyError,
    StorageError,
    ValidationError,
    VStorageError,
)

_FIELDS = re.compile(r"constraint failed: (.+)$")
_KEY_FIELDS = re.compile(r"Key \((.+?)\)=")

# PostgreSQL SQLSTATE codes (Appendix A of its manual) that mean something to a caller.
_BUSY_STATES = {
    "40001": "a concurrent transaction conflicted with this one; retry it",
    "40P01": "a deadlock with a concurrent transaction was broken; retry it",
    "55P03": "a lock held by another connection was not released in time",
    "57014": "the statement timed out waiting for another connection",
}


def _fields(message: str) -> list[str]:
    match = _FIELDS.search(message)
    if not match:
        return []
    # "UNIQUE constraint failed: users.email, users.site" -> ["email", "site"]
    return [part.strip().rsplit(".", 1)[-1] for part in match.group(1).split(",")]


def translate(exc: BaseException) -> BaseException:
    """Map a sqlite3, asyncpg or SQLAlchemy error to a :class:`~vstorage.errors.VStorageError`.

    Anything that is not a database error (a hook's own exception, a cancellation) is returned
    unchanged, so callers can write ``raise translate(exc) from exc``.
    """
    if isinstance(exc, VStorageError):
        return exc
    # Raised by the drivers while binding a value a condition compares with.
    if isinstance(exc, OverflowError):
        return ValidationError.single("value", "integer out of range", "overflow")
    if isinstance(exc, UnicodeEncodeError):
        return ValidationError.single("value", "text that is not valid Unicode", "unicode")
    original: BaseException = exc
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        original = exc.orig
    elif type(exc).__module__.startswith("asyncpg"):
        # Raised by asyncpg itself, on the compiled path: no SQLAlchemy wrapper around it.
        sqlstate = getattr(exc, "sqlstate", None)
        if isinstance(sqlstate, str):
            return _postgresql(sqlstate, exc)
        return StorageError(f"database error ({type(exc).__name__})")
    elif not isinstance(exc, (sqlite3.Error, sa_exc.SQLAlchemyError)):
        return exc
    message = str(original.args[0]) if getattr(original, "args", None) else type(original).__name__
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str):
        return _postgresql(sqlstate, original)
    if isinstance(original, sqlite3.IntegrityError):
        return _integrity(message)
    if isinstance(original, sqlite3.OperationalError) and "locked" in message:
        return DatabaseBusyError("the database is locked by another connection")
    if isinstance(original, OverflowError):
        return ValidationError.single("value", "integer out of range", "overflow")
    if isinstance(exc, sa_exc.SQLAlchemyError) and not isinstance(exc, sa_exc.DBAPIError):
        return StorageError(f"database error ({type(exc).__name__})")
    return StorageError(f"database error: {message}")


def _integrity(message: str) -> VStorageError:
    fields = _fields(message)
    upper = message.upper()
    if upper.startswith("UNIQUE") or "PRIMARY KEY" in upper:
        return ConflictError(
            f"a record with the same {', '.join(fields) or 'key'} already exists",
            constraint="unique",
            fields=fields,
        )
    if upper.startswith("FOREIGN KEY"):
        return ConflictError(
            "a referenced record does not exist or is still referenced", constraint="foreign_key"
        )
    if upper.startswith("NOT NULL"):
        name = fields[0] if fields else "value"
        return ValidationError.single(name, "must not be null", "missing")
    if upper.startswith("CHECK"):
        return ConflictError("a check constraint refused the record", constraint="check")
    return ConflictError("the database refused the record", constraint="integrity")


def _postgresql(sqlstate: str, error: BaseException) -> BaseException:
    """Map a PostgreSQL error by its SQLSTATE; the server's message is not passed on."""
    # The asyncpg exception names columns and constraints; SQLAlchemy's wrapper chains it.
    driver = error if hasattr(error, "column_name") else error.__cause__
    column = getattr(driver, "column_name", None)
    detail = getattr(error, "detail", None) or ""
    match = _KEY_FIELDS.search(detail)
    fields = [part.strip().strip('"') for part in match.group(1).split(",")] if match else []
    if sqlstate == "23505":
        return ConflictError(
            f"a record with the same {', '.join(fields) or 'key'} already exists",
            constraint="unique",
            fields=fields,
        )
    if sqlstate == "23503":
        return ConflictError(
            "a referenced record does not exist or is still referenced", constraint="foreign_key"
        )
    if sqlstate == "23502":
        return ValidationError.single(column or "value", "must not be null", "missing")
    if sqlstate in ("23514", "23P01"):
        return ConflictError("a check constraint refused the record", constraint="check")
    if sqlstate.startswith("23"):
        return ConflictError("the database refused the record", constraint="integrity")
    if sqlstate == "22003":
        return ValidationError.single(column or "value", "number out of range", "overflow")
    if sqlstate == "22001":
        return ValidationError.single(column or "value", "value too long", "too_long")
    if sqlstate.startswith("22"):
        return ValidationError.single(column or "value", "the database refused the value")
    if sqlstate in _BUSY_STATES:
        return DatabaseBusyError(_BUSY_STATES[sqlstate])
    if sqlstate == "25P02":
        return StorageError(
            "an earlier statement of this transaction failed, so PostgreSQL rolled all of it "
            "back; nothing was committed (run a statement that may fail in a nested "
            "db.transaction())"
        )
    if sqlstate.startswith("08"):
        return StorageError("the connection to the database server failed")
    if sqlstate.startswith("28"):
        return StorageError("the database server refused the login")
    if sqlstate == "3D000":
        return StorageError("the database does not exist on the server")
    return StorageError(f"database error (SQLSTATE {sqlstate})")


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Re-raise database errors escaping the block as vstorage errors, chained."""
    try:
        yield
    except VStorageError:
        raise
    except Exception as exc:
        error = translate(exc)
        if error is exc:
            raise
        raise error from exc
