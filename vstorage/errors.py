"""The exceptions vstorage raises.

Every error is a :class:`VStorageError`; catch that to handle them all::

    VStorageError
    ├── ConfigurationError      bad URL or option, pragma not in force, unbound accessor
    │   └── UnsupportedError    the operation is not available for this database
    ├── DatabaseClosedError     work submitted before connect() or after close()
    ├── DatabaseBusyError       the database stayed locked past busy_timeout
    ├── NotFoundError           a record that must exist does not
    ├── ValidationError         input rejected before anything was written (per-field details)
    │   └── DataImportError     a bad row in an import: names the file, row and field
    ├── ConflictError           unique or foreign-key constraint, or a deleted record in the way
    │   └── RecordLimitError    the table already holds its maximum number of live records
    ├── RestoreError            a restore candidate was refused (the live database is untouched)
    └── StorageError            any other database failure (the driver's error is chained)

SQLAlchemy and sqlite3 errors are wrapped at the boundary (``raise ... from exc``); messages
never carry SQL text or bound values. Exceptions raised by user hooks are not wrapped: the
hook's own exception propagates to the caller after the transaction is rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = (
    "ConfigurationError",
    "ConflictError",
    "DataImportError",
    "DatabaseBusyError",
    "DatabaseClosedError",
    "FieldError",
    "NotFoundError",
    "RecordLimitError",
    "RestoreError",
    "StorageError",
    "UnsupportedError",
    "VStorageError",
    "ValidationError",
)


class VStorageError(Exception):
    """Root of every exception raised by vstorage."""


class ConfigurationError(VStorageError):
    """An option, URL or pragma is not usable, or an accessor is not bound to a database."""


class UnsupportedError(ConfigurationError):
    """The operation is not available for this database (e.g. backing up an in-memory one)."""


class DatabaseClosedError(VStorageError):
    """The database is not open: ``connect()`` was not called or ``close()`` was."""


class DatabaseBusyError(VStorageError):
    """The database file stayed locked by another process for longer than ``busy_timeout``."""


class RestoreError(VStorageError):
    """A file offered for restore was refused; the live database was not touched."""


class StorageError(VStorageError):
    """The database failed for a reason that is not the caller's input (I/O, corruption, ...)."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One rejected field: its name, a human-readable message and a stable error type."""

    field: str
    message: str
    type: str = "invalid"


class ValidationError(VStorageError):
    """Input was rejected before anything was written.

    Attributes:
        errors: one :class:`FieldError` per rejected field.

    """

    def __init__(self, errors: Sequence[FieldError], *, model: str | None = None) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        self.model = model
        detail = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        prefix = f"invalid {model}" if model else "invalid input"
        super().__init__(f"{prefix}: {detail}" if detail else prefix)

    @classmethod
    def single(cls, field: str, message: str, type: str = "invalid") -> ValidationError:
        """Build an error for one field."""
        return cls([FieldError(field, message, type)])


class NotFoundError(VStorageError):
    """A record that must exist does not (or is soft-deleted)."""


class ConflictError(VStorageError):
    """A unique or foreign-key constraint refused the write, or a deleted record is in the way.

    Attributes:
        constraint: ``"unique"``, ``"foreign_key"``, ``"check"``, ``"max_records"``,
            ``"state"`` (e.g. saving a soft-deleted record) or ``"integrity"`` (other).
        fields: the columns involved, when the database names them.

    """

    def __init__(
        self, message: str, *, constraint: str = "unique", fields: Sequence[str] = ()
    ) -> None:
        self.constraint = constraint
        self.fields: tuple[str, ...] = tuple(fields)
        super().__init__(message)


class RecordLimitError(ConflictError):
    """An insert would take a table past its maximum number of live records."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the limit of {limit} records is reached", constraint="max_records")


class DataImportError(ValidationError):
    """An import was refused because of one row; nothing was written.

    Attributes:
        file: the CSV file (member of the zip) holding the row.
        row: the 1-based data row (the header is not counted).
        field: the column at fault, when one is.

    """

    def __init__(self, file: str, row: int | None, field: str | None, message: str) -> None:
        self.file = file
        self.row = row
        self.field = field
        where = file if row is None else f"{file} row {row}"
        name = field or "row"
        super().__init__([FieldError(name, message, "import")], model=where)
