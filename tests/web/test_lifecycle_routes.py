"""/db export, import, backup and restore over HTTP: limits, permissions, round trips."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

from starlette.requests import Request

from tests.web.conftest import Web


async def test_export_then_import_into_another_app(web: Web, make_web: Any, tmp_path: Path) -> None:
    await web.client.post("/recipes/batch", json=[{"name": "a"}, {"name": "b", "note": ""}])
    export = await web.client.get("/db/export.zip")
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    assert "recipes.csv" in archive.namelist() and "manifest.json" in archive.namelist()
    await web.client.delete("/recipes/1")
    response = await web.client.post(
        "/db/import?mode=upsert",
        content=export.content,
        headers={"content-type": "application/zip"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == {"recipes": 1}
    assert (await web.client.get("/recipes")).json()["total"] == 2


async def test_import_multipart_csv_into_one_table(web: Web) -> None:
    files = {"file": ("alarms.csv", b"code,level\r\nE1,1\r\nE2,2\r\n", "text/csv")}
    response = await web.client.post("/db/import?table=alarms", files=files)
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == {"alarms": 2}
    audit = (await web.client.get("/db/audit", params={"operation": "import"})).json()["items"]
    assert {e["actor"] for e in audit} == {"tester"}


async def test_bad_import_row_is_422_naming_file_row_field(web: Web) -> None:
    files = {"file": ("alarms.csv", b"code,level\r\nE1,1\r\nE2,high\r\n", "text/csv")}
    response = await web.client.post("/db/import?table=alarms", files=files)
    assert response.status_code == 422
    detail = response.json()["error"]
    assert "row 2" in detail["message"] and detail["details"][0]["field"] == "level"
    assert (await web.client.get("/alarms")).json()["total"] == 0


async def test_import_parameters_are_checked(web: Web) -> None:
    assert (await web.client.post("/db/import?mode=merge", content=b"x")).status_code == 422
    assert (await web.client.post("/db/import?table=nope", content=b"x")).status_code == 422
    assert (await web.client.post("/db/import?colour=red", content=b"x")).status_code == 422
    not_zip = await web.client.post("/db/import", content=b"not a zip")
    assert not_zip.status_code == 422


async def test_backup_and_restore(web: Web, tmp_path: Path) -> None:
    await web.client.post("/recipes", json={"name": "kept"})
    backup = await web.client.get("/db/backup.sqlite")
    assert backup.status_code == 200
    if web.db.dialect_name == "sqlite":
        assert backup.content[:16] == b"SQLite format 3\x00"
    else:
        assert backup.content[:5] == b"PGDMP"
        assert "backup.dump" in backup.headers["content-disposition"]
    await web.client.post("/recipes", json={"name": "lost"})
    dry = await web.client.post(
        "/db/restore?dry_run=true", files={"file": ("b.sqlite", backup.content)}
    )
    assert dry.status_code == 200 and dry.json()["restored"] is False
    assert (await web.client.get("/recipes")).json()["total"] == 2
    real = await web.client.post("/db/restore", content=backup.content)
    assert real.status_code == 200 and real.json()["restored"] is True
    names = [r["name"] for r in (await web.client.get("/recipes")).json()["items"]]
    assert names == ["kept"]
    compressed = await web.client.get("/db/backup.sqlite?compress=true")
    assert compressed.content[:2] == b"\x1f\x8b"


async def test_refused_restore_is_422_and_live_file_untouched(web: Web) -> None:
    await web.client.post("/recipes", json={"name": "kept"})
    path = Path(web.db.path) if web.db.path else None
    before = path.read_bytes() if path else None
    audit = (await web.client.get("/db/audit")).json()
    for junk in (b"SQLite format 3\x00" + b"\x00" * 500, b"PGDMP" + b"\x00" * 500):
        response = await web.client.post("/db/restore", content=junk)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "restore_refused"
    if path is not None:
        assert path.read_bytes() == before
    assert (await web.client.get("/db/audit")).json() == audit
    assert [r["name"] for r in (await web.client.get("/recipes")).json()["items"]] == ["kept"]


async def test_oversized_uploads_are_413(make_web: Any) -> None:
    from vstorage.web import db_routes

    async with make_web(enable_db_router=False) as web:
        web.app.router.routes.extend(db_routes(web.db, max_upload_bytes=1000))
        big = b"x" * 5000
        assert (await web.client.post("/db/restore", content=big)).status_code == 413
        multipart = await web.client.post("/db/import", files={"file": ("a.zip", big)})
        assert multipart.status_code == 413

        async def chunks() -> Any:  # no content-length: the cap must hold while streaming
            yield b"x" * 600
            yield b"y" * 600

        chunked = await web.client.post("/db/import", content=chunks())
        assert chunked.status_code == 413


async def test_lifecycle_routes_need_db_admin(make_web: Any) -> None:
    def permission(request: Request, action: str) -> bool:
        return action != "db.admin" or request.headers.get("x-role") == "admin"

    async with make_web(permission=permission) as web:
        for method, path in [
            ("GET", "/db/export.zip"),
            ("GET", "/db/backup.sqlite"),
            ("POST", "/db/import"),
            ("POST", "/db/restore"),
        ]:
            assert (await web.client.request(method, path)).status_code == 403, path
        assert (await web.client.get("/db/health")).status_code == 200
        ok = await web.client.get("/db/backup.sqlite", headers={"x-role": "admin"})
        assert ok.status_code == 200
        with sqlite3.connect(":memory:") as check:
            assert check is not None
