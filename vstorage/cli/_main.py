"""Thin commands over ``vstorage.io`` and ``vstorage.web``; see ``docs/cli.md``.

Exit codes: 0 success, 1 the operation failed (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from vstorage.accessor import AsyncModelAccessor
from vstorage.database import AsyncDatabase
from vstorage.errors import VStorageError
from vstorage.io import backup, export_zip, import_csv, import_zip, mermaid_er, restore, svg_diagram
from vstorage.io.importer import MODES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command line that cannot be carried out as given."""


def load_accessors(spec: str) -> list[AsyncModelAccessor[Any]]:
    """The accessors named by ``module`` or ``module:attribute``.

    ``module`` alone collects every ``AsyncModelAccessor`` defined at its top level; the
    attribute may be one accessor or a list of them.

    Raises:
        UsageError: the module or attribute cannot be loaded, or holds no accessor.

    """
    module_name, _, attribute = spec.partition(":")
    here = str(Path.cwd())
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken models module is a usage problem, not a crash
        raise UsageError(f"cannot import {module_name!r}: {exc}") from exc
    finally:
        if added:
            sys.path.remove(here)
    if attribute:
        if not hasattr(module, attribute):
            raise UsageError(f"{module_name!r} has no attribute {attribute!r}")
        value = getattr(module, attribute)
        found = list(value) if isinstance(value, (list, tuple)) else [value]
    else:
        found = list(vars(module).values())
    accessors = [a for a in found if isinstance(a, AsyncModelAccessor)]
    if not accessors:
        raise UsageError(f"no AsyncModelAccessor found in {spec!r}")
    return accessors


def _url(path: str) -> str:
    return path if "://" in path else f"sqlite:///{path}"


def _is_file(database: str) -> bool:
    """Whether the argument names a SQLite file (a path or ``sqlite:///`` URL), not a server."""
    return "://" not in database or database.startswith("sqlite")


def _file(database: str) -> str:
    """The file path of a path or ``sqlite:///`` URL argument."""
    return database.split(":///", 1)[1] if database.startswith("sqlite") else database


async def _open(args: argparse.Namespace, *, create: bool = False) -> AsyncDatabase:
    if not create and _is_file(args.database) and not Path(_file(args.database)).exists():
        raise UsageError(f"no database file at {args.database}")
    database = AsyncDatabase(_url(args.database))
    for accessor in load_accessors(args.models) if getattr(args, "models", None) else []:
        database.register(accessor)
    await database.connect()
    if create:
        await database.create_all()
    return database


class _Progress:
    """Progress on stderr: a rich bar when rich is installed, else plain lines."""

    def __init__(self, title: str, quiet: bool) -> None:
        self.title = title
        self.quiet = quiet
        self.rich: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if not self.quiet:
            try:
                from rich.console import Console  # type: ignore[import-not-found, unused-ignore]
                from rich.progress import Progress  # type: ignore[import-not-found, unused-ignore]

                self.rich = Progress(transient=True, console=Console(stderr=True))
                self.rich.__enter__()
            except ImportError:
                self.rich = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rich is not None:
            self.rich.__exit__(*exc)

    def __call__(self, table: str, rows: int) -> None:
        if self.quiet:
            return
        if self.rich is None:
            print(f"{self.title}: {table} {rows} rows", file=sys.stderr)
            return
        if table not in self.tasks:
            self.tasks[table] = self.rich.add_task(f"{self.title} {table}", total=None)
        self.rich.update(self.tasks[table], completed=rows)


def _print(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


async def cmd_export(args: argparse.Namespace) -> int:
    database = await _open(args)
    try:
        with _Progress("export", args.quiet) as progress:
            report = await export_zip(
                database,
                args.output,
                neutralise_formulas=args.neutralise_formulas,
                progress=progress,
            )
    finally:
        await database.close()
    _print(args, f"exported {sum(report.rows.values())} rows to {report.path}")
    return EXIT_OK


async def cmd_import(args: argparse.Namespace) -> int:
    database = await _open(args, create=True)
    try:
        if args.table:
            accessor = database.accessors.get(args.table)
            if accessor is None:
                raise UsageError(f"no accessor for table {args.table!r}")
            report = await import_csv(accessor, args.file, mode=args.mode, actor=args.actor)
        else:
            report = await import_zip(
                database, args.file, mode=args.mode, actor=args.actor, keep_audit=args.keep_audit
            )
    finally:
        await database.close()
    _print(
        args,
        f"imported {sum(report.imported.values())} records ({report.mode}): {report.imported}; "
        f"removed {report.removed}; unchanged {report.unchanged}"
        + (f"; {report.history} audit rows carried over" if report.history else ""),
    )
    return EXIT_OK


async def cmd_backup(args: argparse.Namespace) -> int:
    database = await _open(args)
    try:
        report = await backup(database, args.output, compress=args.compress)
    finally:
        await database.close()
    _print(args, f"backup written to {report.path} ({report.size} bytes, sha256 {report.sha256})")
    return EXIT_OK


async def cmd_restore(args: argparse.Namespace) -> int:
    database = await _open(args)
    try:
        report = await restore(
            database,
            args.file,
            dry_run=args.dry_run,
            integrity_check=not args.no_integrity_check,
            actor=args.actor,
        )
    finally:
        await database.close()
    if report.dry_run:
        _print(args, f"{args.file} passed every check; it would restore {report.tables}")
    else:
        _print(args, f"restored {args.file}; safety backup at {report.safety_backup}")
    return EXIT_OK


async def cmd_check(args: argparse.Namespace) -> int:
    import sqlite3

    if not _is_file(args.database):
        raise UsageError("check inspects SQLite files; a server checks its own databases")
    database = await _open(args)
    try:
        settings = (await database.settings())["writer"]
        path = database.path

        def integrity() -> str:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = connection.execute("PRAGMA integrity_check").fetchall()
                return ", ".join(str(r[0]) for r in rows)
            finally:
                connection.close()

        result = await asyncio.to_thread(integrity) if path else "ok (in memory)"
    finally:
        await database.close()
    wal = Path(f"{path}-wal")
    wal_size = wal.stat().st_size if path and wal.exists() else 0
    if not result.startswith("ok"):
        print(f"vstorage check: integrity: {result}", file=sys.stderr)
        return EXIT_FAILED
    _print(args, f"integrity: {result}")
    for name, value in settings.as_dict().items():
        _print(args, f"{name}: {value}")
    _print(args, f"wal_bytes: {wal_size}")
    return EXIT_OK


async def cmd_diagram(args: argparse.Namespace) -> int:
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.dialects import postgresql

    # Types are named as the database names them.
    dialect: Any = None if _is_file(args.database) else postgresql.dialect()  # type: ignore[no-untyped-call]
    if args.models:
        tables = [a.table for a in load_accessors(args.models)]
    elif _is_file(args.database):
        if not Path(_file(args.database)).exists():
            raise UsageError(f"no database file at {args.database}")
        engine = create_engine(_url(args.database))
        metadata = MetaData()
        try:
            metadata.reflect(engine)
        finally:
            engine.dispose()
        tables = list(metadata.tables.values())
    else:
        tables, dialect = await _server_tables(args)
    text = svg_diagram(tables, dialect) if args.format == "svg" else mermaid_er(tables, dialect)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        _print(args, f"diagram written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


async def _server_tables(args: argparse.Namespace) -> tuple[list[Any], Any]:
    """The tables of a server database's schema, reflected, and the server's dialect."""
    from sqlalchemy import MetaData

    database = await _open(args)
    try:
        metadata = MetaData()
        async with database.read() as session:
            connection = await session.connection()
            await connection.run_sync(lambda sync: metadata.reflect(sync))
        return list(metadata.tables.values()), database.dialect
    finally:
        await database.close()


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
        from starlette.applications import Starlette

        from vstorage.web import bootstrap
    except ImportError as exc:
        raise UsageError("serve needs the web extra: pip install 'vstorage[web]'") from exc
    app = Starlette()
    bootstrap(app, accessors=load_accessors(args.models), database_url=_url(args.database))
    uvicorn.run(app, host=args.host, port=args.port)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="vstorage",
        description="Export, import, back up, restore, check, draw and serve a vstorage "
        "SQLite database. Exit codes: 0 success, 1 failed, 2 bad usage.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, models: str | None) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument(
            "database", help="the SQLite file, or a sqlite:/// or postgresql+asyncpg:// URL"
        )
        if models == "required":
            sub.add_argument(
                "--models",
                required=True,
                metavar="MODULE[:ATTR]",
                help="where the app's AsyncModelAccessor objects are defined",
            )
        elif models == "optional":
            sub.add_argument(
                "--models",
                metavar="MODULE[:ATTR]",
                help="the app's accessors (default: read the tables from the file)",
            )
        return sub

    sub = command(
        "export", "Export every table and the audit trail to a zip of CSV files.", "required"
    )
    sub.add_argument("-o", "--output", required=True, help="the zip file to write")
    sub.add_argument(
        "--neutralise-formulas",
        action="store_true",
        help="quote cells that spreadsheets would run as formulas",
    )
    sub.set_defaults(run=cmd_export)

    sub = command("import", "Import a zip made by export, or one table's CSV file.", "required")
    sub.add_argument("file", help="the .zip (or .csv with --table) to import")
    sub.add_argument("--mode", choices=MODES, default="append")
    sub.add_argument("--table", help="import one CSV file into this table")
    sub.add_argument("--actor", default="cli", help="the actor of the audit rows")
    sub.add_argument(
        "--keep-audit",
        action="store_true",
        help="also append the archive's audit trail (when moving a database)",
    )
    sub.set_defaults(run=cmd_import)

    sub = command("backup", "Write a consistent copy of the live database.", None)
    sub.add_argument("output", help="the backup file")
    sub.add_argument("--compress", action="store_true", help="gzip the backup")
    sub.set_defaults(run=cmd_backup)

    sub = command("restore", "Check a backup file, then restore it through the writer.", "required")
    sub.add_argument("file", help="the SQLite backup to restore")
    sub.add_argument("--dry-run", action="store_true", help="check and report only")
    sub.add_argument(
        "--no-integrity-check",
        action="store_true",
        help="skip PRAGMA integrity_check of the backup (not recommended)",
    )
    sub.add_argument("--actor", default="cli", help="the actor of the audit row")
    sub.set_defaults(run=cmd_restore)

    sub = command("check", "Integrity check, pragmas in force and WAL size.", None)
    sub.set_defaults(run=cmd_check)

    sub = command("diagram", "Draw the schema as SVG or Mermaid ER text.", "optional")
    sub.add_argument("--format", choices=("svg", "mermaid"), default="svg")
    sub.add_argument("-o", "--output", help="write here instead of standard output")
    sub.set_defaults(run=cmd_diagram)

    sub = command(
        "serve", "Serve the CRUD and /db routes over HTTP (needs the web extra).", "required"
    )
    sub.add_argument("--host", default="127.0.0.1")
    sub.add_argument("--port", type=int, default=8000)
    sub.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or bad usage (argparse printed why)
        return int(exc.code or 0)
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int] | int] = args.run
    try:
        result = run(args)
        if asyncio.iscoroutine(result):
            return int(asyncio.run(result))
        return int(result)
    except UsageError as exc:
        print(f"vstorage {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (VStorageError, OSError) as exc:
        print(f"vstorage {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
