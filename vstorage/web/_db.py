"""The ``/db`` routes: health, audit trail and schema diagram.

Room is left under ``/db`` for export, import, backup and restore. Protect ``/db`` in
production with the ``permission`` hook: it exposes the whole audit trail, and later routes
under it change the whole database.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vstorage.database import AsyncDatabase
from vstorage.database._audit import audit_table
from vstorage.errors import ConfigurationError, ValidationError
from vstorage.io.diagram import mermaid_er, svg_diagram
from vstorage.web._context import Permission, Policy
from vstorage.web._crud import entry_dict, guarded
from vstorage.web._query import parse_int
from vstorage.web._responses import JSONResponse

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
        self, database: AsyncDatabase, *, policy: Policy, default_limit: int, max_limit: int
    ) -> None:
        self.database = database
        self.policy = policy
        self.default_limit = default_limit
        self.max_limit = max_limit

    async def health(self, request: Request) -> Response:
        """``GET /db/health``: pragmas read from live connections, writer queue and WAL size."""
        await self.policy.allow(request, "db.read")
        database = self.database
        settings = await database.settings()  # really touches the writer and a reader
        stats = database.stats()
        path = database.path
        body: dict[str, Any] = {
            "status": "ok",
            "database": {
                "path": path,
                "size_bytes": _file_size(path),
                "wal_bytes": _file_size(None if path is None else f"{path}-wal"),
            },
            "writer": {
                "queue_depth": stats.queue_depth,
                "transactions": stats.transactions,
                "jobs": stats.jobs,
                "last_commit_seconds": stats.last_commit_seconds,
                "last_group_size": stats.last_group_size,
            },
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
        return Response(svg_diagram(self._tables()), media_type="image/svg+xml")

    async def diagram_mermaid(self, request: Request) -> Response:
        """``GET /db/diagram.mmd``: the schema as Mermaid ER text."""
        await self.policy.allow(request, "db.read")
        return Response(mermaid_er(self._tables()), media_type="text/plain; charset=utf-8")

    def routes(self) -> list[Route]:
        """The routes of ``/db``."""
        return [
            Route("/db/health", guarded(self.health), methods=["GET"], name="db:health"),
            Route("/db/audit", guarded(self.audit), methods=["GET"], name="db:audit"),
            Route("/db/diagram.svg", guarded(self.diagram_svg), methods=["GET"], name="db:svg"),
            Route("/db/diagram.mmd", guarded(self.diagram_mermaid), methods=["GET"], name="db:mmd"),
        ]


def db_routes(
    database: AsyncDatabase,
    *,
    permission: Permission | None = None,
    audit_default_limit: int = 100,
    audit_max_limit: int = 1000,
) -> list[Route]:
    """The ``/db`` routes: ``health``, ``audit``, ``diagram.svg`` and ``diagram.mmd``.

    Args:
        database: the database to report on.
        permission: ``permission(request, action) -> bool`` with ``action`` ``"db.read"``;
            False gives 403. Protect these routes in production.
        audit_default_limit: page size of ``/db/audit`` when ``limit`` is not given.
        audit_max_limit: the largest ``limit`` accepted.

    Raises:
        ConfigurationError: bad limits.

    Example:
        >>> app = Starlette(routes=db_routes(db, permission=lambda req, action: is_admin(req)))

    """
    if not 0 < audit_default_limit <= audit_max_limit:
        raise ConfigurationError("audit limits must be positive, default <= max")
    endpoints = DbEndpoints(
        database,
        policy=Policy(permission=permission),
        default_limit=audit_default_limit,
        max_limit=audit_max_limit,
    )
    return endpoints.routes()
