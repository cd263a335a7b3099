"""The CRUD routes of one accessor, mounted at ``/{component}``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vstorage.accessor import AsyncModelAccessor, use_actor
from vstorage.errors import ValidationError
from vstorage.web._body import read_json, record_body
from vstorage.web._context import ActorResolver, Permission, Policy, header_actor
from vstorage.web._query import parse_bool, parse_int, parse_list_query
from vstorage.web._responses import HTTPError, JSONResponse, as_http_error, error_response

Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(endpoint: Endpoint) -> Endpoint:
    """Answer every error of ``endpoint`` with the standard JSON error body."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            return error_response(as_http_error(exc))

    return wrapper


class CrudEndpoints:
    """The endpoints of one accessor; see :func:`crud_routes`."""

    def __init__(
        self,
        accessor: AsyncModelAccessor[Any],
        *,
        max_records: int | None,
        default_limit: int,
        max_limit: int,
        max_body_bytes: int,
        max_batch: int,
        policy: Policy,
    ) -> None:
        self.accessor = accessor
        self.max_records = max_records
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.max_body_bytes = max_body_bytes
        self.max_batch = max_batch
        self.policy = policy

    # -- helpers ---------------------------------------------------------------------------

    def _record(self, obj: Any) -> dict[str, Any]:
        return self.accessor.to_dict(obj)

    def _key(self, request: Request) -> Any:
        return self.accessor.parse_key(request.path_params["id"])

    def _flag(self, request: Request, name: str) -> bool:
        raw = request.query_params.get(name)
        return False if raw is None else parse_bool(name, raw)

    def _only(self, request: Request, *allowed: str) -> None:
        unknown = [name for name in request.query_params if name not in allowed]
        if unknown:
            raise ValidationError.single(unknown[0], "unknown query parameter", "unknown_field")

    def _missing(self, key: Any) -> HTTPError:
        return HTTPError(404, "not_found", f"no {self.accessor.component} record {key}")

    async def _mutation(self, request: Request) -> str:
        await self.policy.allow(request, "write")
        return await self.policy.actor(request)

    # -- endpoints -------------------------------------------------------------------------

    async def list_records(self, request: Request) -> Response:
        """``GET /{component}``: a page of records and the total count."""
        await self.policy.allow(request, "read")
        query = parse_list_query(
            self.accessor,
            list(request.query_params.multi_items()),
            default_limit=self.default_limit,
            max_limit=self.max_limit,
        )
        items, total = await self.accessor.page(
            *query.conditions,
            include_deleted=query.include_deleted,
            limit=query.limit,
            offset=query.offset,
            order_by=query.order_by,
            order_desc=query.order_desc,
        )
        body = {
            "items": [self._record(item) for item in items],
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }
        return JSONResponse(body)

    async def get(self, request: Request) -> Response:
        """``GET /{component}/{id}``."""
        await self.policy.allow(request, "read")
        self._only(request, "include_deleted")
        key = self._key(request)
        found = await self.accessor.get(key, include_deleted=self._flag(request, "include_deleted"))
        if found is None:
            raise self._missing(key)
        return JSONResponse(self._record(found))

    async def create(self, request: Request) -> Response:
        """``POST /{component}``: 201 with the stored record."""
        actor = await self._mutation(request)
        self._only(request)
        body = await read_json(request, self.max_body_bytes)
        values = record_body(self.accessor, body, allow_key=not self.accessor.generated_key)
        with use_actor(actor):
            stored = await self.accessor.insert(values, max_records=self.max_records)
        return JSONResponse(self._record(stored), status_code=201)

    async def replace(self, request: Request) -> Response:
        """``PUT /{component}/{id}``: every field replaced; ``deleted_at`` untouched."""
        actor = await self._mutation(request)
        self._only(request)
        key = self._key(request)
        body = await read_json(request, self.max_body_bytes)
        values = record_body(self.accessor, body, allow_key=False)
        with use_actor(actor):
            updated = await self.accessor.replace(key, values)
        if updated is None:
            raise self._missing(key)
        return JSONResponse(self._record(updated))

    async def patch(self, request: Request) -> Response:
        """``PATCH /{component}/{id}``: the given fields changed."""
        actor = await self._mutation(request)
        self._only(request)
        key = self._key(request)
        values = record_body(
            self.accessor, await read_json(request, self.max_body_bytes), allow_key=False
        )
        with use_actor(actor):
            updated = await self.accessor.update(key, **values)
        if updated is None:
            raise self._missing(key)
        return JSONResponse(self._record(updated))

    async def delete(self, request: Request) -> Response:
        """``DELETE /{component}/{id}``: 204, or 404 when missing or already deleted."""
        actor = await self._mutation(request)
        self._only(request)
        key = self._key(request)
        with use_actor(actor):
            deleted = await self.accessor.delete(key)
        if not deleted:
            raise self._missing(key)
        return Response(status_code=204)

    async def restore(self, request: Request) -> Response:
        """``POST /{component}/{id}/restore``: the restored record, or 404."""
        actor = await self._mutation(request)
        self._only(request)
        key = self._key(request)
        with use_actor(actor):
            restored = await self.accessor.restore(key, max_records=self.max_records)
        if not restored:
            raise HTTPError(404, "not_found", f"no deleted {self.accessor.component} record {key}")
        found = await self.accessor.get(key)
        if found is None:
            raise self._missing(key)
        return JSONResponse(self._record(found))

    async def create_many(self, request: Request) -> Response:
        """``POST /{component}/batch``: a JSON array of records, all or nothing."""
        actor = await self._mutation(request)
        self._only(request)
        body = await read_json(request, self.max_body_bytes)
        if not isinstance(body, list):
            raise ValidationError.single("body", "must be a JSON array", "type_error")
        if len(body) > self.max_batch:
            raise HTTPError(413, "payload_too_large", f"at most {self.max_batch} records")
        allow_key = not self.accessor.generated_key
        records = [
            record_body(self.accessor, item, allow_key=allow_key, where=str(index))
            for index, item in enumerate(body)
        ]
        with use_actor(actor):
            stored = await self.accessor.insert_many(records, max_records=self.max_records)
        return JSONResponse([self._record(item) for item in stored], status_code=201)

    async def delete_many(self, request: Request) -> Response:
        """``POST /{component}/batch/delete`` with ``{"ids": [...]}``: the count deleted."""
        actor = await self._mutation(request)
        self._only(request)
        body = await read_json(request, self.max_body_bytes)
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list) or len(body) != 1:
            raise ValidationError.single("ids", 'the body must be {"ids": [...]}', "type_error")
        if len(body["ids"]) > self.max_batch:
            raise HTTPError(413, "payload_too_large", f"at most {self.max_batch} ids")
        with use_actor(actor):
            count = await self.accessor.delete_many(body["ids"])
        return JSONResponse({"deleted": count})

    async def history(self, request: Request) -> Response:
        """``GET /{component}/{id}/history``: the record's audit trail, newest first."""
        await self.policy.allow(request, "read")
        self._only(request, "limit", "offset")
        key = self._key(request)
        params = request.query_params
        limit = parse_int(
            "limit", params.get("limit", str(self.default_limit)), low=0, high=self.max_limit
        )
        offset = parse_int("offset", params.get("offset", "0"), low=0, high=2**62)
        entries = await self.accessor.database.read_audit(
            component=self.accessor.component, record_id=key, limit=limit, offset=offset
        )
        return JSONResponse(
            {"items": [entry_dict(e) for e in entries], "limit": limit, "offset": offset}
        )

    def routes(self) -> list[Route]:
        """The routes, in matching order."""
        base, name = f"/{self.accessor.component}", self.accessor.component
        table: list[tuple[str, Endpoint, str, str]] = [
            ("", self.list_records, "GET", "list"),
            ("", self.create, "POST", "create"),
            ("/batch", self.create_many, "POST", "create_many"),
            ("/batch/delete", self.delete_many, "POST", "delete_many"),
            ("/{id}", self.get, "GET", "get"),
            ("/{id}", self.replace, "PUT", "replace"),
            ("/{id}", self.patch, "PATCH", "patch"),
            ("/{id}", self.delete, "DELETE", "delete"),
            ("/{id}/restore", self.restore, "POST", "restore"),
            ("/{id}/history", self.history, "GET", "history"),
        ]
        if not self.accessor.soft_delete:
            table = [entry for entry in table if entry[3] != "restore"]
        return [
            Route(base + path, guarded(endpoint), methods=[method], name=f"{name}:{action}")
            for path, endpoint, method, action in table
        ]


def entry_dict(entry: Any) -> dict[str, Any]:
    """An audit entry as a JSON object."""
    return {
        "id": entry.id,
        "timestamp": entry.timestamp,
        "component": entry.component,
        "record_id": entry.record_id,
        "operation": entry.operation,
        "actor": entry.actor,
        "before": entry.before,
        "after": entry.after,
    }


def crud_routes(
    accessor: AsyncModelAccessor[Any],
    *,
    max_records: int | None = None,
    default_limit: int = 50,
    max_limit: int = 1000,
    max_body_bytes: int = 1024 * 1024,
    max_batch: int = 1000,
    actor_resolver: ActorResolver = header_actor,
    default_actor: str | None = None,
    permission: Permission | None = None,
) -> list[Route]:
    """The CRUD routes of ``accessor``, at ``/{component}``.

    Everything goes through the accessor, so validation, hooks and audit apply. Add the routes
    to a Starlette app's routes, or to ``app.router.routes`` of a FastAPI app.

    Args:
        accessor: the accessor to expose.
        max_records: refuse creation (409) beyond this many live records, checked inside the
            write transaction.
        default_limit: page size when ``limit`` is not given.
        max_limit: the largest ``limit`` accepted.
        max_body_bytes: larger bodies are refused with 413.
        max_batch: most records in one batch request.
        actor_resolver: finds the actor of a request (default: the ``X-User`` header).
        default_actor: the actor when none is found; without it mutations get 400.
        permission: ``permission(request, action) -> bool`` (sync or async); ``action`` is
            ``"read"`` or ``"write"``; False gives 403.

    Raises:
        ConfigurationError: bad limits.

    Example:
        >>> app = Starlette(routes=crud_routes(recipes, max_records=500))

    """
    from vstorage.errors import ConfigurationError

    if not 0 < default_limit <= max_limit or max_body_bytes < 1 or max_batch < 1:
        raise ConfigurationError("limits must be positive and default_limit <= max_limit")
    endpoints = CrudEndpoints(
        accessor,
        max_records=max_records,
        default_limit=default_limit,
        max_limit=max_limit,
        max_body_bytes=max_body_bytes,
        max_batch=max_batch,
        policy=Policy(actor_resolver, default_actor, permission),
    )
    return endpoints.routes()
