"""The pragmas every connection gets, and their verification."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from vstorage.errors import ConfigurationError

Synchronous = Literal["off", "normal", "full", "extra"]
_SYNCHRONOUS_LEVELS: dict[str, int] = {"off": 0, "normal": 1, "full": 2, "extra": 3}


@dataclass(frozen=True, slots=True)
class Settings:
    """Pragma values read back from a live connection.

    Attributes:
        journal_mode: ``"wal"`` for a file database, ``"memory"`` for an in-memory one.
        synchronous: ``"off"``, ``"normal"``, ``"full"`` or ``"extra"``.
        foreign_keys: whether foreign keys are enforced.
        busy_timeout_ms: how long a connection waits for a lock held by another process.
        journal_size_limit: bytes the WAL is truncated to after a checkpoint.
        query_only: True on reader connections.

    """

    journal_mode: str
    synchronous: str
    foreign_keys: bool
    busy_timeout_ms: int
    journal_size_limit: int
    query_only: bool

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PragmaPlan:
    """What every connection of one database must have."""

    synchronous: Synchronous
    busy_timeout_ms: int
    journal_size_limit: int
    memory: bool

    @classmethod
    def build(
        cls, *, synchronous: str, busy_timeout_ms: int, journal_size_limit: int, memory: bool
    ) -> PragmaPlan:
        """Check the options once, when the database is configured.

        Raises:
            ConfigurationError: an option is out of range.

        """
        level = synchronous.lower()
        if level not in _SYNCHRONOUS_LEVELS:
            raise ConfigurationError(
                f"synchronous must be one of {sorted(_SYNCHRONOUS_LEVELS)}, got {synchronous!r}"
            )
        if busy_timeout_ms < 0 or journal_size_limit < -1:
            raise ConfigurationError(
                "busy_timeout_ms must be >= 0 and journal_size_limit >= -1 (-1: no limit)"
            )
        return cls(level, busy_timeout_ms, journal_size_limit, memory)  # type: ignore[arg-type]

    def statements(self, *, reader: bool) -> list[str]:
        """The PRAGMA statements for one connection, in the order they must run."""
        journal = "MEMORY" if self.memory else "WAL"
        return [
            f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}",
            f"PRAGMA journal_mode = {journal}",
            f"PRAGMA synchronous = {self.synchronous.upper()}",
            "PRAGMA foreign_keys = ON",
            f"PRAGMA journal_size_limit = {int(self.journal_size_limit)}",
            f"PRAGMA query_only = {'ON' if reader else 'OFF'}",
        ]

    def apply(self, dbapi_connection: Any, *, reader: bool) -> Settings:
        """Set the pragmas on a DBAPI connection and verify they are in force.

        Raises:
            ConfigurationError: SQLite did not accept a pragma (e.g. WAL on a network drive).

        """
        cursor = dbapi_connection.cursor()
        try:
            for statement in self.statements(reader=reader):
                cursor.execute(statement)
            settings = read_settings(cursor)
        finally:
            cursor.close()
        self.verify(settings, reader=reader)
        return settings

    def verify(self, settings: Settings, *, reader: bool) -> None:
        """Raise unless ``settings`` are what this plan asked for."""
        expected = Settings(
            journal_mode="memory" if self.memory else "wal",
            synchronous=self.synchronous,
            foreign_keys=True,
            busy_timeout_ms=self.busy_timeout_ms,
            journal_size_limit=self.journal_size_limit,
            query_only=reader,
        )
        if settings != expected:
            wrong = {
                key: value
                for key, value in settings.as_dict().items()
                if value != expected.as_dict()[key]
            }
            raise ConfigurationError(f"SQLite refused pragma settings, now in force: {wrong}")


def read_settings(cursor: Any) -> Settings:
    """Read the pragma values in force on the cursor's connection."""

    def value(name: str) -> Any:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]

    level = int(value("synchronous"))
    names = {v: k for k, v in _SYNCHRONOUS_LEVELS.items()}
    return Settings(
        journal_mode=str(value("journal_mode")).lower(),
        synchronous=names.get(level, str(level)),
        foreign_keys=bool(value("foreign_keys")),
        busy_timeout_ms=int(value("busy_timeout")),
        journal_size_limit=int(value("journal_size_limit")),
        query_only=bool(value("query_only")),
    )
