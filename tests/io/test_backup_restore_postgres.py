"""PostgreSQL: pg_dump backups, checked restores that lose no write, and migration from SQLite."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Accessors, Place
from tests.models import Alarm, Recipe, Run
from vstorage import AsyncDatabase, AsyncModelAccessor, RestoreError, UnsupportedError
from vstorage.io import backup, export_zip, import_zip, restore

pytestmark = [
    pytest.mark.postgresql_only,
    pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not on PATH"),
]


def _listing(path: Path) -> str:
    return subprocess.run(
        ["pg_restore", "--list", str(path)], capture_output=True, text=True, check=True
    ).stdout


async def _state(acc: Accessors) -> tuple[list[str], list[str]]:
    recipes = [r.name for r in await acc.recipes.all(include_deleted=True)]
    alarms = [a.code for a in await acc.alarms.all()]
    return recipes, alarms


async def test_backup_is_a_checked_pg_dump_archive(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert_many([{"name": f"r{i}"} for i in range(20)])
    report = await backup(db, tmp_path / "b.dump")
    data = (tmp_path / "b.dump").read_bytes()
    assert data[:5] == b"PGDMP"
    assert report.size == len(data) and report.sha256 == hashlib.sha256(data).hexdigest()
    listing = _listing(tmp_path / "b.dump")
    assert f"TABLE DATA {db.schema} recipes" in listing
    assert f"TABLE DATA {db.schema} vstorage_audit" in listing
    zipped = await backup(db, tmp_path / "b.dump.gz", compress=True)
    assert zipped.compressed
    assert gzip.decompress((tmp_path / "b.dump.gz").read_bytes())[:5] == b"PGDMP"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.dump", "b.dump.gz"]


async def test_restore_brings_back_the_backup_and_audits_it(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    kept = await acc.recipes.insert(Recipe(name="kept"))
    await acc.runs.insert(Run(label="first", recipe_id=kept.id))
    await acc.alarms.insert(Alarm(code="E1"))
    await backup(db, tmp_path / "b.dump.gz", compress=True)
    before = await _state(acc)
    await acc.recipes.insert(Recipe(name="lost"))
    await acc.alarms.delete(1)

    dry = await restore(db, tmp_path / "b.dump.gz", dry_run=True)
    assert dry.tables["recipes"] == 1 and dry.tables["vstorage_audit"] == 3
    assert not dry.restored and await _state(acc) != before

    report = await restore(
        db, tmp_path / "b.dump.gz", actor="maintenance", safety_backup_dir=tmp_path
    )
    assert report.restored and report.safety_backup is not None
    assert "lost" in _listing(report.safety_backup) or report.safety_backup.stat().st_size > 0
    assert await _state(acc) == before
    [entry] = await db.read_audit(operation="restore")
    assert entry.actor == "maintenance" and entry.after is not None
    assert entry.after["source_sha256"] == report.source_sha256
    # The key sequences came back too: new rows get fresh keys.
    fresh = await acc.recipes.insert(Recipe(name="after"))
    assert fresh.id is not None and fresh.id > kept.id


@pytest.mark.parametrize(
    "damage",
    ["not-an-archive", "truncated", "other-schema", "missing-table"],
)
async def test_refused_restores_change_nothing(
    acc: Accessors, db: AsyncDatabase, place: Place, tmp_path: Path, damage: str
) -> None:
    await acc.recipes.insert(Recipe(name="live"))
    good = tmp_path / "good.dump"
    await backup(db, good)
    candidate = tmp_path / "candidate.dump"
    if damage == "not-an-archive":
        candidate.write_bytes(b"PGDMP" + b"\x00" * 300)
    elif damage == "truncated":
        data = good.read_bytes()
        candidate.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "other-schema":
        other = AsyncDatabase(place.url, schema=f"{db.schema}_other")
        try:
            async with other:
                AsyncModelAccessor(Recipe, "recipes", database=other)
                AsyncModelAccessor(Alarm, "alarms", database=other)
                await other.create_all()
                await backup(other, candidate)
        finally:
            from tests.conftest import drop_schema

            await asyncio.to_thread(drop_schema, f"{db.schema}_other")
    else:
        lonely = AsyncDatabase(place.url, schema=db.schema)
        async with lonely:
            AsyncModelAccessor(Recipe, "recipes", database=lonely)
            await backup(lonely, candidate)  # recipes and audit only
    await acc.alarms.insert(Alarm(code="after-backup"))
    state = await _state(acc)
    with pytest.raises(RestoreError):
        await restore(db, candidate, safety_backup_dir=tmp_path)
    assert await _state(acc) == state
    assert await db.read_audit(operation="restore") == []


async def test_restore_while_writing_loses_no_acknowledged_write(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.alarms.insert(Alarm(code="base"))
    await backup(db, tmp_path / "b.dump")
    acknowledged: list[str] = []
    stop = asyncio.Event()
    reached = asyncio.Event()
    target = [30]

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            code = f"w{n}-{i}"
            await acc.alarms.insert(Alarm(code=code))
            acknowledged.append(code)
            if len(acknowledged) >= target[0]:
                reached.set()
            i += 1

    tasks = [asyncio.create_task(writer(n)) for n in range(10)]
    await reached.wait()  # writers are running
    marker = len(acknowledged)
    await restore(db, tmp_path / "b.dump", safety_backup_dir=tmp_path)
    after_restore = len(acknowledged)
    reached.clear()
    target[0] = after_restore + 30
    await reached.wait()  # and go on after the restore
    stop.set()
    await asyncio.gather(*tasks)
    present = {a.code for a in await acc.alarms.all()}
    assert "base" in present
    # Writes acknowledged before the restore began are replaced by it; every write
    # acknowledged after it returned is present.
    assert set(acknowledged[after_restore:]) <= present
    assert marker >= 30


async def test_without_pg_dump_on_path_backup_is_unsupported(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UnsupportedError, match="pg_dump"):
        await backup(db, tmp_path / "b.dump")
    with pytest.raises(UnsupportedError, match="not supported on this backend"):
        await restore(db, tmp_path / "b.dump")


async def test_a_sqlite_database_migrates_into_postgresql_by_export_and_import(
    db: AsyncDatabase, tmp_path: Path
) -> None:
    source = AsyncDatabase(f"sqlite:///{tmp_path / 'machine.db'}")
    async with source:
        old = Accessors(source)
        await source.create_all()
        parent = await old.recipes.insert(Recipe(name="bolt", speed=3), actor="alice")
        await old.recipes.insert(Recipe(name="nut"))
        await old.recipes.delete(2, actor="bob")
        await old.runs.insert(Run(label="r1", recipe_id=parent.id))
        await old.alarms.insert_many([Alarm(code=f"E{i}") for i in range(5)])
        await export_zip(source, tmp_path / "export.zip")
        expected = await _state(old)
    new = Accessors(db)
    await db.create_all()
    report = await import_zip(db, tmp_path / "export.zip", actor="migration")
    assert report.imported["alarms"] == 5
    assert await _state(new) == expected
    # Keys carried over and the sequences moved past them: a new row gets a fresh key.
    added = await new.alarms.insert(Alarm(code="new"))
    assert added.id == 6
    assert (await new.recipes.get(2, include_deleted=True)) is not None


async def test_a_restore_inside_a_transaction_is_refused(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    from vstorage import ConfigurationError

    await backup(db, tmp_path / "b.dump")
    async with db.transaction():
        with pytest.raises(ConfigurationError, match="wait for itself"):
            await restore(db, tmp_path / "b.dump", safety_backup_dir=tmp_path)
