"""PostgreSQL: connection settings, engines and the server's own report."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Dialect,
    Select,
    String,
    Table,
    event,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from vstorage.database._audit import dumps
from vstorage.errors import ConfigurationError

if TYPE_CHECKING:
    from vstorage.database._pool import PoolWriter

DEFAULT_WRITERS = 8
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _check_schema(schema: object) -> None:
    if not isinstance(schema, str) or not _SCHEMA.match(schema):
        raise ConfigurationError(
            "schema must be 1 to 63 letters, digits and underscores, not starting with a digit"
        )
    if schema.lower().startswith("pg_"):
        raise ConfigurationError("schema names starting with pg_ are reserved by PostgreSQL")


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` from a name."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def sequence_advance(table: Table, dialect: Dialect) -> Select[tuple[int]] | None:
    """A SELECT moving ``table``'s key sequence past its largest key, never backwards.

    ``None`` when the table has no integer autoincrement key. Keys given explicitly do not
    advance a PostgreSQL sequence by themselves; without this, the next generated key could be
    one already taken.
    """
    column = table.autoincrement_column
    if column is None:
        return None
    sequence = func.pg_get_serial_sequence(
        literal(dialect.identifier_preparer.format_table(table), String),
        literal(column.name, String),
    )
    last = func.greatest(
        func.coalesce(func.max(column), 0), func.coalesce(func.pg_sequence_last_value(sequence), 0)
    )
    return select(func.setval(sequence, func.greatest(last, 1), last >= 1)).select_from(table)


def advisory_lock(name: str) -> Select[tuple[Any]]:
    """``SELECT pg_advisory_xact_lock(key)`` of ``name``: held until the transaction ends."""
    return select(func.pg_advisory_xact_lock(literal(advisory_key(name), BigInteger)))


def compile_literal(statement: Select[Any], dialect: Dialect) -> str:
    """SQL text of a statement whose values are constants, with the values inlined."""
    return statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}).string


def quote(name: str) -> str:
    """A PostgreSQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """The PostgreSQL options of an ``AsyncDatabase`` (defaults on SQLite, where unused).

    Attributes:
        writers: writer connections.
        schema: the schema of the tables, or ``None`` for the server's search path.
        synchronous_commit: ``on`` or ``off``.
        lock_timeout_ms: how long a statement waits for a lock.

    """

    writers: int
    schema: str | None
    synchronous_commit: str
    lock_timeout_ms: int

    @classmethod
    def build(
        cls,
        backend: str,
        *,
        writers: int | None,
        schema: str | None,
        synchronous: str,
        lock_timeout_ms: int,
    ) -> ServerOptions:
        """Check the options against the backend.

        Raises:
            ConfigurationError: a PostgreSQL-only option on SQLite, or a bad value.

        """
        if backend != "postgresql":
            if writers not in (None, 1):
                raise ConfigurationError("SQLite has exactly one writer; writers= is PostgreSQL")
            if schema is not None:
                raise ConfigurationError("schema= is a PostgreSQL option")
            return cls(1, None, "on", lock_timeout_ms)
        count = DEFAULT_WRITERS if writers is None else writers
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigurationError("writers must be an integer of at least 1")
        if schema is not None:
            _check_schema(schema)
        if lock_timeout_ms < 0:
            raise ConfigurationError("busy_timeout_ms must be >= 0")
        commit = {"full": "on", "normal": "off"}.get(synchronous.lower())
        if commit is None:
            raise ConfigurationError("synchronous must be 'full' or 'normal'")
        return cls(count, schema, commit, lock_timeout_ms)

    def engine(self, url: URL, *, pool_size: int, reader: bool = False) -> AsyncEngine:
        """An asyncpg engine whose connections carry the schema and the timeouts."""
        settings = {
            "application_name": "vstorage",
            "lock_timeout": str(self.lock_timeout_ms),
            "synchronous_commit": self.synchronous_commit,
        }
        if self.schema is not None:
            settings["search_path"] = quote(self.schema)
        engine = create_async_engine(
            url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=3600,
            json_serializer=dumps,
            connect_args={"server_settings": settings},
        )

        @event.listens_for(engine.sync_engine, "checkout")
        def _clean(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            # A unit of work cancelled mid-statement may leave a connection inside a
            # transaction; the next unit would run within it, and never commit. Such a
            # connection is replaced, never lent.
            driver = dbapi_connection.driver_connection
            if driver.is_closed() or driver.is_in_transaction():
                raise DisconnectionError("connection left inside a transaction")

        if reader:
            # One snapshot per read session (an export, a page and its total agree).
            return engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        return engine

    async def prepare(self, engine: AsyncEngine) -> None:
        """Create the schema when it is missing."""
        if self.schema is None:
            return
        async with engine.begin() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": self.schema}
            )
            if not exists:
                await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}"))


async def server_info(
    options: ServerOptions, writer: PoolWriter, reader: AsyncEngine
) -> dict[str, Any]:
    """Server version, schema and the state of both pools, read from a live connection."""
    async with reader.connect() as connection:
        version = await connection.scalar(text("SHOW server_version"))
        schema = await connection.scalar(text("SELECT current_schema()"))
    stats = writer.stats()
    pool: Any = reader.sync_engine.pool
    return {
        "backend": "postgresql",
        "version": str(version),
        "schema": schema,
        "synchronous_commit": options.synchronous_commit,
        "writer_pool": {
            "size": writer.size,
            "active": stats.active,
            "waiting": stats.queue_depth,
        },
        "reader_pool": {"size": pool.size(), "checked_out": pool.checkedout()},
    }
