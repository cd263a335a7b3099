"""Backup and restore on PostgreSQL, with ``pg_dump`` and ``pg_restore``.

A backup is a ``pg_dump`` custom-format archive of the registered tables and the audit trail:
one consistent snapshot taken while writers continue, listed back by ``pg_restore`` as a check,
fsynced and renamed into place.

A restore reads the whole candidate archive before anything changes: its table of contents
(only tables, their sequences, constraints and indexes; no views, functions or triggers), and
every row, which gives the tables, columns and row counts compared with the app's models. Then
it waits for every running write to commit and holds new ones back, takes a safety backup,
and runs ``pg_restore --clean --single-transaction``: the contents are replaced entirely or not
at all. A ``restore`` audit row is written before writes resume.

An archive is restored into the schema it was taken from: moving data between schemas or
servers is what CSV export and import are for.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from vstorage.database import AsyncDatabase
from vstorage.database._audit import audit_table, utc_now
from vstorage.errors import RestoreError, StorageError, UnsupportedError
from vstorage.io.export import export_tables

if TYPE_CHECKING:
    from vstorage.io.backup import RestoreReport

_COPY = re.compile(r"^COPY (\S+?)\.(\S+) \((.*)\) FROM stdin;$")
_ALLOWED = {
    "TABLE",
    "TABLE DATA",
    "SEQUENCE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "DEFAULT",
    "CONSTRAINT",
    "FK CONSTRAINT",
    "INDEX",
    "COMMENT",
    "ACL",
}


def tool(name: str) -> str:
    """The path of a PostgreSQL client program.

    Raises:
        UnsupportedError: it is not on PATH.

    """
    found = shutil.which(name)
    if found is None:
        raise UnsupportedError(
            f"backup and restore on PostgreSQL need {name} on PATH "
            "(Debian: postgresql-client); without it they are not supported on this backend"
        )
    return found


def _unquote(name: str) -> str:
    name = name.strip()
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name


async def current_schema(database: AsyncDatabase) -> str:
    """The schema the database's tables live in, as the server reports it."""
    return str((await database.server_info())["schema"])


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        last = message[-1] if message else f"exit status {result.returncode}"
        raise StorageError(f"{what} failed: {last}")


async def dump(database: AsyncDatabase, destination: Path) -> None:
    """``pg_dump`` the app's tables into ``destination`` (custom format), then list it back.

    Without registered accessors, every table of the schema is dumped.

    Raises:
        UnsupportedError: pg_dump or pg_restore is not on PATH.
        StorageError: pg_dump failed, or its archive does not list back.

    """
    pg_dump, pg_restore = tool("pg_dump"), tool("pg_restore")
    schema = await current_schema(database)
    env = {**os.environ, **database.server_environment()}
    command = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--strict-names"]
    if database.tables:
        names = [table.name for table in export_tables(database)]  # the audit table too
    else:  # no models registered (the CLI without --models): every table of the schema
        async with database.read() as session:
            found = await session.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
            names = sorted(found.scalars())
    for name in names:
        command.append(f"--table={_quoted(schema)}.{_quoted(name)}")
    command.append(f"--file={destination}")
    await anyio.to_thread.run_sync(_run, command, env, "pg_dump")
    await anyio.to_thread.run_sync(_run, [pg_restore, "--list", str(destination)], env, "check")


def _quoted(name: str) -> str:
    # pg_dump's --table takes a pattern: quoting keeps the name literal.
    return '"' + name.replace('"', '""') + '"'


def inspect_archive(path: Path, schema: str, expected: list[Table]) -> dict[str, int]:
    """Every check a candidate archive must pass; returns its row counts. Only reads ``path``.

    Raises:
        UnsupportedError: pg_restore is not on PATH.
        RestoreError: the archive is damaged, or does not hold exactly the app's tables.

    """
    pg_restore = tool("pg_restore")
    listing = subprocess.run(
        [pg_restore, "--list", str(path)], capture_output=True, check=False, text=True
    )
    if listing.returncode != 0:
        raise RestoreError("not a pg_dump custom-format archive, or a damaged one")
    for line in listing.stdout.splitlines():
        if not line or line.startswith(";"):
            continue
        parts = line.split("; ", 1)[-1].split(" ", 2)
        kind = _kind(parts[-1]) if len(parts) == 3 else ""
        if kind not in _ALLOWED:
            raise RestoreError(f"the archive holds objects vstorage does not make ({kind})")
    found = _read_rows(pg_restore, path)
    names = {table.name: table for table in expected}
    schemas = {schema_name for schema_name, _ in found}
    if schemas - {schema}:
        raise RestoreError(
            f"the archive holds schema {sorted(schemas)[0]!r}, this database uses {schema!r}; "
            "move data between schemas with export and import"
        )
    tables = {name for _, name in found}
    if tables != set(names):
        missing, extra = sorted(set(names) - tables), sorted(tables - set(names))
        raise RestoreError(f"the archive's tables differ: missing {missing}, unknown {extra}")
    counts: dict[str, int] = {}
    for (_, name), (columns, rows) in found.items():
        wanted = [column.name for column in names[name].c]
        if sorted(columns) != sorted(wanted):
            raise RestoreError(f"table {name!r} has other columns in the archive")
        counts[name] = rows
    return counts


def _kind(rest: str) -> str:
    # "TABLE DATA t_x recipes root" -> "TABLE DATA"; the kind is the words before the schema.
    for kind in sorted(_ALLOWED | {"SCHEMA", "VIEW", "FUNCTION", "TRIGGER"}, key=len, reverse=True):
        if rest.startswith(kind + " "):
            return kind
    return rest.split(" ", 1)[0]


def _read_rows(pg_restore: str, path: Path) -> dict[tuple[str, str], tuple[list[str], int]]:
    """Decompress every row of the archive: tables, their columns and row counts."""
    found: dict[tuple[str, str], tuple[list[str], int]] = {}
    current: tuple[str, str] | None = None
    columns: list[str] = []
    rows = 0
    with subprocess.Popen(
        [pg_restore, "--data-only", "--file=-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            if current is not None:
                if raw == b"\\.\n":
                    found[current] = (columns, rows)
                    current = None
                else:
                    rows += 1
                continue
            match = _COPY.match(raw.decode("utf-8", "replace").rstrip("\n"))
            if match:
                current = (_unquote(match.group(1)), _unquote(match.group(2)))
                columns = [_unquote(c) for c in match.group(3).split(",")]
                rows = 0
    if process.returncode != 0 or current is not None:
        raise RestoreError("the archive's data is damaged")
    return found


async def replace(
    database: AsyncDatabase,
    path: Path,
    report: RestoreReport,
    actor: str,
    safety: Path,
) -> None:
    """Drain and hold writes, take the safety backup, restore in one transaction, audit.

    Raises:
        RestoreError: pg_restore refused the archive; nothing changed.
        StorageError: the safety backup failed; nothing changed.

    """
    pg_restore = tool("pg_restore")
    env = {**os.environ, **database.server_environment()}
    async with database.exclusive() as engine:
        await dump(database, safety)
        report.safety_backup = safety
        command = [
            pg_restore,
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={env['PGDATABASE']}",
            str(path),
        ]
        try:
            await anyio.to_thread.run_sync(_run, command, env, "pg_restore")
        except StorageError as exc:
            raise RestoreError(f"the archive could not be restored: {exc}") from exc
        # Pooled connections cache statements prepared on the tables just replaced.
        await database.reset_connections()
        await _audit(engine, actor, report)
    report.restored = True


async def _audit(engine: AsyncEngine, actor: str, report: RestoreReport) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(audit_table).values(
                timestamp=utc_now(),
                component="database",
                record_id="restore",
                operation="restore",
                actor=actor,
                before=None,
                after={"source_sha256": report.source_sha256, "tables": report.tables},
            )
        )
