"""CSV import: validated through the models, atomic, with zip-bomb and path checks."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

import anyio
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vstorage.accessor import AsyncModelAccessor, use_actor
from vstorage.accessor._actor import resolve_actor
from vstorage.database import AsyncDatabase
from vstorage.database._audit import AUDIT_TABLE_NAME, audit_table, utc_now
from vstorage.database._errors import translate
from vstorage.errors import DataImportError, ValidationError
from vstorage.io._codec import decoder
from vstorage.io.export import MANIFEST, export_tables

Mode = Literal["append", "replace", "upsert"]
MODES = ("append", "replace", "upsert")
_BATCH = 500
# What a corrupt or lying archive member raises while it is read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError)
# A cell may hold a base64 blob or a JSON document: far beyond csv's 128 KiB default.
csv.field_size_limit(64 * 1024 * 1024)


@dataclass(frozen=True)
class ZipLimits:
    """Caps on what an uploaded zip may expand to.

    Attributes:
        max_members: most files in the archive.
        max_total_bytes: most bytes all members may decompress to.
        max_ratio: most a member may expand relative to its compressed size.

    """

    max_members: int = 100
    max_total_bytes: int = 4 * 1024**3
    max_ratio: int = 200


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        mode: ``append``, ``replace`` or ``upsert``.
        imported: records written (inserted or changed), by table.
        removed: records removed first (``replace``), by table.
        unchanged: records already identical (``upsert``), by table.
        history: audit rows carried over from the archive (``keep_audit``).

    """

    mode: str
    imported: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    history: int = 0


class _CappedReader(io.RawIOBase):
    """A zip member that refuses to expand past its cap, whatever its header claims."""

    def __init__(self, raw: IO[bytes], cap: int, name: str) -> None:
        self._raw, self._left, self._name = raw, cap, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise DataImportError(self._name, None, None, "decompresses beyond the size limit")
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _check_archive(archive: zipfile.ZipFile, known: set[str], limits: ZipLimits) -> list[str]:
    """The CSV members to import, after checking names, count and sizes."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise DataImportError("archive", None, None, f"more than {limits.max_members} files")
    total = 0
    members = []
    for info in infos:
        name = info.filename
        path = PurePosixPath(name)
        if (
            info.is_dir()
            or path.is_absolute()
            or ".." in path.parts
            or "\\" in name
            or len(path.parts) != 1
        ):
            raise DataImportError(name, None, None, "unexpected path in the archive")
        if name == MANIFEST:
            continue
        if path.suffix != ".csv" or path.stem not in known:
            raise DataImportError(name, None, None, "not a table of this database")
        total += info.file_size
        if info.file_size > limits.max_ratio * max(info.compress_size, 1) + 1024:
            raise DataImportError(name, None, None, "compression ratio is suspicious")
        members.append(name)
    if total > limits.max_total_bytes:
        raise DataImportError("archive", None, None, "decompresses beyond the size limit")
    return members


class _Rows:
    """Decoded rows of one CSV stream, read in batches in a worker thread."""

    def __init__(self, name: str, stream: IO[bytes], table: Table) -> None:
        self.name = name
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        self.reader = csv.reader(self.text)
        self.table = table
        try:
            header = next(self.reader)
        except StopIteration:
            raise DataImportError(name, None, None, "empty file: a header row is needed") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataImportError(name, None, None, f"not a CSV file ({exc})") from None
        except _DAMAGED as exc:
            raise DataImportError(name, None, None, f"damaged archive member ({exc})") from None
        unknown = [c for c in header if c not in table.c]
        if unknown or len(set(header)) != len(header):
            raise DataImportError(
                name, None, unknown[0] if unknown else None, "unknown or repeated column"
            )
        self.header = header
        self.decoders = [decoder(table.c[c]) for c in header]
        self.row = 0

    def batch(self) -> list[tuple[int, dict[str, Any]]]:
        out = []
        try:
            for cells in itertools.islice(self.reader, _BATCH):
                self.row += 1
                if len(cells) != len(self.header):
                    raise DataImportError(self.name, self.row, None, "wrong number of cells")
                values: dict[str, Any] = {}
                for column, decode, cell in zip(self.header, self.decoders, cells, strict=True):
                    try:
                        values[column] = decode(cell)
                    except ValueError as exc:
                        raise DataImportError(self.name, self.row, column, str(exc)) from None
                out.append((self.row, values))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataImportError(
                self.name, self.row + 1, None, f"unreadable CSV ({exc})"
            ) from None
        return out

    def close(self) -> None:
        self.text.close()


class _TableImport:
    """Writes the rows of one table inside the import's transaction."""

    def __init__(
        self, accessor: AsyncModelAccessor[Any], session: AsyncSession, actor: str, mode: str
    ) -> None:
        self.accessor = accessor
        self.table: Table = accessor.table
        self.session = session
        self.actor = actor
        self.mode = mode
        self.key = accessor.primary_key
        self.by_column = {accessor.column(f).name: f for f in accessor.fields}

    def prepare(self, name: str, row: int, values: dict[str, Any]) -> dict[str, Any]:
        record = {self.by_column[column]: value for column, value in values.items()}
        try:
            validated = self.accessor.validate_record(record)
            # upsert changes only the columns the file has; new records get their defaults
            return validated if self.mode == "upsert" else self.accessor.with_defaults(validated)
        except ValidationError as exc:
            first = exc.errors[0]
            raise DataImportError(name, row, first.field, first.message) from None

    def _columns(self, record: dict[str, Any]) -> dict[str, Any]:
        return {self.accessor.column(k).name: v for k, v in record.items()}

    async def _audit(self, entries: list[dict[str, Any]]) -> None:
        if entries and self.accessor.enable_auditing:
            await self.session.execute(insert(audit_table), entries)

    def _entry(self, operation: str, key: Any, before: Any, after: Any) -> dict[str, Any]:
        return {
            "timestamp": utc_now(),
            "component": self.accessor.component,
            "record_id": str(key),
            "operation": operation,
            "actor": self.actor,
            "before": before,
            "after": after,
        }

    async def clear(self) -> int:
        """Remove every row (``replace``), auditing each as ``delete``."""
        rows = (await self.session.execute(select(*self.table.c))).mappings().all()
        entries = []
        for row in rows:
            before = {self.by_column[c]: v for c, v in row.items()}
            entries.append(self._entry("delete", before[self.key], before, None))
        await self.session.execute(delete(self.table))
        await self._audit(entries)
        return len(rows)

    async def write(
        self, name: str, batch: list[tuple[int, dict[str, Any]]], report: ImportReport
    ) -> None:
        """Write one batch; on a constraint error, find the row at fault."""
        try:
            async with self.session.begin_nested():
                await self._write(batch, report)
        except IntegrityError:
            for row, record in batch:
                try:
                    async with self.session.begin_nested():
                        await self._write([(row, record)], ImportReport(self.mode))
                except IntegrityError as exc:
                    error = translate(exc)
                    fields = getattr(error, "fields", ())
                    raise DataImportError(
                        name, row, fields[0] if fields else None, str(error)
                    ) from None
            raise

    async def _write(self, batch: list[tuple[int, dict[str, Any]]], report: ImportReport) -> None:
        name = self.table.name
        if self.mode == "upsert":
            for _, record in batch:
                await self._upsert(record, report)
            return
        keyed = [record for _, record in batch if record.get(self.key) is not None]
        if keyed:
            await self.session.execute(insert(self.table), [self._columns(r) for r in keyed])
        for _, record in batch:
            if record.get(self.key) is None:
                result = await self.session.execute(
                    insert(self.table)
                    .values(self._columns(record))
                    .returning(self.accessor.column(self.key))
                )
                record[self.key] = result.scalar_one()
        await self._audit([self._entry("import", r[self.key], None, r) for _, r in batch])
        report.imported[name] = report.imported.get(name, 0) + len(batch)

    async def _upsert(self, record: dict[str, Any], report: ImportReport) -> None:
        name = self.table.name
        key = record.get(self.key)
        column = self.accessor.column(self.key)
        current = None
        if key is not None:
            found = (
                (await self.session.execute(select(*self.table.c).where(column == key)))
                .mappings()
                .first()
            )
            current = None if found is None else {self.by_column[c]: v for c, v in found.items()}
        if current is None:
            await self._write_new(self.accessor.with_defaults(record))
            report.imported[name] = report.imported.get(name, 0) + 1
            return
        after = {**current, **record}
        changed = {k: v for k, v in after.items() if not _same(current.get(k), v)}
        if not changed:
            report.unchanged[name] = report.unchanged.get(name, 0) + 1
            return
        await self.session.execute(
            update(self.table).where(column == key).values(self._columns(changed))
        )
        await self._audit([self._entry("import", key, current, after)])
        report.imported[name] = report.imported.get(name, 0) + 1

    async def _write_new(self, record: dict[str, Any]) -> None:
        result = await self.session.execute(
            insert(self.table)
            .values(self._columns(record))
            .returning(self.accessor.column(self.key))
        )
        record[self.key] = result.scalar_one()
        await self._audit([self._entry("import", record[self.key], None, record)])


def _same(stored: Any, given: Any) -> bool:
    """Equal values; a naive and an aware instant are compared as UTC instants.

    A ``DateTime(timezone=True)`` value reads back naive from SQLite and aware from
    PostgreSQL, so an export from one back end names the instants of the other that way.
    """
    if (
        isinstance(stored, dt.datetime)
        and isinstance(given, dt.datetime)
        and (stored.tzinfo is None) != (given.tzinfo is None)
    ):
        return _utc(stored) == _utc(given)
    return bool(stored == given)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValidationError.single("mode", f"must be one of {', '.join(MODES)}")


async def import_zip(
    database: AsyncDatabase,
    source: str | Path | IO[bytes],
    *,
    mode: Mode = "append",
    actor: str | None = None,
    limits: ZipLimits = ZipLimits(),
    keep_audit: bool = False,
) -> ImportReport:
    """Import a zip made by :func:`~vstorage.io.export_zip` (or any zip of ``<table>.csv``).

    Every row is validated through its model, by the accessor's rules, and the whole import is
    one transaction on the writer: a bad row anywhere leaves the database exactly as it was, and
    the error names the file, the row and the field. ``vstorage_audit.csv`` in the archive is
    skipped unless ``keep_audit`` (the trail is not rewritten); each imported record gets an
    audit row with operation ``import`` (and ``replace`` audits every removed record as
    ``delete``). Lifecycle hooks do not run: an import restores data, it does not re-enact the
    operations that made it.

    Args:
        database: an open database with the tables' accessors registered.
        source: the zip file, as a path or a binary file object.
        mode: ``append`` (insert; a key that exists is a conflict), ``replace`` (the tables in
            the archive are emptied first), or ``upsert`` (insert new keys, update existing).
        actor: who imports (default: the ambient actor).
        limits: caps against zip bombs.
        keep_audit: append the archive's audit rows (their times, actors and values; new
            ids) to the trail first, in the same transaction: for moving a database to
            another file or server with its history.

    Returns:
        Counts of what was imported, removed and left unchanged, by table.

    Raises:
        DataImportError: a bad archive, member name, header or row (nothing written).
        ValidationError: an unknown mode.
        ConflictError: a constraint refused the result (e.g. ``replace`` of a parent table
            whose rows are still referenced); nothing written.
        DatabaseClosedError: the database is not open.

    Example:
        >>> report = await import_zip(db, "export.zip", mode="upsert", actor="service")

    """
    _check_mode(mode)
    who = resolve_actor(actor)
    accessors = database.accessors
    try:
        archive = await anyio.to_thread.run_sync(zipfile.ZipFile, source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataImportError("archive", None, None, f"not a zip file ({exc})") from None
    try:
        members = _check_archive(archive, {*accessors, AUDIT_TABLE_NAME}, limits)
        order = [t.name for t in export_tables(database) if f"{t.name}.csv" in members]
        order = [name for name in order if name != AUDIT_TABLE_NAME]

        def open_rows(name: str) -> _Rows:
            info = archive.getinfo(f"{name}.csv")
            raw = _CappedReader(archive.open(info), info.file_size, info.filename)
            return _Rows(info.filename, io.BufferedReader(raw), accessors[name].table)

        history: Callable[[], _Rows] | None = None
        if keep_audit and f"{AUDIT_TABLE_NAME}.csv" in members:

            def open_history() -> _Rows:
                info = archive.getinfo(f"{AUDIT_TABLE_NAME}.csv")
                raw = _CappedReader(archive.open(info), info.file_size, info.filename)
                return _Rows(info.filename, io.BufferedReader(raw), audit_table)

            history = open_history

        plan = [(accessors[n], open_rows) for n in order]
        return await _import(database, plan, mode, who, history)
    finally:
        await anyio.to_thread.run_sync(archive.close)


async def import_csv(
    accessor: AsyncModelAccessor[Any],
    source: str | Path | IO[bytes],
    *,
    mode: Mode = "append",
    actor: str | None = None,
    max_bytes: int = 4 * 1024**3,
    name: str | None = None,
) -> ImportReport:
    """Import one CSV file into ``accessor``'s table; same rules as :func:`import_zip`.

    ``name`` is the file name errors mention (default: the source's name).

    Raises:
        DataImportError: a bad header or row (nothing written).
        ValidationError: an unknown mode.
        ConflictError: a constraint refused the result; nothing written.
        DatabaseClosedError: the database is not open.

    Example:
        >>> await import_csv(recipes, "recipes.csv", mode="upsert")

    """
    _check_mode(mode)
    who = resolve_actor(actor)
    if name is None:
        name = (
            Path(source).name if isinstance(source, (str, Path)) else f"{accessor.table.name}.csv"
        )

    def open_rows(_: str) -> _Rows:
        stream: IO[bytes] = open(source, "rb") if isinstance(source, (str, Path)) else source  # noqa: SIM115
        capped = _CappedReader(stream, max_bytes, name)
        return _Rows(name, io.BufferedReader(capped), accessor.table)

    return await _import(accessor.database, [(accessor, open_rows)], mode, who)


async def _carry_history(session: AsyncSession, open_rows: Callable[[], _Rows]) -> int:
    """Append an archive's audit rows to the trail (ids are the trail's own)."""
    rows = await anyio.to_thread.run_sync(open_rows)
    count = 0
    try:
        while batch := await anyio.to_thread.run_sync(rows.batch):
            entries = []
            for number, values in batch:
                values.pop("id", None)
                missing = [c.name for c in audit_table.c if c.name != "id" and c.name not in values]
                if missing and not set(missing) <= {"before", "after"}:
                    raise DataImportError(rows.name, number, missing[0], "missing column")
                try:
                    values["timestamp"] = dt.datetime.fromisoformat(values["timestamp"])
                except (TypeError, ValueError):
                    raise DataImportError(rows.name, number, "timestamp", "not a time") from None
                entries.append(values)
            await session.execute(insert(audit_table), entries)
            count += len(entries)
    finally:
        await anyio.to_thread.run_sync(rows.close)
    return count


async def _import(
    database: AsyncDatabase,
    plan: list[tuple[AsyncModelAccessor[Any], Any]],
    mode: str,
    actor: str,
    history: Callable[[], _Rows] | None = None,
) -> ImportReport:
    report = ImportReport(mode)
    with use_actor(actor):
        async with database.transaction() as session:
            if history is not None:
                report.history = await _carry_history(session, history)
            imports = [_TableImport(acc, session, actor, mode) for acc, _ in plan]
            if mode == "replace":
                for table_import in reversed(imports):
                    try:
                        removed = await table_import.clear()
                    except IntegrityError as exc:
                        raise translate(exc) from exc
                    report.removed[table_import.table.name] = removed
            for table_import, (_, open_rows) in zip(imports, plan, strict=True):
                rows: _Rows = await anyio.to_thread.run_sync(open_rows, table_import.table.name)
                try:
                    while batch := await anyio.to_thread.run_sync(rows.batch):
                        prepared = [(n, table_import.prepare(rows.name, n, v)) for n, v in batch]
                        await table_import.write(rows.name, prepared, report)
                finally:
                    await anyio.to_thread.run_sync(rows.close)
            # Rows came with their keys: key sequences (PostgreSQL) must move past them.
            await database.advance_sequences([acc.table for acc, _ in plan])
    return report
