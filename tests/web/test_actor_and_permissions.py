"""The request's actor reaches audit rows and hooks; permission hooks guard routes."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.models import Alarm, Recipe
from tests.web.conftest import Web
from vstorage import AsyncModelAccessor, current_actor
from vstorage.web import ActorMiddleware, bootstrap, crud_routes


async def test_actor_header_reaches_audit_rows_and_hooks(make_web: Any) -> None:
    seen: list[str] = []

    def hooks(recipes: Any, alarms: Any) -> None:
        @recipes.after_insert()
        async def note(session: Any, recipe: Any) -> None:
            seen.append(current_actor())
            await alarms.insert(Alarm(code=f"new {recipe.name}"))

    async with make_web(hooks=hooks) as web:
        response = await web.client.post(
            "/recipes", json={"name": "bolt"}, headers={"X-User": "operator-7"}
        )
        assert response.status_code == 201
        assert seen == ["operator-7"]
        entries = await web.db.read_audit()
        assert {(e.component, e.actor) for e in entries} == {
            ("recipes", "operator-7"),
            ("alarms", "operator-7"),
        }


async def test_custom_resolver_and_default_actor(make_web: Any) -> None:
    async def from_badge(connection: HTTPConnection) -> str | None:
        badge = connection.headers.get("x-badge")
        return None if badge is None else f"badge-{badge}"

    async with make_web(actor_resolver=from_badge, default_actor="line-plc") as web:
        await web.client.post("/alarms", json={"code": "E1"}, headers={"x-badge": "42"})
        await web.client.post("/alarms", json={"code": "E2"})
        actors = [e.actor for e in await web.db.read_audit()]
        assert actors == ["line-plc", "badge-42"]


async def test_actor_too_long_is_400(web: Web) -> None:
    response = await web.client.post("/alarms", json={"code": "E1"}, headers={"X-User": "x" * 300})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_actor"


async def test_middleware_sets_the_actor_for_the_apps_own_endpoints(tmp_path: Any) -> None:
    alarms = AsyncModelAccessor(Alarm, "alarms")

    async def raise_alarm(request: Request) -> JSONResponse:
        alarm = await alarms.insert(Alarm(code="custom"))
        return JSONResponse({"id": alarm.id, "actor": current_actor()})

    app = Starlette(routes=[Route("/raise", raise_alarm, methods=["POST"])])
    db = bootstrap(app, accessors=[alarms], database_url=f"sqlite:///{tmp_path / 'a.db'}")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.post("/raise", headers={"X-User": "bob"})
        assert response.json()["actor"] == "bob"
        assert [e.actor for e in await db.read_audit()] == ["bob"]


async def test_permission_hook_guards_crud_and_db_routes(make_web: Any) -> None:
    def permission(request: Request, action: str) -> bool:
        role = request.headers.get("x-role", "")
        if action.startswith("db."):
            return role == "admin"
        return action == "read" or role in ("admin", "operator")

    async with make_web(permission=permission) as web:
        client = web.client
        assert (await client.get("/recipes")).status_code == 200
        denied = await client.post("/recipes", json={"name": "x"})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        ok = await client.post("/recipes", json={"name": "x"}, headers={"x-role": "operator"})
        assert ok.status_code == 201
        assert (await client.get("/db/health")).status_code == 403
        assert (await client.get("/db/audit", headers={"x-role": "operator"})).status_code == 403
        assert (await client.get("/db/health", headers={"x-role": "admin"})).status_code == 200


async def test_async_permission_and_routes_without_bootstrap(tmp_path: Any) -> None:
    from vstorage import AsyncDatabase

    recipes = AsyncModelAccessor(Recipe, "recipes")

    async def permission(request: Request, action: str) -> bool:
        return request.headers.get("x-key") == "secret"

    app = Starlette(
        routes=crud_routes(recipes, default_actor="kiosk", permission=permission),
        middleware=[],
    )
    async with AsyncDatabase(f"sqlite:///{tmp_path / 'b.db'}") as db:
        db.register(recipes)
        await db.create_all()
        transport = httpx.ASGITransport(app=ActorMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/recipes")).status_code == 403
            created = await client.post("/recipes", json={"name": "a"}, headers={"x-key": "secret"})
            assert created.status_code == 201
        assert [e.actor for e in await db.read_audit()] == ["kiosk"]


async def test_utf8_actor_header_is_read_as_utf8(web: Web) -> None:
    name = "Jürgen Müller 操作员"
    response = await web.client.post(
        "/alarms", json={"code": "E1"}, headers={"X-User": name.encode("utf-8")}
    )
    assert response.status_code == 201
    assert [e.actor for e in await web.db.read_audit()] == [name]
    bad = await web.client.post("/alarms", json={"code": "E2"}, headers={"X-User": b"\xff\xfe"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_actor"
