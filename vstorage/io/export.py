"""CSV export: a zip with one CSV per table, from one consistent snapshot, streamed to disk."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Table, select

from vstorage.database import AsyncDatabase
from vstorage.database._audit import audit_table
from vstorage.io._codec import encoder

Progress = Callable[[str, int], None]
MANIFEST = "manifest.json"
FORMAT = "vstorage-export"
_BATCH = 500


@dataclass
class ExportReport:
    """What an export wrote.

    Attributes:
        path: the zip file.
        rows: rows written, by table.

    """

    path: Path
    rows: dict[str, int] = field(default_factory=dict)


def export_tables(database: AsyncDatabase) -> list[Table]:
    """The registered tables, parents before children, then the audit table."""
    tables = sorted(database.tables.values(), key=lambda t: t.name)
    ordered: list[Table] = []

    def visit(table: Table) -> None:
        if table in ordered:
            return
        for fk in table.foreign_keys:
            parent = fk.column.table
            if isinstance(parent, Table) and parent is not table and parent in tables:
                visit(parent)
        ordered.append(table)

    for table in tables:
        visit(table)
    return [*ordered, audit_table]


async def export_zip(
    database: AsyncDatabase,
    destination: str | Path,
    *,
    neutralise_formulas: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    """Write every registered table and the audit trail to a zip of CSV files.

    All tables are read inside one read transaction, so the files form one consistent snapshot
    while writers carry on. Rows are streamed in batches and compressed in a worker thread:
    memory stays flat whatever the size of the database. Each CSV starts with a header row of
    column names; ``manifest.json`` lists the tables, their columns and row counts.

    Args:
        database: an open database.
        destination: the zip file to write (replaced only once the export is complete).
        neutralise_formulas: prefix text cells starting with ``= + - @`` with ``'`` so that
            spreadsheets do not run them (such a file no longer imports back unchanged).
        progress: ``progress(table, rows_so_far)`` after each batch.

    Returns:
        The path and the row count of each table.

    Raises:
        DatabaseClosedError: the database is not open.
        StorageError: the database could not be read.
        OSError: the destination cannot be written.

    Example:
        >>> report = await export_zip(db, "backup-2026-11-22.zip", progress=print)

    """
    path = Path(destination)
    partial = path.with_name(f".{path.name}.partial")
    report = ExportReport(path)
    tables = export_tables(database)
    archive = await anyio.to_thread.run_sync(
        lambda: zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED)
    )
    done = False
    try:
        async with database.read() as session:
            for table in tables:
                encoders = [encoder(c, neutralise_formulas=neutralise_formulas) for c in table.c]
                member = await anyio.to_thread.run_sync(_open_member, archive, table)
                try:
                    count = 0
                    result = await session.stream(select(*table.c))
                    async for partition in result.partitions(_BATCH):
                        await anyio.to_thread.run_sync(_write_rows, member, encoders, partition)
                        count += len(partition)
                        if progress is not None:
                            progress(table.name, count)
                finally:
                    await anyio.to_thread.run_sync(member.close)
                report.rows[table.name] = count
        manifest = _manifest(tables, report.rows)
        await anyio.to_thread.run_sync(archive.writestr, MANIFEST, manifest)
        done = True
    finally:
        await anyio.to_thread.run_sync(archive.close)
        if done:  # a failed export never replaces an earlier file
            await anyio.to_thread.run_sync(os.replace, partial, path)
        else:
            await anyio.Path(partial).unlink(missing_ok=True)
    return report


class _Member:
    """A CSV writer streaming into one zip member."""

    def __init__(self, archive: zipfile.ZipFile, name: str, header: list[str]) -> None:
        self.raw = archive.open(name, "w", force_zip64=True)
        self.text = io.TextIOWrapper(self.raw, encoding="utf-8", newline="")
        self.writer = csv.writer(self.text, lineterminator="\r\n")
        self.writer.writerow(header)

    def close(self) -> None:
        self.text.close()


def _open_member(archive: zipfile.ZipFile, table: Table) -> _Member:
    return _Member(archive, f"{table.name}.csv", [c.name for c in table.c])


def _write_rows(member: _Member, encoders: list[Any], rows: Sequence[Any]) -> None:
    member.writer.writerows([enc(v) for enc, v in zip(encoders, row, strict=True)] for row in rows)


def _manifest(tables: list[Table], rows: dict[str, int]) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "version": 1,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "tables": {
                t.name: {"columns": [c.name for c in t.c], "rows": rows.get(t.name, 0)}
                for t in tables
            },
        },
        indent=2,
    )
