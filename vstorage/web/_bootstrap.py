"""One call that sets an app up: database in the lifespan, routes, actor middleware, OpenAPI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vstorage.accessor import AsyncModelAccessor
from vstorage.database import AsyncDatabase
from vstorage.errors import ConfigurationError
from vstorage.web._context import ActorMiddleware, ActorResolver, Permission, header_actor
from vstorage.web._crud import crud_routes
from vstorage.web._db import db_routes
from vstorage.web._openapi import openapi_document
from vstorage.web._responses import JSONResponse


def bootstrap(
    app: Starlette,
    *,
    accessors: Iterable[AsyncModelAccessor[Any]],
    database_url: str = "sqlite:///./vstorage.db",
    database: AsyncDatabase | None = None,
    create_tables: bool = True,
    max_records_per_model: int | None = None,
    enable_db_router: bool = True,
    actor_resolver: ActorResolver = header_actor,
    default_actor: str | None = None,
    permission: Permission | None = None,
    db_permission: Permission | None = None,
    safety_backup_dir: str | Path | None = None,
    **database_options: Any,
) -> AsyncDatabase:
    """Give a Starlette or FastAPI app its storage, in one call, before it starts.

    The database opens in the app's lifespan (tables created when ``create_tables``) and
    closes, drained, on shutdown. Every accessor gets its CRUD routes at ``/{component}``;
    ``/db`` gets health, audit and diagram routes; ``GET /openapi.json`` describes them (on a
    FastAPI app they are merged into FastAPI's own document). The actor of each request (the
    ``X-User`` header by default) becomes the ambient actor, so it reaches hooks and audit rows.

    Args:
        app: the Starlette or FastAPI application (not started yet).
        accessors: the accessors to register and expose.
        database_url: used when ``database`` is not given (SQLite or PostgreSQL).
        database: an ``AsyncDatabase`` to use instead of creating one.
        create_tables: create missing tables on startup.
        max_records_per_model: refuse creation (409) beyond this many live records per model.
        enable_db_router: add the ``/db`` routes.
        actor_resolver: ``resolver(connection) -> str | None``; default the ``X-User`` header.
        default_actor: the actor when none is found; without it mutations get 400.
        permission: ``permission(request, action) -> bool`` for the CRUD routes.
        db_permission: the same for ``/db`` (defaults to ``permission``); protect ``/db`` in
            production.
        safety_backup_dir: where ``/db/restore`` keeps its safety backup (see ``db_routes``).
        **database_options: passed to ``AsyncDatabase`` (``readers``, ``synchronous``, ...).

    Returns:
        The database (open while the app runs).

    Raises:
        ConfigurationError: bad URL, option, limit or default actor, or database options given
            together with ``database``.

    Example:
        >>> app = FastAPI()
        >>> db = bootstrap(app, accessors=[recipes], database_url="sqlite:///./machine.db")

    """
    accessors = list(accessors)
    if default_actor is not None and not (isinstance(default_actor, str) and default_actor.strip()):
        raise ConfigurationError("default_actor must be a non-empty string")
    if max_records_per_model is not None and max_records_per_model < 0:
        raise ConfigurationError("max_records_per_model must be >= 0")
    if database is None:
        database = AsyncDatabase(database_url, **database_options)
    elif database_options:
        raise ConfigurationError("give database options to the AsyncDatabase, not to bootstrap")
    for accessor in accessors:
        database.register(accessor)
    routes = app.router.routes
    for accessor in accessors:
        routes.extend(
            crud_routes(
                accessor,
                max_records=max_records_per_model,
                actor_resolver=actor_resolver,
                default_actor=default_actor,
                permission=permission,
            )
        )
    if enable_db_router:
        routes.extend(
            db_routes(
                database,
                permission=db_permission or permission,
                actor_resolver=actor_resolver,
                default_actor=default_actor,
                safety_backup_dir=safety_backup_dir,
            )
        )
    _add_openapi(app, openapi_document(accessors, include_db=enable_db_router))
    app.add_middleware(ActorMiddleware, resolver=actor_resolver, default_actor=default_actor)
    _wrap_lifespan(app, database, create_tables)
    return database


def _add_openapi(app: Starlette, document: dict[str, Any]) -> None:
    fastapi_openapi: Callable[[], dict[str, Any]] | None = getattr(app, "openapi", None)
    if fastapi_openapi is None:

        async def openapi(request: Request) -> Response:
            return JSONResponse(document)

        app.router.routes.append(Route("/openapi.json", openapi, methods=["GET"]))
        return

    def merged() -> dict[str, Any]:
        schema = fastapi_openapi()
        schema.setdefault("paths", {}).update(document["paths"])
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(document["components"]["schemas"])
        return schema

    app.openapi = merged  # type: ignore[attr-defined]


def _wrap_lifespan(app: Starlette, database: AsyncDatabase, create_tables: bool) -> None:
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with database:
            if create_tables:
                await database.create_all()
            async with inner(app_) as state:
                yield state

    app.router.lifespan_context = lifespan
