"""vstorage: an async storage layer for machine apps, on SQLite.

One writer queue with group commit, concurrent WAL readers, typed CRUD accessors with
validation, lifecycle hooks and an audit row per mutation written in the same transaction.

Example:
    >>> async with AsyncDatabase("sqlite:///./machine.db") as db:
    ...     recipes = AsyncModelAccessor(Recipe, "recipes", database=db)
    ...     await db.create_all()
    ...     await recipes.insert(Recipe(name="bolt"), actor="operator")

"""

from vstorage.accessor import AsyncModelAccessor, current_actor, use_actor
from vstorage.database import (
    AsyncDatabase,
    AuditEntry,
    Change,
    Settings,
    UTCDateTime,
    WriterStats,
)
from vstorage.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseBusyError,
    DatabaseClosedError,
    DataImportError,
    FieldError,
    NotFoundError,
    RecordLimitError,
    RestoreError,
    StorageError,
    UnsupportedError,
    ValidationError,
    VStorageError,
)

__version__ = "0.1.0"

__all__ = (
    "AsyncDatabase",
    "AsyncModelAccessor",
    "AuditEntry",
    "Change",
    "ConfigurationError",
    "ConflictError",
    "DataImportError",
    "DatabaseBusyError",
    "DatabaseClosedError",
    "FieldError",
    "NotFoundError",
    "RecordLimitError",
    "RestoreError",
    "Settings",
    "StorageError",
    "UTCDateTime",
    "UnsupportedError",
    "VStorageError",
    "ValidationError",
    "WriterStats",
    "current_actor",
    "use_actor",
)
