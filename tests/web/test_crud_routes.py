"""Every CRUD route and status code, through the ASGI app, for Starlette and FastAPI."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.web.conftest import Web


async def create(web: Web, **body: Any) -> dict[str, Any]:
    response = await web.client.post("/recipes", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_get_and_list(web: Web) -> None:
    created = await create(web, name="bolt", speed=3)
    assert created["name"] == "bolt" and isinstance(created["id"], int)
    assert created["deleted_at"] is None
    response = await web.client.get(f"/recipes/{created['id']}")
    assert response.status_code == 200 and response.json() == created
    listing = (await web.client.get("/recipes")).json()
    assert listing == {"items": [created], "total": 1, "limit": 50, "offset": 0}


async def test_pagination_ordering_and_filters(web: Web) -> None:
    for index, name in enumerate(["delta", "alpha", "charlie", "bravo", "echo"]):
        await create(web, name=name, speed=index, note=None if index % 2 else f"n{index}")
    get = web.client.get

    page = (await get("/recipes", params={"limit": 2, "offset": 1, "order_by": "name"})).json()
    assert [r["name"] for r in page["items"]] == ["bravo", "charlie"] and page["total"] == 5

    desc = (await get("/recipes", params={"order_by": "speed", "order_desc": "true"})).json()
    assert [r["speed"] for r in desc["items"]] == [4, 3, 2, 1, 0]

    async def names(**params: Any) -> list[str]:
        body = (await get("/recipes", params={**params, "order_by": "name"})).json()
        return [r["name"] for r in body["items"]]

    assert await names(name="alpha") == ["alpha"]
    assert await names(speed__gte=3) == ["bravo", "echo"]
    assert await names(speed__lt=1) == ["delta"]
    assert await names(speed__in="0,2") == ["charlie", "delta"]
    assert await names(name__contains="ha") == ["alpha", "charlie"]
    assert await names(note__is_null="true") == ["alpha", "bravo"]
    assert await names(note__is_null="false", speed__ne=0) == ["charlie", "echo"]
    assert await names(name__contains="%") == []
    filtered = (await get("/recipes", params={"speed__gte": 3, "limit": 1})).json()
    assert filtered["total"] == 2 and len(filtered["items"]) == 1


async def test_put_replaces_and_never_touches_deleted_at(web: Web) -> None:
    created = await create(web, name="bolt", speed=3, note="x")
    response = await web.client.put(f"/recipes/{created['id']}", json={"name": "nut"})
    assert response.status_code == 200
    body = response.json()
    # A full replace: absent fields take their defaults (speed) or null (note).
    assert (body["name"], body["speed"], body["note"]) == ("nut", 1, None)
    missing = await web.client.put(f"/recipes/{created['id']}", json={"speed": 2})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"] == "name"
    refused = await web.client.put(
        f"/recipes/{created['id']}", json={"name": "nut", "deleted_at": "2026-01-01T00:00:00"}
    )
    assert refused.status_code == 422


async def test_patch_changes_given_fields(web: Web) -> None:
    created = await create(web, name="bolt", speed=3)
    response = await web.client.patch(f"/recipes/{created['id']}", json={"speed": "5"})
    assert response.status_code == 200 and response.json()["speed"] == 5
    assert response.json()["name"] == "bolt"
    assert (await web.client.patch("/recipes/999", json={"speed": 1})).status_code == 404


async def test_delete_restore_and_include_deleted(web: Web) -> None:
    created = await create(web, name="bolt")
    key = created["id"]
    assert (await web.client.delete(f"/recipes/{key}")).status_code == 204
    assert (await web.client.delete(f"/recipes/{key}")).status_code == 404
    assert (await web.client.get(f"/recipes/{key}")).status_code == 404
    hidden = await web.client.get(f"/recipes/{key}", params={"include_deleted": "true"})
    assert hidden.status_code == 200 and hidden.json()["deleted_at"] is not None
    listing = (await web.client.get("/recipes", params={"include_deleted": "true"})).json()
    assert listing["total"] == 1
    assert (await web.client.get("/recipes")).json()["total"] == 0
    restored = await web.client.post(f"/recipes/{key}/restore")
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert (await web.client.post(f"/recipes/{key}/restore")).status_code == 404


async def test_hard_delete_model(web: Web) -> None:
    created = (await web.client.post("/alarms", json={"code": "E1"})).json()
    assert (await web.client.delete(f"/alarms/{created['id']}")).status_code == 204
    hidden = await web.client.get(f"/alarms/{created['id']}", params={"include_deleted": "1"})
    assert hidden.status_code == 404


async def test_batch_create_and_delete(web: Web) -> None:
    response = await web.client.post("/recipes/batch", json=[{"name": "a"}, {"name": "b"}])
    assert response.status_code == 201
    ids = [r["id"] for r in response.json()]
    failed = await web.client.post("/recipes/batch", json=[{"name": "c"}, {"name": "a"}])
    assert failed.status_code == 409
    bad = await web.client.post("/recipes/batch", json=[{"name": "d"}, {"name": "e", "speed": "x"}])
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "1.speed"
    assert (await web.client.get("/recipes")).json()["total"] == 2
    deleted = await web.client.post("/recipes/batch/delete", json={"ids": [*ids, 999]})
    assert deleted.status_code == 200 and deleted.json() == {"deleted": 2}
    wrong = await web.client.post("/recipes/batch/delete", json=[1, 2])
    assert wrong.status_code == 422


async def test_history_is_the_records_audit_trail(web: Web) -> None:
    created = await create(web, name="bolt")
    await web.client.patch(f"/recipes/{created['id']}", json={"speed": 9})
    await web.client.delete(f"/recipes/{created['id']}")
    history = (await web.client.get(f"/recipes/{created['id']}/history")).json()
    assert [e["operation"] for e in history["items"]] == ["soft_delete", "update", "create"]
    assert {e["actor"] for e in history["items"]} == {"tester"}
    assert (
        history["items"][1]["before"]["speed"] == 1 and history["items"][1]["after"]["speed"] == 9
    )


async def test_max_records_under_20_concurrent_creates(make_web: Any) -> None:
    async with make_web(max_records_per_model=5) as web:
        responses = await asyncio.gather(
            *(web.client.post("/alarms", json={"code": f"E{i}"}) for i in range(20))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * 5 + [409] * 15
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
            "record_limit"
        }
        assert (await web.client.get("/alarms")).json()["total"] == 5
        batch = await web.client.post("/alarms/batch", json=[{"code": "x"}])
        assert batch.status_code == 409


async def test_uuid_keys_and_rich_types_serialise(web: Web) -> None:
    run = await web.client.post("/runs", json={"label": "first"})
    assert run.status_code == 201
    key = run.json()["id"]
    assert (await web.client.get(f"/runs/{key}")).json()["label"] == "first"
    assert (await web.client.get("/runs/not-a-uuid")).status_code == 422
    body = {
        "key": "m1",
        "amount": "12.34",
        "mode": "auto",
        "payload": {"a": [1, None, "x"]},
        "blob": "AAH/",
        "at_time": "07:30:00",
        "on_day": "2026-01-31",
        "taken_at": "2026-01-31T12:00:00+02:00",
    }
    created = await web.client.post("/measurements", json=body)
    assert created.status_code == 201, created.text
    fetched = (await web.client.get("/measurements/m1")).json()
    assert fetched["amount"] == "12.34"
    assert fetched["mode"] == "auto"
    assert fetched["payload"] == {"a": [1, None, "x"]}
    assert fetched["blob"] == "AAH/"
    assert fetched["at_time"] == "07:30:00" and fetched["on_day"] == "2026-01-31"
    assert fetched["taken_at"] == "2026-01-31T10:00:00+00:00"  # stored as the UTC instant
    bad_blob = await web.client.post("/measurements", json={**body, "key": "m2", "blob": "!!"})
    assert bad_blob.status_code == 422


async def test_restore_route_respects_max_records(make_web: Any) -> None:
    async with make_web(max_records_per_model=2) as web:
        first = (await web.client.post("/recipes", json={"name": "a"})).json()
        await web.client.delete(f"/recipes/{first['id']}")
        await web.client.post("/recipes", json={"name": "b"})
        await web.client.post("/recipes", json={"name": "c"})
        refused = await web.client.post(f"/recipes/{first['id']}/restore")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "record_limit"
        assert (await web.client.get("/recipes")).json()["total"] == 2
