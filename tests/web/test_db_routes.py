"""/db: health really touches the database; audit filters; diagrams; OpenAPI."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

from tests.web.conftest import Web


async def test_health_reports_live_pragmas_queue_and_wal(web: Web) -> None:
    await web.client.post("/alarms", json={"code": "E1"})
    body = (await web.client.get("/db/health")).json()
    assert body["status"] == "ok"
    if web.db.dialect_name == "postgresql":
        assert body["backend"] == "postgresql"
        assert body["server"]["version"].split(".")[0].isdigit()
        assert body["server"]["schema"] == web.db.schema
        assert body["server"]["writer_pool"] == {"size": 8, "active": 0, "waiting": 0}
        assert body["server"]["reader_pool"]["size"] == 4
        assert body["writer"]["connections"] == 8 and body["writer"]["jobs"] >= 1
        return
    assert body["backend"] == "sqlite"
    assert body["pragmas"]["writer"]["journal_mode"] == "wal"
    assert body["pragmas"]["reader"]["query_only"] is True
    assert body["pragmas"]["writer"]["synchronous"] == "full"
    assert body["writer"]["jobs"] >= 1 and body["writer"]["queue_depth"] == 0
    assert body["writer"]["last_commit_seconds"] >= 0
    assert body["database"]["size_bytes"] > 0 and body["database"]["wal_bytes"] >= 0


async def test_audit_filters_and_capped_limit(web: Web) -> None:
    for code in ("E1", "E2"):
        await web.client.post("/alarms", json={"code": code}, headers={"X-User": "alice"})
    await web.client.post("/recipes", json={"name": "r"}, headers={"X-User": "bob"})
    get = web.client.get
    assert len((await get("/db/audit")).json()["items"]) == 3
    assert len((await get("/db/audit", params={"actor": "alice"})).json()["items"]) == 2
    recipes = (await get("/db/audit", params={"component": "recipes"})).json()["items"]
    assert [e["actor"] for e in recipes] == ["bob"]
    page = (await get("/db/audit", params={"limit": 1, "offset": 1})).json()
    assert len(page["items"]) == 1 and page["limit"] == 1
    assert (await get("/db/audit", params={"limit": 5000})).status_code == 422
    stamp = dt.datetime.fromisoformat(recipes[0]["timestamp"])
    later = (stamp + dt.timedelta(microseconds=1)).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    newer = (await get("/db/audit", params={"since": later.isoformat()})).json()["items"]
    assert newer == []
    local = stamp.astimezone(dt.timezone(dt.timedelta(hours=9))).isoformat()
    assert len((await get("/db/audit", params={"since": local})).json()["items"]) == 1
    assert (await get("/db/audit", params={"since": "yesterday"})).status_code == 422
    assert (await get("/db/audit", params={"colour": "red"})).status_code == 422


async def test_diagrams(web: Web) -> None:
    svg = await web.client.get("/db/diagram.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.text)
    tables = {g.get("data-table") for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert {"recipes", "alarms", "runs", "measurements", "vstorage_audit"} <= tables
    links = [p.get("data-from") for p in root.iter("{http://www.w3.org/2000/svg}path")]
    assert "runs.recipe_id" in links
    mermaid = (await web.client.get("/db/diagram.mmd")).text
    assert mermaid.startswith("erDiagram")
    assert 'recipes ||--o{ runs : "recipe_id"' in mermaid
    assert "INTEGER id PK" in mermaid


async def test_openapi_document_describes_every_route(web: Web, kind: str) -> None:
    document: dict[str, Any] = (await web.client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in [
        "/recipes",
        "/recipes/{id}",
        "/recipes/batch",
        "/recipes/{id}/restore",
        "/recipes/{id}/history",
        "/db/health",
        "/db/audit",
        "/db/diagram.svg",
    ]:
        assert path in paths, path
    schemas = document["components"]["schemas"]
    create = schemas["RecipeCreate"]
    assert "id" not in create["properties"] and "deleted_at" not in create["properties"]
    assert create["required"] == ["name"] and create["additionalProperties"] is False
    assert set(schemas["Recipe"]["properties"]) == {"id", "name", "speed", "note", "deleted_at"}
    assert "Mode" in schemas  # the Enum of Measurement, hoisted into components
    refs = _refs(document)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


async def test_diagrams_name_types_as_the_database_does(web: Web) -> None:
    svg = (await web.client.get("/db/diagram.svg")).text
    mermaid = (await web.client.get("/db/diagram.mmd")).text
    if web.db.dialect_name == "postgresql":
        assert "timestamp : TIMESTAMP WITH TIME ZONE" in svg and "JSONB" in svg
        assert "JSONB after" in mermaid
    else:
        assert "timestamp : DATETIME" in svg and "JSONB" not in svg
        assert "TEXT after" in mermaid
