"""Backup while writing; restore refuses every bad file untouched, and loses no write."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Accessors
from tests.models import Alarm, Recipe
from vstorage import AsyncDatabase, ConfigurationError, RestoreError
from vstorage.io import backup, restore

pytestmark = pytest.mark.sqlite_only  # PostgreSQL: test_backup_restore_postgres.py


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _live_bytes(db: AsyncDatabase) -> str:
    assert db.path is not None
    return _digest(Path(db.path)) + _digest(Path(f"{db.path}-wal"))


async def test_backup_is_consistent_checked_and_optionally_compressed(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert_many([{"name": f"r{i}"} for i in range(100)])
    report = await backup(db, tmp_path / "b.sqlite")
    assert report.size == (tmp_path / "b.sqlite").stat().st_size
    assert report.sha256 == _digest(tmp_path / "b.sqlite")
    with sqlite3.connect(tmp_path / "b.sqlite") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM recipes").fetchone()[0] == 100
    zipped = await backup(db, tmp_path / "b.sqlite.gz", compress=True)
    assert zipped.compressed
    assert gzip.decompress((tmp_path / "b.sqlite.gz").read_bytes())[:16] == b"SQLite format 3\x00"
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []  # no leftovers


async def test_backup_does_not_leak_deleted_data(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    secret = "TOP-SECRET-RECIPE-" * 20
    alarm = await acc.alarms.insert(Alarm(code="x" * 20))
    await acc.recipes.insert(Recipe(name="s", note=secret))
    await acc.recipes.delete_many([1])
    async with db.transaction() as session:
        from sqlalchemy import text

        await session.execute(text("DELETE FROM recipes"))
        await session.execute(text("DELETE FROM vstorage_audit"))
    await backup(db, tmp_path / "b.sqlite")
    assert secret.encode() not in (tmp_path / "b.sqlite").read_bytes()
    assert alarm.id is not None


async def test_backup_while_writers_continue(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    written: list[int] = []

    async def writer() -> None:
        while not stop.is_set():
            written.append((await acc.alarms.insert(Alarm(code="w"))).id)

    tasks = [asyncio.create_task(writer()) for _ in range(5)]
    await asyncio.sleep(0)
    try:
        report = await backup(db, tmp_path / "b.sqlite")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    with sqlite3.connect(tmp_path / "b.sqlite") as copy:
        count = copy.execute("SELECT count(*) FROM alarms").fetchone()[0]
        audit = copy.execute("SELECT count(*) FROM vstorage_audit").fetchone()[0]
    assert count == audit  # data and audit from the same instant
    assert report.size > 0 and len(written) >= count


async def test_in_memory_database_cannot_be_backed_up(tmp_path: Path) -> None:
    async with AsyncDatabase("sqlite:///:memory:") as db:
        with pytest.raises(ConfigurationError):
            await backup(db, tmp_path / "b.sqlite")


async def test_dry_run_reports_and_changes_nothing(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert(Recipe(name="a"))
    await backup(db, tmp_path / "b.sqlite")
    await acc.recipes.insert(Recipe(name="b"))
    live = _live_bytes(db)
    report = await restore(db, tmp_path / "b.sqlite", dry_run=True)
    assert report.dry_run and not report.restored and report.tables["recipes"] == 1
    assert _live_bytes(db) == live
    assert await acc.recipes.count() == 2


async def test_restore_replaces_contents_and_audits(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    restored: list[object] = []
    db.add_restore_listener(restored.append)
    parent = await acc.recipes.insert(Recipe(name="a"))
    await acc.runs.insert({"label": "run", "recipe_id": parent.id})
    await backup(db, tmp_path / "b.sqlite")
    await acc.recipes.insert(Recipe(name="later"))
    report = await restore(db, tmp_path / "b.sqlite", actor="maintenance")
    assert report.restored and report.safety_backup is not None and report.safety_backup.exists()
    assert [r.name for r in await acc.recipes.all()] == ["a"]
    assert await acc.runs.count() == 1
    [entry] = await db.read_audit(operation="restore")
    assert entry.actor == "maintenance" and entry.after is not None
    assert entry.after["source_sha256"] == report.source_sha256
    assert restored == [report]
    with sqlite3.connect(report.safety_backup) as safety:
        assert safety.execute("SELECT count(*) FROM recipes").fetchone()[0] == 2
    await acc.recipes.insert(Recipe(name="after-restore"))
    assert await db.writer_in_transaction() is False


def _corruptions(good: bytes, tmp_path: Path) -> list[tuple[str, Path]]:
    rng = random.Random(20261122)
    cases: list[tuple[str, bytes]] = []
    for size in [0, 10, 16, 99, 100, 512, 4096, len(good) // 2, len(good) - 1]:
        cases.append((f"truncated-{size}", good[:size]))
    for n in range(150):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(100, len(data))
            data[position] ^= 1 << rng.randrange(8)
        cases.append((f"flipped-{n}", bytes(data)))
    for n in range(10):
        data = bytearray(good)
        start = rng.randrange(100, len(data) - 512)
        data[start : start + 512] = rng.randbytes(512)
        cases.append((f"scrambled-page-{n}", bytes(data)))
    cases += [
        ("text", b"hello world\n" * 100),
        ("zip", b"PK\x03\x04" + b"\x00" * 200),
        ("gzip", gzip.compress(good)),
        ("header-only", b"SQLite format 3\x00" + b"\x00" * 84),
        ("random", rng.randbytes(8192)),
    ]
    files = []
    for name, data in cases:
        path = tmp_path / f"{name}.sqlite"
        path.write_bytes(data)
        files.append((name, path))
    return files


def _schema_variant(good: Path, tmp_path: Path, name: str, statements: list[str]) -> Path:
    path = tmp_path / f"{name}.sqlite"
    path.write_bytes(good.read_bytes())
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
    return path


async def test_bad_restore_files_are_refused_and_live_bytes_unchanged(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert_many([{"name": f"r{i}", "note": "n" * 200} for i in range(200)])
    parent = await acc.recipes.insert(Recipe(name="parent"))
    await acc.runs.insert({"label": "child", "recipe_id": parent.id})
    good = tmp_path / "good.sqlite"
    await backup(db, good)
    candidates = _corruptions(good.read_bytes(), tmp_path)
    candidates += [
        (n, _schema_variant(good, tmp_path, n, s))
        for n, s in [
            ("extra-table", ["CREATE TABLE intruder (x)"]),
            ("extra-trigger", ["CREATE TRIGGER t AFTER INSERT ON recipes BEGIN SELECT 1; END"]),
            ("extra-view", ["CREATE VIEW v AS SELECT 1"]),
            ("missing-table", ["DROP TABLE alarms"]),
            ("other-columns", ["ALTER TABLE recipes ADD COLUMN colour TEXT"]),
            ("dangling-fk", ["PRAGMA foreign_keys=OFF", "DELETE FROM recipes WHERE name='parent'"]),
        ]
    ]
    assert len(candidates) >= 100
    live = _live_bytes(db)
    refused = 0
    for name, path in candidates:
        try:
            report = await restore(db, path, actor="test")
        except RestoreError:
            refused += 1
        else:  # a flip in unused bytes may leave a valid, identical database
            assert report.restored, name
            assert [r.name for r in await acc.recipes.all()][-1] == "parent", name
            live = _live_bytes(db)
            continue
        assert _live_bytes(db) == live, name
    assert refused >= 100
    # A safety backup is taken only by restores that went ahead.
    assert len(list(tmp_path.glob("*.pre-restore-*"))) == len(candidates) - refused


async def test_restore_while_writers_run_loses_no_acknowledged_write(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.alarms.insert(Alarm(code="in-backup"))
    await backup(db, tmp_path / "b.sqlite")
    acknowledged: list[tuple[int, str]] = []
    restore_done = asyncio.Event()
    ordering: list[tuple[str, str]] = []

    async def writer(n: int) -> None:
        for i in range(40):
            code = f"w{n}-{i}"
            alarm = await acc.alarms.insert(Alarm(code=code))
            acknowledged.append((alarm.id, code))
            ordering.append(("after" if restore_done.is_set() else "unknown", code))
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(writer(n)) for n in range(10)]
    for _ in range(20):
        await asyncio.sleep(0)
    await restore(db, tmp_path / "b.sqlite", actor="test")
    restore_done.set()
    await asyncio.gather(*tasks)
    present = {a.code for a in await acc.alarms.all()}
    restore_entry = (await db.read_audit(operation="restore"))[0]
    for code in [c for _, c in acknowledged]:
        # Every acknowledged write is either present (ran after the restore) or was replaced by
        # it (committed before); which one is decided by the audit trail's order.
        trail = await db.read_audit(component="alarms", limit=None)
        created = [e for e in trail if e.after is not None and e.after.get("code") == code]
        if code in present:
            assert created and created[0].id > restore_entry.id
        else:
            assert not created  # replaced: its audit row went with the old contents
    assert "in-backup" in present
    assert [c for s, c in ordering if s == "after"] == [
        c for s, c in ordering if s == "after" and c in present
    ]
