"""Database layer: the writer queue, the readers, pragmas, transactions and the audit table.

This layer knows no user models; accessors (one layer up) build on it.
"""

from vstorage.database._audit import AuditEntry, UTCDateTime
from vstorage.database._database import AsyncDatabase
from vstorage.database._jobs import Change
from vstorage.database._pragmas import Settings
from vstorage.database._writer import WriterStats

__all__ = ("AsyncDatabase", "AuditEntry", "Change", "Settings", "UTCDateTime", "WriterStats")
