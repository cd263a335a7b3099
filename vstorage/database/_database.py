"""AsyncDatabase: the writer queue, the readers, transactions and the audit trail."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import Dialect, Table, event, select
from sqlalchemy import inspect as inspect_schema
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from vstorage.database import _context
from vstorage.database._audit import AuditEntry, audit_table
from vstorage.database._errors import translate, translated
from vstorage.database._jobs import Change, RawWork
from vstorage.database._pool import PoolWriter, ServerWork
from vstorage.database._postgres import (
    ServerOptions,
    advisory_lock,
    sequence_advance,
    server_info,
)
from vstorage.database._pragmas import PragmaPlan, Settings, read_settings
from vstorage.database._readers import RawReaders
from vstorage.database._url import Target, parse_url
from vstorage.database._writer import Writer, WriterStats, run_raw_group
from vstorage.errors import (
    ConfigurationError,
    DatabaseClosedError,
    StorageError,
    UnsupportedError,
    ValidationError,
)

logger = logging.getLogger("vstorage")

CommitListener = Callable[[list[Change]], Awaitable[None] | None]


class Registrable(Protocol):
    """What :meth:`AsyncDatabase.register` accepts (an ``AsyncModelAccessor``)."""

    @property
    def table(self) -> Table: ...

    def bind(self, database: AsyncDatabase) -> None: ...


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class AsyncDatabase:
    """A database with serialized writes, concurrent readers and an audit trail.

    On SQLite (the default) all writes go through one bounded queue served by one
    connection; queued jobs are committed together (group commit), each in its own
    savepoint. On PostgreSQL writes run on a pool of ``writers`` connections, one transaction
    per unit of work, with rows read for update locked. Reads run concurrently on ``readers``
    read-only connections. Safe for use by many concurrent tasks.

    Args:
        url: ``sqlite:///path/to/file.db`` (relative to the working directory; four slashes
            for an absolute path), ``sqlite:///:memory:``, or
            ``postgresql+asyncpg://user:password@host:port/database``.
        readers: number of read-only connections (ignored for an in-memory database, whose
            reads are served in turn by the writer connection).
        writers: PostgreSQL only: writer connections, i.e. units of work running at once
            (default 8). SQLite always has exactly one writer.
        schema: PostgreSQL only: the schema the tables live in (created if missing); the
            URL can give it too (``?schema=line_3``). Default: the server's search path
            (usually ``public``).
        synchronous: ``"full"`` (default: durable across power loss) or ``"normal"``
            (a power cut may lose the last transactions, never corrupt the database). On
            PostgreSQL ``"normal"`` sets ``synchronous_commit = off``.
        busy_timeout_ms: how long to wait for a lock held by another connection (on
            PostgreSQL: ``lock_timeout``).
        journal_size_limit: SQLite: bytes the WAL file is truncated to after a checkpoint.
        max_queue: SQLite: writes waiting beyond this make callers wait (back-pressure).
        max_group: SQLite: most jobs committed in one transaction.
        create_tables: run :meth:`create_all` on connect.

    Raises:
        ConfigurationError: the URL or an option is not usable.

    Example:
        >>> async with AsyncDatabase("sqlite:///./machine.db", create_tables=True) as db:
        ...     async with db.transaction() as session:
        ...         ...

    """

    def __init__(
        self,
        url: str = "sqlite:///./vstorage.db",
        *,
        readers: int = 4,
        writers: int | None = None,
        schema: str | None = None,
        synchronous: str = "full",
        busy_timeout_ms: int = 5000,
        journal_size_limit: int = 64 * 1024 * 1024,
        max_queue: int = 10_000,
        max_group: int = 256,
        create_tables: bool = False,
    ) -> None:
        if readers < 1:
            raise ConfigurationError("readers must be at least 1")
        if max_queue < 1 or max_group < 1:
            raise ConfigurationError("max_queue and max_group must be at least 1")
        self._target: Target = parse_url(url)
        if schema is not None and self._target.schema not in (None, schema):
            raise ConfigurationError("the URL and schema= name different schemas")
        self._server = ServerOptions.build(
            self._target.backend,
            writers=writers,
            schema=schema if schema is not None else self._target.schema,
            synchronous=synchronous,
            lock_timeout_ms=busy_timeout_ms,
        )
        self._plan = PragmaPlan.build(
            synchronous=synchronous,
            busy_timeout_ms=busy_timeout_ms,
            journal_size_limit=journal_size_limit,
            memory=self._target.memory,
        )
        self._readers_count = readers
        self._max_queue = max_queue
        self._max_group = max_group
        self._create_tables = create_tables
        self._state = _State.UNOPENED
        self._tables: dict[str, Table] = {}
        self._registered: dict[str, Registrable] = {}
        self._restore_listeners: list[Callable[[Any], Awaitable[None] | None]] = []
        self._listeners: dict[str, list[CommitListener]] = {}
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._writer_engine: AsyncEngine | None = None
        self._reader_engine: AsyncEngine | None = None
        self._point_engine: AsyncEngine | None = None
        self._point_readers: RawReaders | None = None
        self._writer: Writer | PoolWriter | None = None
        self._connect_lock: asyncio.Lock | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The SQLAlchemy URL (``sqlite+aiosqlite`` or ``postgresql+asyncpg``), password hidden."""
        return self._target.url.render_as_string(hide_password=True)

    @property
    def path(self) -> str | None:
        """The SQLite database file; ``None`` for an in-memory database or a server."""
        return self._target.path

    @property
    def is_open(self) -> bool:
        """True between :meth:`connect` and :meth:`close`."""
        return self._state is _State.OPEN

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` was called (a closed database cannot be reopened)."""
        return self._state is _State.CLOSED

    @property
    def dialect(self) -> Dialect:
        """The SQLAlchemy dialect of the writer connection.

        Raises:
            DatabaseClosedError: the database is not open.

        """
        if self._writer_engine is None:
            raise DatabaseClosedError("the database is not open")
        return self._writer_engine.dialect

    @property
    def dialect_name(self) -> str:
        """The SQLAlchemy dialect name: ``"sqlite"`` or ``"postgresql"``."""
        return self._target.backend

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema given to the constructor, if any."""
        return self._server.schema

    async def connect(self) -> None:
        """Open the writer and the readers, verifying every pragma. Idempotent.

        Raises:
            DatabaseClosedError: the database was closed; open a new instance instead.
            ConfigurationError: SQLite refused a pragma (e.g. WAL on a network drive).
            StorageError: the PostgreSQL server could not be reached or refused the login.

        """
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._state is _State.OPEN:
                return
            if self._state is _State.CLOSED:
                raise DatabaseClosedError("a closed database cannot be reopened")
            try:
                await self._open()
            except BaseException:
                await self._dispose()
                raise
            self._state = _State.OPEN
        if self._create_tables:
            await self.create_all()

    async def _open(self) -> None:
        if self._target.backend == "postgresql":
            await self._open_server()
            return
        self._writer_engine = self._engine(pool_size=1, reader=False)
        if not self._target.memory:
            self._reader_engine = self._engine(pool_size=self._readers_count, reader=True)
        self._writer = Writer(
            self._writer_engine,
            max_queue=self._max_queue,
            max_group=self._max_group,
            on_commit=self._dispatch,
        )
        try:
            await self._writer.start()
        except Exception as exc:
            raise translate(exc) from exc
        if self._reader_engine is not None:
            # Open one reader now so a refused pragma fails connect(), not the first read.
            async with self._reader_engine.connect():
                pass
            self._point_engine = self._engine(pool_size=self._readers_count, reader=True)
            self._point_readers = RawReaders(self._point_engine, self._readers_count)
            await self._point_readers.start()

    async def _open_server(self) -> None:
        options = self._server
        self._writer_engine = options.engine(self._target.url, pool_size=options.writers)
        self._reader_engine = options.engine(
            self._target.url, pool_size=self._readers_count, reader=True
        )
        try:
            await options.prepare(self._writer_engine)
            async with self._reader_engine.connect():
                pass
        except OSError as exc:  # refused, unreachable, DNS: raised by asyncpg as it is
            raise StorageError(f"cannot reach the database server ({exc.strerror or exc})") from exc
        except Exception as exc:
            raise translate(exc) from exc
        self._writer = PoolWriter(
            self._writer_engine, size=options.writers, on_commit=self._dispatch
        )

    def _engine(self, *, pool_size: int, reader: bool) -> AsyncEngine:
        engine = create_async_engine(
            self._target.url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=3600,
        )
        plan = self._plan

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            # Driver-level transaction control off: vstorage emits BEGIN itself, so that
            # SAVEPOINT and RELEASE behave as SQL says (SQLAlchemy's documented recipe).
            dbapi_connection.isolation_level = None
            plan.apply(dbapi_connection, reader=reader)

        begin = "BEGIN" if reader else "BEGIN IMMEDIATE"

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)

        return engine

    async def close(self) -> None:
        """Drain the writer queue, then close every connection. Idempotent.

        Writes submitted after ``close()`` began raise :class:`DatabaseClosedError`.

        Raises:
            ConfigurationError: called inside a ``transaction()`` block of this database.

        """
        if self._state is _State.CLOSED:
            return
        if self.current_write() is not None:
            raise ConfigurationError("close() inside a transaction would wait for itself")
        self._state = _State.CLOSED
        await self._dispose()

    async def _dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        if self._listener_tasks:
            await asyncio.gather(*self._listener_tasks, return_exceptions=True)
        if self._point_readers is not None:
            await self._point_readers.close()
        for engine in (self._writer_engine, self._reader_engine, self._point_engine):
            if engine is not None:
                await engine.dispose()

    async def __aenter__(self) -> AsyncDatabase:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- models ----------------------------------------------------------------------------

    def register(self, accessor: Registrable) -> None:
        """Bind an accessor to this database; its table is created by :meth:`create_all`.

        Raises:
            ConfigurationError: another accessor already serves a different table of that name.

        """
        table = accessor.table
        known = self._tables.get(table.name)
        if known is not None and known is not table:
            raise ConfigurationError(f"two different tables are named {table.name!r}")
        self._tables[table.name] = table
        self._registered[table.name] = accessor
        accessor.bind(self)

    @property
    def accessors(self) -> dict[str, Any]:
        """The registered accessors, by table name."""
        return dict(self._registered)

    @property
    def tables(self) -> dict[str, Table]:
        """The registered tables, by name (the audit table not included)."""
        return dict(self._tables)

    async def create_all(self) -> None:
        """Create the registered tables, the tables they reference, and the audit table.

        Existing tables are left as they are, but must have every column of their model.

        Raises:
            ConfigurationError: an existing table lacks columns of its model.
            DatabaseClosedError: the database is not open.

        """
        tables = _with_references(self._tables.values())

        def create(sync_session: Any) -> None:
            connection = sync_session.connection()
            existing = inspect_schema(connection)
            for table in [audit_table, *tables]:
                if table.name not in existing.get_table_names():
                    table.create(connection)
                    continue
                found = {column["name"] for column in existing.get_columns(table.name)}
                missing = sorted({c.name for c in table.c} - found)
                if missing:
                    raise ConfigurationError(
                        f"table {table.name!r} already exists without columns {missing}; "
                        "vstorage creates tables but does not migrate them: migrate the "
                        "table or use another database file"
                    )

        async with self.transaction() as session:
            await session.run_sync(create)

    # -- writing ---------------------------------------------------------------------------

    def _open_writer(self) -> Writer | PoolWriter:
        if self._state is not _State.OPEN or self._writer is None:
            raise DatabaseClosedError("the database is not open")
        return self._writer

    async def run_raw(self, work: RawWork) -> Any:
        """Run statements in the writer thread on the DBAPI cursor (internal).

        Outside a transaction the work is queued as a job of its own; inside ``transaction()``
        it runs at once on the transaction's connection, in a savepoint, as part of it.

        Raises:
            DatabaseClosedError: the database is not open.

        """
        writer = self._open_writer()
        if not isinstance(writer, Writer):
            raise UnsupportedError("raw writer jobs exist only on SQLite")
        context = self.current_write()
        if context is None:
            return await writer.run(work)
        # Pending ORM changes of the session go first, so the statements see them.
        await context.session.flush()
        [outcome] = await writer.execute_raw(lambda conn: run_raw_group(conn, [work], False))
        if outcome.error is not None:
            error = translate(outcome.error)
            if error is outcome.error:
                raise error
            raise error from outcome.error
        context.changes.extend(outcome.changes)
        return outcome.value

    async def run_server(self, work: ServerWork) -> Any:
        """PostgreSQL: run ``work(asyncpg_connection)`` as a unit of work of its own (internal).

        The accessor's compiled path on PostgreSQL: ``work`` runs in a transaction on a writer
        connection and returns ``(value, changes)``; ``value`` is returned after COMMIT.

        Raises:
            UnsupportedError: on SQLite, or inside ``transaction()`` (join it instead).
            DatabaseClosedError: the database is not open.

        """
        writer = self._open_writer()
        if not isinstance(writer, PoolWriter) or self.current_write() is not None:
            raise UnsupportedError("run_server() is the PostgreSQL path outside transactions")
        async with translated():
            return await writer.run_server(work)

    def current_write(self) -> _context.WriteContext | None:
        """The write transaction of this database the current task is inside, if any."""
        return _context.current_write(self)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work on the writer: everything in the block commits together or not at all.

        Accessor calls made inside the block (and inside hooks) join it. Nested
        ``transaction()`` blocks become savepoints. The block is serialized with every other
        write, so a read-modify-write inside it cannot lose an update. The block exits only
        after COMMIT returned. Do not await other tasks' writes inside the block: the writer
        is yours until it ends.

        Raises:
            DatabaseClosedError: the database is not open.

        Example:
            >>> async with db.transaction() as session:
            ...     counter = await counters.get(1)
            ...     await counters.update(1, value=counter.value + 1)

        """
        outer = self.current_write()
        if outer is not None:
            mark = len(outer.changes)
            try:
                async with translated(), outer.session.begin_nested():
                    # Emit the SAVEPOINT now: statements run on the raw connection inside the
                    # block must fall within it.
                    await outer.session.connection()
                    yield outer.session
            except BaseException:
                del outer.changes[mark:]
                raise
            return
        writer = self._open_writer()
        changes: list[Change] = []
        async with translated(), writer.lease(changes) as session:
            context = _context.WriteContext(self, session, asyncio.current_task(), changes)
            token = _context.enter(context)
            try:
                yield session
            finally:
                _context.leave(token)

    async def lock(self, name: str) -> None:
        """Serialize the rest of the current transaction with every other one locking ``name``.

        The lock is held until the transaction ends. On SQLite every write transaction is
        already serialized, so this does nothing; on PostgreSQL it takes a transaction-level
        advisory lock. Use it where a unit of work must see a stable aggregate (a count, a
        next number) that row locks cannot cover.

        Raises:
            ConfigurationError: called outside ``transaction()``.
            DatabaseBusyError: the lock was not granted within ``busy_timeout_ms``.

        Example:
            >>> async with db.transaction():
            ...     await db.lock("batch-numbers")
            ...     number = await batches.count() + 1

        """
        context = self.current_write()
        if context is None:
            raise ConfigurationError("lock() must be called inside db.transaction()")
        if self._target.backend != "postgresql":
            return
        async with translated():
            await context.session.execute(advisory_lock(name))

    async def advance_sequences(self, tables: Iterable[Table]) -> None:
        """Move key sequences past the largest key, after rows were written with their keys.

        PostgreSQL only (SQLite's keys follow the largest one by themselves); runs inside the
        current transaction; a sequence never moves backwards. Tables without an integer
        autoincrement key are skipped. Accessor inserts with an explicit key call it.

        Raises:
            ConfigurationError: called outside ``transaction()``.

        """
        context = self.current_write()
        if context is None:
            raise ConfigurationError("advance_sequences() must be called inside db.transaction()")
        if self._target.backend != "postgresql":
            return
        for table in tables:
            statement = sequence_advance(table, self.dialect)
            if statement is not None:
                async with translated():
                    await context.session.execute(statement)

    @property
    def reads_lock_rows(self) -> bool:
        """True when accessor reads should lock their rows: inside a PostgreSQL write."""
        return self._target.backend == "postgresql" and self.current_write() is not None

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[AsyncEngine]:
        """PostgreSQL: wait for running writes, hold new ones back until the block ends (internal).

        Raises:
            UnsupportedError: on SQLite, whose writer is exclusive anyway.
            ConfigurationError: called inside ``transaction()``.
            DatabaseClosedError: the database is not open.

        """
        writer = self._open_writer()
        if not isinstance(writer, PoolWriter):
            raise UnsupportedError("exclusive() is a PostgreSQL path")
        if self.current_write() is not None:
            raise ConfigurationError("inside a transaction, exclusive() would wait for itself")
        async with writer.exclusive() as engine:
            yield engine

    def server_environment(self) -> dict[str, str]:
        """PostgreSQL: the libpq ``PG*`` variables for this database's server (internal).

        They let ``pg_dump`` and ``pg_restore`` connect without a password on a command line.

        Raises:
            UnsupportedError: on SQLite.

        """
        if self._target.backend != "postgresql":
            raise UnsupportedError("a SQLite database has no server")
        url = self._target.url
        values = {
            "PGHOST": url.host,
            "PGPORT": None if url.port is None else str(url.port),
            "PGUSER": url.username,
            "PGPASSWORD": url.password,
            "PGDATABASE": url.database,
        }
        return {name: str(value) for name, value in values.items() if value}

    async def reset_connections(self) -> None:
        """PostgreSQL: replace every idle pooled connection (internal; after a restore).

        Connections cache prepared statements of tables a restore has replaced.
        """
        for engine in (self._writer_engine, self._reader_engine):
            if engine is not None:
                await engine.dispose()

    # -- reading ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session on a read-only connection, seeing one consistent snapshot.

        Inside :meth:`transaction` it is the transaction's own session (reads see its writes).

        Raises:
            DatabaseClosedError: the database is not open.

        Example:
            >>> async with db.read() as session:
            ...     rows = (await session.execute(select(Recipe))).scalars().all()

        """
        outer = self.current_write()
        if outer is not None:
            yield outer.session
            return
        writer = self._open_writer()
        async with translated():
            if self._reader_engine is None:
                async with writer.lease([], read_only=True) as session:
                    yield session
                return
            async with AsyncSession(self._reader_engine, expire_on_commit=False) as session:
                yield session

    @property
    def has_point_readers(self) -> bool:
        """True when point reads can bypass sessions (a SQLite file, outside a transaction)."""
        return self._point_readers is not None and self.current_write() is None

    async def read_raw(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(dbapi_connection)`` on a read-only connection in its thread (internal).

        Raises:
            DatabaseClosedError: the database is not open.

        """
        self._open_writer()
        if self._point_readers is None:
            raise UnsupportedError("raw point reads exist only on a SQLite file database")
        async with translated():
            return await self._point_readers.run(fn)

    async def read_audit(
        self,
        *,
        component: str | None = None,
        record_id: Any = None,
        actor: str | None = None,
        operation: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """Audit rows, newest first (ties broken by id, newest first).

        ``since``/``until`` are inclusive and compared as instants (a naive datetime is
        taken as UTC).

        Raises:
            ValidationError: ``limit`` or ``offset`` is negative, or ``since``/``until`` is
                not a datetime within range.
            DatabaseClosedError: the database is not open.

        Example:
            >>> entries = await db.read_audit(component="recipes", actor="operator", limit=20)

        """
        if (limit is not None and limit < 0) or offset < 0:
            raise ValidationError.single("limit", "limit and offset must be >= 0")
        query = select(audit_table)
        filters = {
            "component": component,
            "record_id": None if record_id is None else str(record_id),
            "actor": actor,
            "operation": operation,
        }
        for name, value in filters.items():
            if value is not None:
                query = query.where(audit_table.c[name] == value)
        if since is not None:
            query = query.where(audit_table.c.timestamp >= _instant("since", since))
        if until is not None:
            query = query.where(audit_table.c.timestamp <= _instant("until", until))
        query = query.order_by(audit_table.c.timestamp.desc(), audit_table.c.id.desc())
        query = query.limit(limit).offset(offset)
        try:
            async with self.read() as session:
                rows = (await session.execute(query)).mappings().all()
        except DatabaseClosedError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
        return [AuditEntry(**row) for row in rows]

    # -- inspection ------------------------------------------------------------------------

    async def settings(self) -> dict[str, Settings]:
        """The pragma values in force on the writer and on a reader connection.

        Raises:
            UnsupportedError: on PostgreSQL, which has no pragmas (see :meth:`server_info`).
            DatabaseClosedError: the database is not open.

        Example:
            >>> (await db.settings())["writer"].synchronous
            'full'

        """
        writer = self._open_writer()
        if not isinstance(writer, Writer):
            raise UnsupportedError("pragmas are SQLite settings; see server_info()")

        def read(connection: Any) -> Settings:
            return read_settings(connection.cursor())

        result = {"writer": await writer.execute_raw(read)}
        if self._reader_engine is not None:
            async with self._reader_engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                result["reader"] = await driver._execute(read, driver._conn)
        return result

    async def server_info(self) -> dict[str, Any]:
        """What the database engine reports: version, and on PostgreSQL the pools' state.

        Raises:
            DatabaseClosedError: the database is not open.
            StorageError: the server could not be asked.

        Example:
            >>> (await db.server_info())["backend"]
            'postgresql'

        """
        writer = self._open_writer()
        if isinstance(writer, Writer):
            version = await writer.execute_raw(
                lambda connection: connection.execute("select sqlite_version()").fetchone()[0]
            )
            return {"backend": "sqlite", "version": version}
        assert self._reader_engine is not None
        async with translated():
            return await server_info(self._server, writer, self._reader_engine)

    def stats(self) -> WriterStats:
        """Queue depth and commit figures of the writer.

        Raises:
            DatabaseClosedError: the database is not open.

        """
        return self._open_writer().stats()

    async def writer_in_transaction(self) -> bool:
        """Whether the writer connection (on PostgreSQL: any of them) is in a transaction."""
        return await self._open_writer().in_transaction()

    # -- commit listeners ------------------------------------------------------------------

    def add_commit_listener(self, table: str, listener: CommitListener) -> None:
        """Call ``listener(changes)`` after each committed transaction that touched ``table``."""
        self._listeners.setdefault(table, []).append(listener)

    def add_restore_listener(self, listener: Callable[[Any], Awaitable[None] | None]) -> None:
        """Call ``listener(report)`` after each completed restore (sync or async)."""
        self._restore_listeners.append(listener)

    async def notify_restored(self, report: Any) -> None:
        """Run the restore listeners; their errors are logged, not raised."""
        for listener in list(self._restore_listeners):
            try:
                result = listener(report)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("vstorage: restore listener %r failed", listener)

    def has_commit_listeners(self, table: str) -> bool:
        """Whether any listener waits for commits touching ``table``."""
        return bool(self._listeners.get(table))

    def _dispatch(self, changes: list[Change]) -> None:
        by_table: dict[str, list[Change]] = {}
        for change in changes:
            by_table.setdefault(change.table, []).append(change)
        for table, table_changes in by_table.items():
            for listener in self._listeners.get(table, ()):
                self._call_listener(listener, table_changes)

    def _call_listener(self, listener: CommitListener, changes: list[Change]) -> None:
        try:
            result = listener(list(changes))
        except Exception:
            logger.exception("vstorage: after_commit listener %r failed", listener)
            return
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(_guard(listener, result))
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)


async def _guard(listener: object, awaitable: Awaitable[None]) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("vstorage: after_commit listener %r failed", listener)


def _instant(name: str, value: dt.datetime) -> dt.datetime:
    """``value`` as a UTC instant (naive means UTC).

    Raises:
        ValidationError: not a datetime, or out of range once in UTC.

    """
    if not isinstance(value, dt.datetime):
        raise ValidationError.single(name, "must be a datetime")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError.single(name, "out of range in UTC") from None


def _with_references(tables: Iterable[Table]) -> list[Table]:
    """The tables plus every table they reference by foreign key, parents first."""
    seen: dict[str, Table] = {}

    def visit(table: Table) -> None:
        if table.name in seen:
            return
        for fk in table.foreign_keys:
            parent = fk.column.table
            if isinstance(parent, Table) and parent is not table:
                visit(parent)
        seen[table.name] = table

    for table in tables:
        visit(table)
    return list(seen.values())
