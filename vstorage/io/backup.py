"""Online backup and validated restore (SQLite here; PostgreSQL in ``_pg_backup``).

A backup is a consistent copy taken while writers continue (``VACUUM INTO`` on its own
connection: no free pages, so deleted data does not leak), checked, fsynced, then renamed into
place. A restore checks the candidate file completely before anything changes, takes a safety
backup, then replaces the contents **through the writer queue**: writes queued before it are
committed first (and replaced), writes queued after it run after it; none is lost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Table, create_engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from vstorage.accessor._actor import resolve_actor
from vstorage.accessor._compiled import bind_processor, compile_audit_insert, to_database
from vstorage.database import AsyncDatabase
from vstorage.database._audit import audit_table, dumps
from vstorage.database._jobs import Change
from vstorage.errors import ConfigurationError, RestoreError, StorageError, UnsupportedError
from vstorage.io import _pg_backup
from vstorage.io.export import export_tables

HEADER = b"SQLite format 3\x00"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BackupReport:
    """A finished backup.

    Attributes:
        path: the backup file.
        size: its size in bytes.
        sha256: its checksum.
        compressed: whether it is gzip-compressed.

    """

    path: Path
    size: int
    sha256: str
    compressed: bool


@dataclass
class RestoreReport:
    """What a restore found and did.

    Attributes:
        source_sha256: checksum of the candidate file.
        tables: rows per table in the candidate.
        dry_run: True when nothing was changed on purpose.
        restored: True when the live contents were replaced.
        safety_backup: the backup of the live database taken before replacing it.

    """

    source_sha256: str
    tables: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    restored: bool = False
    safety_backup: Path | None = None


def _require_file(database: AsyncDatabase) -> str:
    if database.path is None:
        raise UnsupportedError("an in-memory database has no file to back up or restore")
    return database.path


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _integrity(path: Path) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def _take_backup(source: str, destination: Path, compress: bool, timeout: float) -> BackupReport:
    if os.path.realpath(destination) == os.path.realpath(source):
        raise ConfigurationError("a backup cannot replace the live database file")
    raw = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.tmp")
    final_tmp = raw.with_suffix(".gz.tmp") if compress else raw
    try:
        connection = sqlite3.connect(source, timeout=timeout)
        try:
            connection.execute("VACUUM INTO ?", (str(raw),))
        except sqlite3.Error as exc:
            raise StorageError(f"the backup could not be written to {destination} ({exc})") from exc
        finally:
            connection.close()
        if _integrity(raw) != "ok":
            raise RestoreError("the backup copy failed its integrity check")
        if compress:
            with open(raw, "rb") as src, gzip.open(final_tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            raw.unlink()
        _fsync(final_tmp)
        os.replace(final_tmp, destination)
        directory = os.open(destination.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return BackupReport(destination, destination.stat().st_size, _sha256(destination), compress)
    finally:
        for leftover in (raw, final_tmp):
            leftover.unlink(missing_ok=True)


async def backup(
    database: AsyncDatabase, destination: str | Path, *, compress: bool = False
) -> BackupReport:
    """Write a consistent copy of the live database to ``destination``.

    Writers continue meanwhile. The copy is made in a worker thread, checked with
    ``integrity_check``, fsynced and renamed into place, so ``destination`` is either the old
    file or a complete new backup.

    On PostgreSQL the backup is a ``pg_dump`` custom-format archive of the registered
    tables and the audit trail (``pg_dump`` and ``pg_restore`` must be on PATH).

    Args:
        database: an open file database, or a PostgreSQL one.
        destination: the backup file (replaced atomically if it exists).
        compress: gzip the backup.

    Raises:
        UnsupportedError: an in-memory database, or PostgreSQL without ``pg_dump`` on PATH.
        ConfigurationError: the destination is the live file.
        RestoreError: the copy failed its integrity check.
        StorageError: the destination cannot be written.

    Example:
        >>> report = await backup(db, "/var/backups/machine.sqlite")

    """
    if database.dialect_name == "postgresql":
        return await _server_backup(database, Path(destination), compress)
    source = _require_file(database)
    timeout = (await database.settings())["writer"].busy_timeout_ms / 1000
    return await anyio.to_thread.run_sync(
        _take_backup, source, Path(destination), compress, timeout
    )


def _inspect(path: Path, expected: list[Table], integrity_check: bool) -> dict[str, int]:
    """Every check a candidate must pass; returns its row counts. Touches only ``path``."""
    with open(path, "rb") as handle:
        if handle.read(len(HEADER)) != HEADER:
            raise RestoreError("not a SQLite database file")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise RestoreError("the file cannot be opened as a SQLite database") from exc
    try:
        _check_candidate(connection, expected, integrity_check)
    except sqlite3.Error as exc:
        raise RestoreError(f"the file is damaged ({exc.__class__.__name__})") from exc
    finally:
        connection.close()
    return _scan(path, expected)


def _check_candidate(
    connection: sqlite3.Connection, expected: list[Table], integrity_check: bool
) -> None:
    if integrity_check:
        result = connection.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise RestoreError("the file failed its integrity check")
    if connection.execute("PRAGMA foreign_key_check").fetchall():
        raise RestoreError("the file has rows whose foreign keys point nowhere")
    objects = connection.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ).fetchall()
    extra = sorted(name for kind, name in objects if kind in ("trigger", "view"))
    if extra:
        raise RestoreError(f"the file has triggers or views this app does not: {extra}")
    tables = {name for kind, name in objects if kind == "table"}
    wanted = {table.name: table for table in expected}
    if tables != set(wanted):
        missing, unknown = sorted(set(wanted) - tables), sorted(tables - set(wanted))
        raise RestoreError(
            f"the tables differ from this app's (missing {missing}, extra {unknown})"
        )
    for name, table in wanted.items():
        columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{name}")')]
        if sorted(columns) != sorted(c.name for c in table.c):
            raise RestoreError(f"table {name!r} has other columns than this app's")


def _scan(path: Path, expected: list[Table]) -> dict[str, int]:
    """Read every row through the models' column types; returns the row counts.

    ``integrity_check`` proves the file's structure, not its values: a flipped byte in a text
    or a date is only found by reading it as the app will.
    """
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true")
    counts: dict[str, int] = {}
    try:
        with engine.connect() as connection:
            for table in expected:
                count = 0
                for partition in connection.execute(select(*table.c)).partitions(1000):
                    count += len(partition)
                counts[table.name] = count
    except (SQLAlchemyError, ValueError, TypeError, UnicodeError) as exc:
        raise RestoreError(
            f"the file holds values this app cannot read ({type(exc).__name__})"
        ) from exc
    finally:
        engine.dispose()
    return counts


async def restore(
    database: AsyncDatabase,
    source: str | Path,
    *,
    dry_run: bool = False,
    integrity_check: bool = True,
    actor: str | None = None,
    safety_backup_dir: str | Path | None = None,
) -> RestoreReport:
    """Replace the live contents with those of a backup file, safely.

    Before anything changes: SQLite header, ``integrity_check``, ``foreign_key_check``, and the
    schema compared with the app's (other tables, columns, triggers or views refuse the file).
    A refused restore leaves the live file untouched. ``dry_run`` stops after the checks. A
    real restore takes a safety backup of the live database, then replaces every registered
    table and the audit trail in one job of the writer queue, writes a ``restore`` audit row
    (actor, source checksum) and notifies ``on_restored`` listeners.

    On PostgreSQL the candidate is an archive made by :func:`backup`: its table of contents
    and every row are read first (tables, columns and the schema must be the app's), then
    running writes are drained and new ones held back while ``pg_restore --clean
    --single-transaction`` replaces the tables; ``integrity_check`` does not apply.

    Args:
        database: an open file database (or a PostgreSQL one) with the app's accessors
            registered.
        source: the candidate file, plain or gzip-compressed (it is only read).
        dry_run: check and report only.
        integrity_check: run ``PRAGMA integrity_check`` on the candidate (default on).
        actor: who restores (default: the ambient actor).
        safety_backup_dir: where the safety backup goes (default: beside the live file; on
            PostgreSQL, the system's temporary directory).

    Raises:
        RestoreError: the candidate was refused; nothing changed.
        UnsupportedError: an in-memory database, or PostgreSQL without ``pg_dump`` and
            ``pg_restore`` on PATH.
        DatabaseClosedError: the database is not open.

    Example:
        >>> report = await restore(db, "machine-monday.sqlite", actor="maintenance")

    """
    who = resolve_actor(actor)
    if database.dialect_name == "postgresql":
        _pg_backup.tool("pg_dump")
        _pg_backup.tool("pg_restore")
        async with _plain_file(Path(source)) as path:
            return await _server_restore(database, path, who, dry_run, safety_backup_dir)
    live = _require_file(database)
    expected = export_tables(database)
    async with _plain_file(Path(source)) as path:
        return await _restore(
            database, live, path, expected, who, dry_run, integrity_check, safety_backup_dir
        )


@contextlib.asynccontextmanager
async def _plain_file(source: Path) -> AsyncIterator[Path]:
    """``source``, or a gunzipped copy of it when it is a compressed backup."""
    if await anyio.to_thread.run_sync(_magic, source) != b"\x1f\x8b":
        yield source
        return
    handle_fd, name = tempfile.mkstemp(prefix="vstorage-restore-", suffix=".sqlite")
    os.close(handle_fd)
    plain = Path(name)
    try:

        def gunzip() -> None:
            try:
                with gzip.open(source, "rb") as src, open(plain, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            except (OSError, EOFError) as exc:
                raise RestoreError("the compressed file is damaged") from exc

        await anyio.to_thread.run_sync(gunzip)
        yield plain
    finally:
        await anyio.Path(plain).unlink(missing_ok=True)


async def _server_backup(
    database: AsyncDatabase, destination: Path, compress: bool
) -> BackupReport:
    directory = destination.parent
    partial = directory / f".{destination.name}.{uuid.uuid4().hex}.partial"
    try:
        await _pg_backup.dump(database, partial)
        if compress:
            packed = partial.with_suffix(".gz")
            await anyio.to_thread.run_sync(_gzip, partial, packed)
            await anyio.Path(partial).unlink()
            partial = packed
        await anyio.to_thread.run_sync(_fsync, partial)
        await anyio.to_thread.run_sync(os.replace, partial, destination)
    finally:
        await anyio.Path(partial).unlink(missing_ok=True)
    size = (await anyio.Path(destination).stat()).st_size
    return BackupReport(
        destination, size, await anyio.to_thread.run_sync(_sha256, destination), compress
    )


def _gzip(source: Path, destination: Path) -> None:
    with open(source, "rb") as src, gzip.open(destination, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


async def _server_restore(
    database: AsyncDatabase,
    path: Path,
    who: str,
    dry_run: bool,
    safety_backup_dir: str | Path | None,
) -> RestoreReport:
    schema = await _pg_backup.current_schema(database)
    expected = export_tables(database)  # the audit table included
    tables = await anyio.to_thread.run_sync(_pg_backup.inspect_archive, path, schema, expected)
    report = RestoreReport(await anyio.to_thread.run_sync(_sha256, path), tables, dry_run)
    if dry_run:
        return report
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    directory = Path(safety_backup_dir) if safety_backup_dir else Path(tempfile.gettempdir())
    safety = directory / f"{schema}.pre-restore-{stamp}.dump"
    await _pg_backup.replace(database, path, report, who, safety)
    await database.notify_restored(report)
    return report


def _magic(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(2)
    except OSError as exc:
        raise RestoreError(f"the candidate cannot be read ({exc.strerror})") from exc


async def _restore(
    database: AsyncDatabase,
    live: str,
    path: Path,
    expected: list[Table],
    who: str,
    dry_run: bool,
    integrity_check: bool,
    safety_backup_dir: str | Path | None,
) -> RestoreReport:
    tables = await anyio.to_thread.run_sync(_inspect, path, expected, integrity_check)
    report = RestoreReport(await anyio.to_thread.run_sync(_sha256, path), tables, dry_run)
    if dry_run:
        return report
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    directory = Path(safety_backup_dir) if safety_backup_dir else Path(live).parent
    safety = directory / f"{Path(live).name}.pre-restore-{stamp}.sqlite"
    await backup(database, safety)
    report.safety_backup = safety
    work = _replace_work(database, path, expected, who, report)
    await database.run_raw(work)
    report.restored = True
    await database.notify_restored(report)
    return report


def _replace_work(
    database: AsyncDatabase, path: Path, tables: list[Table], actor: str, report: RestoreReport
) -> Any:
    dialect = database.dialect

    def sql(statement: Any) -> str:
        return str(statement.compile(dialect=dialect))

    plan = [
        (sql(delete(t)), sql(select(*t.c)), sql(insert(t).values({c.name: None for c in t.c})))
        for t in tables
    ]
    audit_sql, audit_columns = compile_audit_insert(dialect)
    stamp = to_database(
        bind_processor(audit_table.c.timestamp.type, dialect), dt.datetime.now(dt.UTC)
    )
    after = {"source_sha256": report.source_sha256, "tables": report.tables}
    values = {
        "timestamp": stamp,
        "component": "database",
        "record_id": "restore",
        "operation": "restore",
        "actor": actor,
        "before": None,
        "after": dumps(after),
    }

    def run(cursor: sqlite3.Cursor) -> tuple[Any, list[Change]]:
        # Checked at the end of the job rather than row by row: tables are refilled in turn.
        cursor.execute("PRAGMA defer_foreign_keys = ON")
        candidate = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            for delete_sql, _, _ in reversed(plan):
                cursor.execute(delete_sql)
            for _, select_sql, insert_sql in plan:
                cursor.executemany(insert_sql, candidate.execute(select_sql))
        finally:
            candidate.close()
        if cursor.execute("PRAGMA foreign_key_check").fetchall():
            raise RestoreError("the restored rows break a foreign key")
        cursor.execute("PRAGMA defer_foreign_keys = OFF")
        cursor.execute(audit_sql, [values[c] for c in audit_columns])
        return None, []

    return run
