"""Per-request policy: who the actor is, and whether the request is allowed."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from vstorage.accessor._actor import _actor, ambient_actor, check_actor
from vstorage.errors import ValidationError
from vstorage.web._responses import HTTPError

ActorResolver = Callable[[HTTPConnection], "str | Awaitable[str | None] | None"]
Permission = Callable[[Request, str], "bool | Awaitable[bool]"]


def header_actor(connection: HTTPConnection) -> str | None:
    """The default actor resolver: the ``X-User`` request header, read as UTF-8.

    Raises:
        HTTPError: 400 when the header is not valid UTF-8.

    """
    value = connection.headers.get("x-user")
    if value is None:
        return None
    # ASGI servers hand headers over as latin-1; clients send UTF-8 names.
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise HTTPError(400, "invalid_actor", "the X-User header is not valid UTF-8") from None


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def resolve(resolver: ActorResolver, connection: HTTPConnection) -> str | None:
    """Run ``resolver``; an invalid actor (empty, too long) is a client error.

    Raises:
        HTTPError: 400 when the resolver returned an unusable actor.

    """
    actor = await _maybe_await(resolver(connection))
    if actor is None:
        return None
    try:
        return check_actor(actor)
    except ValidationError:
        raise HTTPError(400, "invalid_actor", "the actor must be 1 to 200 characters") from None


class ActorMiddleware:
    """Pure ASGI middleware: the request's actor becomes the ambient actor of the request.

    Accessor calls anywhere in the request (routes, hooks, your own endpoints) are then audited
    under that actor without passing it by hand. Being pure ASGI, the context variable it sets
    is visible to the endpoint (``BaseHTTPMiddleware`` would run it in another context).

    Args:
        app: the wrapped ASGI app.
        resolver: ``resolver(connection) -> str | None`` (sync or async); default ``X-User``.
        default_actor: the actor when the resolver finds none; ``None`` leaves it unset, so
            vstorage's routes refuse mutations with 400.

    """

    def __init__(
        self,
        app: ASGIApp,
        resolver: ActorResolver = header_actor,
        default_actor: str | None = None,
    ) -> None:
        self.app = app
        self.resolver = resolver
        self.default_actor = None if default_actor is None else check_actor(default_actor)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            actor = await resolve(self.resolver, HTTPConnection(scope)) or self.default_actor
        except HTTPError:
            # Reads need no actor; vstorage's mutation routes resolve it again and answer 400.
            actor = self.default_actor
        token = _actor.set(actor)
        try:
            await self.app(scope, receive, send)
        finally:
            _actor.reset(token)


@dataclass(frozen=True)
class Policy:
    """How routes find the actor and check permissions."""

    resolver: ActorResolver = header_actor
    default_actor: str | None = None
    permission: Permission | None = None

    async def allow(self, request: Request, action: str) -> None:
        """Raise 403 unless the permission hook allows ``action``.

        Raises:
            HTTPError: 403.

        """
        if self.permission is not None and not await _maybe_await(self.permission(request, action)):
            raise HTTPError(403, "forbidden", f"not allowed to {action}")

    async def actor(self, request: Request) -> str:
        """The actor of a mutation: middleware, resolver, then the default.

        Raises:
            HTTPError: 400 when no actor is known and no default is configured.

        """
        actor = await resolve(self.resolver, request) or ambient_actor() or self.default_actor
        if actor is None:
            raise HTTPError(
                400, "actor_required", "mutations need an actor (send the X-User header)"
            )
        return actor
