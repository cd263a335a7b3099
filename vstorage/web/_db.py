"""The ``/db`` routes: health, audit, diagram, export, import, backup and restore.

Protect ``/db`` in production with the ``permission`` hook: it exposes every record and the
whole audit trail, and ``import``/``restore`` replace data (actions ``db.read`` and
``db.admin``).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from vstorage.database import AsyncDatabase
from vstorage.database._audit import audit_table
from vstorage.errors import ConfigurationError, ValidationError
from vstorage.io.backup import backup, restore
from vstorage.io.diagram import mermaid_er, svg_diagram
from vstorage.io.export import export_zip
from vstorage.io.importer import MODES, Mode, import_csv, import_zip
from vstorage.web._context import ActorResolver, Permission, Policy, header_actor
from vstorage.web._crud import entry_dict, guarded
from vstorage.web._query import parse_bool, parse_int
from vstorage.web._responses import JSONResponse
from vstorage.web._upload import save_upload

_AUDIT_PARAMS = (
    "component",
    "record_id",
    "actor",
    "operation",
    "since",
    "until",
    "limit",
    "offset",
)


def _instant(name: str, raw: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError.single(name, "must be an ISO 8601 date-time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _file_size(path: str | None) -> int | None:
    if path is None:
        return None
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class DbEndpoints:
    """The endpoints of :func:`db_routes`."""

    def __init__(
        self,
        database: AsyncDatabase,
        *,
        policy: Policy,
        default_limit: int,
        max_limit: int,
        max_upload_bytes: int,
        safety_backup_dir: str | Path | None = None,
    ) -> None:
        self.database = database
        self.safety_backup_dir = safety_backup_dir
        self.policy = policy
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.max_upload_bytes = max_upload_bytes

    def _options(self, request: Request, **allowed: bool) -> dict[str, bool]:
        """Boolean query options with their defaults; anything else is refused."""
        options = dict(allowed)
        for name, raw in request.query_params.items():
            if name not in allowed:
                raise ValidationError.single(name, "unknown query parameter", "unknown_field")
            options[name] = parse_bool(name, raw)
        return options

    async def export(self, request: Request) -> Response:
        """``GET /db/export.zip``: every table as CSV, from one snapshot."""
        await self.policy.allow(request, "db.admin")
        options = self._options(request, neutralise_formulas=False)
        path = _temporary(".zip")
        try:
            await export_zip(
                self.database, path, neutralise_formulas=options["neutralise_formulas"]
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _download(path, "export.zip", "application/zip")

    async def backup(self, request: Request) -> Response:
        """``GET /db/backup.sqlite``: a consistent copy of the live database.

        On PostgreSQL the body is a ``pg_dump`` custom-format archive (``backup.dump``).
        """
        await self.policy.allow(request, "db.admin")
        options = self._options(request, compress=False)
        if self.database.dialect_name == "sqlite":
            suffix, media = ".sqlite", "application/vnd.sqlite3"
        else:
            suffix, media = ".dump", "application/octet-stream"
        if options["compress"]:
            suffix, media = f"{suffix}.gz", "application/gzip"
        path = _temporary(suffix)
        try:
            await backup(self.database, path, compress=options["compress"])
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _download(path, f"backup{suffix}", media)

    async def import_data(self, request: Request) -> Response:
        """``POST /db/import?mode=&table=``: a zip made by export, or one table's CSV."""
        await self.policy.allow(request, "db.admin")
        actor = await self.policy.actor(request)
        params = request.query_params
        unknown = [name for name in params if name not in ("mode", "table")]
        if unknown:
            raise ValidationError.single(unknown[0], "unknown query parameter", "unknown_field")
        mode = params.get("mode", "append")
        if mode not in MODES:
            raise ValidationError.single("mode", f"must be one of {', '.join(MODES)}")
        chosen: Mode = mode  # type: ignore[assignment]
        table = params.get("table")
        accessor = None
        if table is not None:
            accessor = self.database.accessors.get(table)
            if accessor is None:
                raise ValidationError.single("table", f"unknown table {table!r}", "unknown_field")
        path = await save_upload(request, self.max_upload_bytes, ".csv" if table else ".zip")
        try:
            if accessor is not None:
                report = await import_csv(
                    accessor, path, mode=chosen, actor=actor, name=f"{table}.csv"
                )
            else:
                report = await import_zip(self.database, path, mode=chosen, actor=actor)
        finally:
            path.unlink(missing_ok=True)
        body = {
            "mode": report.mode,
            "imported": report.imported,
            "removed": report.removed,
            "unchanged": report.unchanged,
        }
        return JSONResponse(body)

    async def restore(self, request: Request) -> Response:
        """``POST /db/restore?dry_run=&integrity_check=``: checked, then through the writer."""
        await self.policy.allow(request, "db.admin")
        actor = await self.policy.actor(request)
        options = self._options(request, dry_run=False, integrity_check=True)
        path = await save_upload(request, self.max_upload_bytes, ".sqlite")
        try:
            report = await restore(
                self.database,
                path,
                dry_run=options["dry_run"],
                integrity_check=options["integrity_check"],
                actor=actor,
                safety_backup_dir=self.safety_backup_dir,
            )
        finally:
            path.unlink(missing_ok=True)
        body = {
            "dry_run": report.dry_run,
            "restored": report.restored,
            "source_sha256": report.source_sha256,
            "tables": report.tables,
            "safety_backup": None if report.safety_backup is None else str(report.safety_backup),
        }
        return JSONResponse(body)

    async def health(self, request: Request) -> Response:
        """``GET /db/health``: the writer's state, and what the live connections report.

        SQLite: pragmas read from the writer and a reader, file and WAL sizes. PostgreSQL:
        the server version, the schema and both pools.
        """
        await self.policy.allow(request, "db.read")
        database = self.database
        stats = database.stats()
        writer = {
            "queue_depth": stats.queue_depth,
            "transactions": stats.transactions,
            "jobs": stats.jobs,
            "last_commit_seconds": stats.last_commit_seconds,
            "last_group_size": stats.last_group_size,
            "connections": stats.connections,
            "active": stats.active,
        }
        if database.dialect_name != "sqlite":
            server = await database.server_info()  # really asks the server
            return JSONResponse(
                {
                    "status": "ok",
                    "backend": server.pop("backend"),
                    "server": server,
                    "writer": writer,
                }
            )
        settings = await database.settings()  # really touches the writer and a reader
        path = database.path
        body: dict[str, Any] = {
            "status": "ok",
            "backend": "sqlite",
            "database": {
                "path": path,
                "size_bytes": _file_size(path),
                "wal_bytes": _file_size(None if path is None else f"{path}-wal"),
            },
            "writer": writer,
            "pragmas": {name: value.as_dict() for name, value in settings.items()},
        }
        return JSONResponse(body)

    async def audit(self, request: Request) -> Response:
        """``GET /db/audit``: audit rows newest first, filtered, with a capped limit."""
        await self.policy.allow(request, "db.read")
        params = request.query_params
        unknown = [name for name in params if name not in _AUDIT_PARAMS]
        if unknown:
            raise ValidationError.single(unknown[0], "unknown query parameter", "unknown_field")
        limit = parse_int(
            "limit", params.get("limit", str(self.default_limit)), low=0, high=self.max_limit
        )
        offset = parse_int("offset", params.get("offset", "0"), low=0, high=2**62)
        since = params.get("since")
        until = params.get("until")
        entries = await self.database.read_audit(
            component=params.get("component"),
            record_id=params.get("record_id"),
            actor=params.get("actor"),
            operation=params.get("operation"),
            since=None if since is None else _instant("since", since),
            until=None if until is None else _instant("until", until),
            limit=limit,
            offset=offset,
        )
        items = [entry_dict(entry) for entry in entries]
        return JSONResponse({"items": items, "limit": limit, "offset": offset})

    def _tables(self) -> list[Any]:
        return [*self.database.tables.values(), audit_table]

    async def diagram_svg(self, request: Request) -> Response:
        """``GET /db/diagram.svg``: the schema as SVG."""
        await self.policy.allow(request, "db.read")
        return Response(
            svg_diagram(self._tables(), self.database.dialect), media_type="image/svg+xml"
        )

    async def diagram_mermaid(self, request: Request) -> Response:
        """``GET /db/diagram.mmd``: the schema as Mermaid ER text."""
        await self.policy.allow(request, "db.read")
        return Response(
            mermaid_er(self._tables(), self.database.dialect),
            media_type="text/plain; charset=utf-8",
        )

    def routes(self) -> list[Route]:
        """The routes of ``/db``."""
        return [
            Route("/db/health", guarded(self.health), methods=["GET"], name="db:health"),
            Route("/db/audit", guarded(self.audit), methods=["GET"], name="db:audit"),
            Route("/db/diagram.svg", guarded(self.diagram_svg), methods=["GET"], name="db:svg"),
            Route("/db/diagram.mmd", guarded(self.diagram_mermaid), methods=["GET"], name="db:mmd"),
            Route("/db/export.zip", guarded(self.export), methods=["GET"], name="db:export"),
            Route("/db/import", guarded(self.import_data), methods=["POST"], name="db:import"),
            Route("/db/backup.sqlite", guarded(self.backup), methods=["GET"], name="db:backup"),
            Route("/db/restore", guarded(self.restore), methods=["POST"], name="db:restore"),
        ]


def db_routes(
    database: AsyncDatabase,
    *,
    permission: Permission | None = None,
    audit_default_limit: int = 100,
    audit_max_limit: int = 1000,
    max_upload_bytes: int = 256 * 1024 * 1024,
    actor_resolver: ActorResolver = header_actor,
    default_actor: str | None = None,
    safety_backup_dir: str | Path | None = None,
) -> list[Route]:
    """The ``/db`` routes: health, audit, diagrams, export, import, backup and restore.

    ``GET /db/health``, ``/db/audit``, ``/db/diagram.svg`` and ``/db/diagram.mmd`` check the
    action ``"db.read"``; ``GET /db/export.zip``, ``/db/backup.sqlite``, ``POST /db/import``
    and ``/db/restore`` check ``"db.admin"``.

    Args:
        database: the database to serve.
        permission: ``permission(request, action) -> bool``; False gives 403. Protect these
            routes in production: they expose and replace all data.
        audit_default_limit: page size of ``/db/audit`` when ``limit`` is not given.
        audit_max_limit: the largest ``limit`` accepted.
        max_upload_bytes: larger import or restore uploads are refused with 413.
        actor_resolver: finds the actor of an import or restore (default ``X-User``).
        default_actor: the actor when none is found; without it those requests get 400.
        safety_backup_dir: where ``/db/restore`` keeps the safety backup of the live
            database (default: beside a SQLite file; the temporary directory on PostgreSQL).

    Raises:
        ConfigurationError: bad limits.

    Example:
        >>> app = Starlette(routes=db_routes(db, permission=lambda req, action: is_admin(req)))

    """
    if not 0 < audit_default_limit <= audit_max_limit:
        raise ConfigurationError("audit limits must be positive, default <= max")
    endpoints = DbEndpoints(
        database,
        policy=Policy(actor_resolver, default_actor, permission),
        default_limit=audit_default_limit,
        max_limit=audit_max_limit,
        max_upload_bytes=max_upload_bytes,
        safety_backup_dir=safety_backup_dir,
    )
    return endpoints.routes()


def _temporary(suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="vstorage-", suffix=suffix)
    os.close(handle)
    return Path(name)


def _download(path: Path, filename: str, media_type: str) -> FileResponse:
    """Stream ``path`` to the client, then remove it."""
    return FileResponse(
        path,
        media_type=media_type,
        filename=filename,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
