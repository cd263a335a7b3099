"""Client mistakes get typed JSON errors, never a 500; nothing is half-written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.web.conftest import Web


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "speed": "fast"}, "speed"),
        ({"name": "x", "speed": 10**30}, "speed"),
        ({"name": "x", "speed": 1.5}, "speed"),
        ({"name": "x", "speed": True}, "speed"),
        ({"name": "x" * 51}, "name"),
        ({"speed": 1}, "name"),
        ({"name": None}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "id": 5}, "id"),
        ({"name": "x", "deleted_at": None}, "deleted_at"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(web: Web, body: Any, field: str) -> None:
    response = await web.client.post("/recipes", json=body)
    assert response.status_code == 422
    assert field in [d["field"] for d in error(response)["details"]]
    assert (await web.client.get("/recipes")).json()["total"] == 0
    assert await web.db.read_audit() == []


@pytest.mark.parametrize("payload", [b"{", b"not json", b"", b"[" * 100_000, b'{"name": NaN}'])
async def test_malformed_json_is_400_or_422(web: Web, payload: bytes) -> None:
    response = await web.client.post(
        "/recipes", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert error(response)["code"] in ("invalid_json", "validation_error")


@pytest.mark.parametrize("body", [[1, 2], "text", 3, None])
async def test_body_must_be_an_object(web: Web, body: Any) -> None:
    response = await web.client.post("/recipes", content=json.dumps(body))
    assert response.status_code == 422


async def test_oversized_body_is_413(web: Web) -> None:
    response = await web.client.post("/recipes", content=b'{"name": "' + b"x" * 2_000_000 + b'"}')
    assert response.status_code == 413
    assert error(response)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "params",
    [
        {"colour": "red"},
        {"order_by": "__class__"},
        {"order_by": "nope"},
        {"limit": "-1"},
        {"limit": "100000"},
        {"limit": "ten"},
        {"offset": "-3"},
        {"speed__gte": "fast"},
        {"speed__between": "1"},
        {"include_deleted": "perhaps"},
        {"speed": str(10**30)},
    ],
)
async def test_bad_query_parameters_are_422(web: Web, params: dict[str, str]) -> None:
    response = await web.client.get("/recipes", params=params)
    assert response.status_code == 422
    assert error(response)["details"]


async def test_unknown_query_parameter_on_other_routes(web: Web) -> None:
    created = (await web.client.post("/recipes", json={"name": "a"})).json()
    assert (await web.client.get(f"/recipes/{created['id']}", params={"x": "1"})).status_code == 422
    assert (
        await web.client.get(f"/recipes/{created['id']}/history", params={"limit": "x"})
    ).status_code == 422


@pytest.mark.parametrize("key", ["abc", "1.5", "99999999999999999999999", "%00"])
async def test_bad_keys_are_422(web: Web, key: str) -> None:
    response = await web.client.get(f"/recipes/{key}")
    assert response.status_code == 422


async def test_missing_is_404(web: Web) -> None:
    for method, path in [
        ("GET", "/recipes/5"),
        ("PUT", "/recipes/5"),
        ("PATCH", "/recipes/5"),
        ("DELETE", "/recipes/5"),
        ("POST", "/recipes/5/restore"),
    ]:
        response = await web.client.request(method, path, json={"name": "x"})
        assert response.status_code == 404, (method, response.text)
        assert error(response)["code"] == "not_found"


async def test_unique_conflict_is_409_without_sql(web: Web) -> None:
    await web.client.post("/recipes", json={"name": "bolt"})
    response = await web.client.post("/recipes", json={"name": "bolt"})
    assert response.status_code == 409
    body = error(response)
    assert body["code"] == "conflict" and body["details"][0]["fields"] == ["name"]
    assert "INSERT" not in response.text and "recipes" not in body["message"]


async def test_foreign_key_conflict_is_409(web: Web) -> None:
    response = await web.client.post("/runs", json={"label": "x", "recipe_id": 12345})
    assert response.status_code == 409
    assert error(response)["details"][0]["constraint"] == "foreign_key"


async def test_mutation_without_actor_is_400(web: Web) -> None:
    response = await web.client.post("/recipes", json={"name": "x"}, headers={"X-User": ""})
    assert response.status_code == 400
    anonymous = web.client.build_request("POST", "/recipes", json={"name": "x"})
    del anonymous.headers["X-User"]
    response = await web.client.send(anonymous)
    assert response.status_code == 400 and error(response)["code"] == "actor_required"
    assert (await web.client.get("/recipes")).json()["total"] == 0


async def test_closed_database_is_503(web: Web) -> None:
    await web.db.close()
    response = await web.client.get("/recipes")
    assert response.status_code == 503
    assert (await web.client.post("/recipes", json={"name": "x"})).status_code == 503
    assert (await web.client.get("/db/health")).status_code == 503


async def test_hook_value_error_is_422_other_errors_500_generic(
    make_web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def hooks(recipes: Any, alarms: Any) -> None:
        @recipes.before_insert()
        def check(session: Any, recipe: Any) -> None:
            if recipe.speed > 100:
                raise ValueError("speed above the machine limit")

        @alarms.before_insert()
        def broken(session: Any, alarm: Any) -> None:
            raise RuntimeError("secret internal detail")

    async with make_web(hooks=hooks) as web:
        refused = await web.client.post("/recipes", json={"name": "x", "speed": 500})
        assert refused.status_code == 422
        assert error(refused)["message"] == "speed above the machine limit"
        crashed = await web.client.post("/alarms", json={"code": "E1"})
        assert crashed.status_code == 500
        assert error(crashed)["message"] == "internal error"
        assert "secret" not in crashed.text
        assert "secret internal detail" in caplog.text
        assert (await web.client.get("/alarms")).json()["total"] == 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/db/audit", {"since": "9999-12-31T23:59:59-00:01"}),
        ("/db/audit", {"until": "0001-01-01T00:00:00+00:01"}),
        ("/recipes", {"include_deleted": "true", "deleted_at": "9999-12-31T23:59:59-23:59"}),
        ("/recipes", {"deleted_at__gt": "0001-01-01T00:00:00+14:00"}),
        ("/recipes", {"deleted_at__in": "0001-01-01T00:00:00+01:00"}),
        ("/recipes", {"limit": "1_0"}),
        ("/recipes", {"offset": "\uff11"}),
    ],
)
async def test_out_of_range_instants_and_odd_numbers_are_422(
    web: Web, path: str, params: dict[str, str]
) -> None:
    response = await web.client.get(path, params=params)
    assert response.status_code == 422, response.text


async def test_booleans_are_not_numbers(web: Web) -> None:
    body = {
        "key": "m",
        "amount": "1.00",
        "mode": "auto",
        "payload": {},
        "blob": "",
        "at_time": "00:00:00",
        "on_day": "2026-01-01",
        "taken_at": "2026-01-01T00:00:00",
    }
    for field, value in [("amount", True)]:
        response = await web.client.post("/measurements", json={**body, field: value})
        assert response.status_code == 422


async def test_a_bad_actor_header_does_not_block_reads(web: Web) -> None:
    headers = {"X-User": ""}
    assert (await web.client.get("/recipes", headers=headers)).status_code == 200
    assert (await web.client.get("/db/health", headers={"X-User": "x" * 300})).status_code == 200
    write = await web.client.post("/recipes", json={"name": "x"}, headers={"X-User": "x" * 300})
    assert write.status_code == 400 and write.json()["error"]["code"] == "invalid_actor"


async def test_value_error_outside_hooks_is_a_500_not_the_clients_fault(
    make_web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def permission(request: Any, action: str) -> bool:
        raise ValueError("internal detail from a broken permission check")

    async with make_web(permission=permission) as web:
        response = await web.client.get("/recipes")
        assert response.status_code == 500
        assert "internal detail" not in response.text
        assert "internal detail" in caplog.text
