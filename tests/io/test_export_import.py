"""CSV export and import: exact round trips, atomic imports, hostile archives."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import io
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Accessors
from tests.models import Measurement, Mode, Recipe
from vstorage import AsyncDatabase, ConflictError, DataImportError
from vstorage.io import export_zip, import_csv, import_zip

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
measurements = st.builds(
    dict,
    key=st.uuids().map(str),
    amount=st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False),
    mode=st.sampled_from(Mode),
    payload=st.dictionaries(text, json_values, max_size=4),
    blob=st.binary(max_size=64),
    at_time=st.times(),
    on_day=st.dates(),
    taken_at=st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1)),
)
recipes = st.builds(
    dict,
    name=text.filter(lambda s: s.strip() != ""),
    speed=st.integers(-(2**63), 2**63 - 1),
    note=st.none() | text,
)


async def _fresh(path: Path) -> tuple[AsyncDatabase, Accessors]:
    db = AsyncDatabase(f"sqlite:///{path}")
    await db.connect()
    accessors = Accessors(db)
    await db.create_all()
    return db, accessors


def _rows(items: list[Any], accessor: Any) -> list[dict[str, Any]]:
    return [accessor.to_dict(item) for item in items]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rich=st.lists(measurements, max_size=6, unique_by=lambda m: m["key"]),
    named=st.lists(recipes, max_size=6, unique_by=lambda r: r["name"]),
    deleted=st.sets(st.integers(0, 5)),
)
def test_round_trip_is_exact(
    tmp_path_factory: pytest.TempPathFactory,
    rich: list[dict[str, Any]],
    named: list[dict[str, Any]],
    deleted: set[int],
) -> None:
    async def run() -> None:
        base = tmp_path_factory.mktemp("rt")
        source, a = await _fresh(base / "a.db")
        target, b = await _fresh(base / "b.db")
        try:
            await a.measurements.insert_many(rich)
            stored = await a.recipes.insert_many(named)
            for index in deleted:
                if index < len(stored):
                    await a.recipes.delete(stored[index].id)
            await export_zip(source, base / "e.zip")
            report = await import_zip(target, base / "e.zip", actor="import")
            assert report.imported.get("recipes", 0) == len(named)
            for name in ("measurements", "recipes"):
                original = _rows(await getattr(a, name).all(include_deleted=True), getattr(a, name))
                copied = _rows(await getattr(b, name).all(include_deleted=True), getattr(b, name))
                assert copied == original
                for before, after in zip(original, copied, strict=True):
                    assert [type(v) for v in before.values()] == [type(v) for v in after.values()]
            audit = await target.read_audit(limit=None)
            assert {e.operation for e in audit} <= {"import"}
            assert len(audit) == len(rich) + len(named)
        finally:
            await source.close()
            await target.close()

    asyncio.run(run())


async def test_null_is_distinct_from_empty_string(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert_many(
        [
            {"name": "a", "note": None},
            {"name": "b", "note": ""},
            {"name": "c", "note": "\\N"},
            {"name": "d", "note": "\\"},
        ]
    )
    await export_zip(db, tmp_path / "e.zip")
    target, b = await _fresh(tmp_path / "b.db")
    try:
        await import_zip(target, tmp_path / "e.zip")
        notes = {r.name: r.note for r in await b.recipes.all()}
        assert notes == {"a": None, "b": "", "c": "\\N", "d": "\\"}
    finally:
        await target.close()


async def test_formula_cells_neutralised_on_request(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert_many([{"name": "=HYPERLINK(1)", "note": "@SUM(A1)"}, {"name": "-3"}])
    await export_zip(db, tmp_path / "plain.zip")
    await export_zip(db, tmp_path / "safe.zip", neutralise_formulas=True)
    plain = zipfile.ZipFile(tmp_path / "plain.zip").read("recipes.csv").decode()
    safe = zipfile.ZipFile(tmp_path / "safe.zip").read("recipes.csv").decode()
    assert "=HYPERLINK(1)" in plain and "'=HYPERLINK(1)" not in plain
    assert "'=HYPERLINK(1)" in safe and "'@SUM(A1)" in safe and "'-3" in safe
    # Numbers are not text: a negative speed is left alone.
    await acc.recipes.update(1, speed=-5)
    await export_zip(db, tmp_path / "safe2.zip", neutralise_formulas=True)
    assert ",-5," in zipfile.ZipFile(tmp_path / "safe2.zip").read("recipes.csv").decode()


async def test_export_is_one_snapshot_while_writers_continue(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.alarms.insert_many([{"code": f"E{i}"} for i in range(2000)])
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            async with db.transaction():
                await acc.alarms.insert({"code": f"live{n}"})
                await acc.recipes.insert({"name": f"live{n}"})
            n += 1

    task = asyncio.create_task(writer())
    try:
        await export_zip(db, tmp_path / "e.zip")
    finally:
        stop.set()
        await task
    archive = zipfile.ZipFile(tmp_path / "e.zip")
    alarms = archive.read("alarms.csv").decode().count("live")
    recipes = archive.read("recipes.csv").decode().count("live")
    assert alarms == recipes  # both tables from the same instant


@pytest.mark.parametrize("position", [0, 1, 250, 499, 500, 777, 999])
async def test_one_bad_row_anywhere_changes_nothing(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path, position: int
) -> None:
    await acc.recipes.insert({"name": "existing"})
    rows = ["id,name,speed,note,deleted_at"]
    for i in range(1000):
        speed = "fast" if i == position else str(i)
        rows.append(f"{i + 10},r{i},{speed},\\N,\\N")
    (tmp_path / "recipes.csv").write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    before = await db.read_audit(limit=None)
    with pytest.raises(DataImportError) as info:
        await import_csv(acc.recipes, tmp_path / "recipes.csv", mode="append")
    assert (info.value.file, info.value.row, info.value.field) == (
        "recipes.csv",
        position + 1,
        "speed",
    )
    assert [r.name for r in await acc.recipes.all()] == ["existing"]
    assert await db.read_audit(limit=None) == before


async def test_conflicting_row_is_named_and_nothing_changes(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert({"name": "taken"})
    csv_text = "name,speed\r\nfree,1\r\nother,2\r\ntaken,3\r\n"
    (tmp_path / "r.csv").write_text(csv_text, encoding="utf-8")
    with pytest.raises(DataImportError) as info:
        await import_csv(acc.recipes, tmp_path / "r.csv")
    assert info.value.row == 3
    assert await acc.recipes.count() == 1


async def test_modes_append_replace_upsert(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    await acc.recipes.insert_many([{"name": "a", "speed": 1}, {"name": "b", "speed": 2}])
    await export_zip(db, tmp_path / "e.zip")
    await acc.recipes.update(1, speed=10)
    await acc.recipes.insert({"name": "c"})
    with pytest.raises(DataImportError):
        await import_zip(db, tmp_path / "e.zip", mode="append")
    upsert = await import_zip(db, tmp_path / "e.zip", mode="upsert")
    assert upsert.imported == {"recipes": 1} and upsert.unchanged == {"recipes": 1}
    assert {r.name: r.speed for r in await acc.recipes.all()} == {"a": 1, "b": 2, "c": 1}
    replace = await import_zip(db, tmp_path / "e.zip", mode="replace")
    assert replace.removed["recipes"] == 3
    assert {r.name for r in await acc.recipes.all()} == {"a", "b"}
    operations = [e.operation for e in await db.read_audit(limit=5)]
    assert operations.count("import") == 2 and operations.count("delete") == 3


async def test_replace_of_a_referenced_parent_is_refused_whole(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    recipe = await acc.recipes.insert({"name": "parent"})
    await acc.runs.insert({"label": "child", "recipe_id": recipe.id})
    (tmp_path / "recipes.csv").write_text("name\r\nnew\r\n", encoding="utf-8")
    with pytest.raises(ConflictError):
        await import_csv(acc.recipes, tmp_path / "recipes.csv", mode="replace")
    assert [r.name for r in await acc.recipes.all()] == ["parent"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../recipes.csv": b"name\r\nx\r\n"}, "path"),
        ({"/etc/recipes.csv": b"name\r\nx\r\n"}, "path"),
        ({"sub/recipes.csv": b"name\r\nx\r\n"}, "path"),
        ({"users.csv": b"name\r\nx\r\n"}, "not a table"),
        ({"recipes.txt": b"name\r\nx\r\n"}, "not a table"),
        ({"recipes.csv": b"name," + b"0" * 5_000_000 + b"\r\n"}, "ratio"),
        ({f"f{i}.csv": b"" for i in range(150)}, "files"),
        ({"recipes.csv": b"colour\r\nred\r\n"}, "column"),
        ({"recipes.csv": b""}, "header"),
        ({"recipes.csv": b"name\r\n\xff\xfe\r\n"}, "CSV"),
    ],
)
async def test_hostile_archives_are_refused(
    acc: Accessors, db: AsyncDatabase, members: dict[str, bytes], message: str
) -> None:
    with pytest.raises(DataImportError, match=message):
        await import_zip(db, io.BytesIO(_zip(members)))
    assert await acc.recipes.count(include_deleted=True) == 0


async def test_lying_zip_headers_are_caught_while_reading(
    acc: Accessors, db: AsyncDatabase
) -> None:
    data = bytearray(
        _zip({"recipes.csv": b"name\r\n" + b"".join(b"r%d\r\n" % i for i in range(5000))})
    )
    # Claim a tiny uncompressed size in both headers: reading must not trust it.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at : at + 4] = (10).to_bytes(4, "little")
    with pytest.raises(DataImportError):
        await import_zip(db, io.BytesIO(bytes(data)))
    assert await acc.recipes.count() == 0


async def test_not_a_zip(db: AsyncDatabase) -> None:
    with pytest.raises(DataImportError, match="zip"):
        await import_zip(db, io.BytesIO(b"plain text"))


async def test_export_memory_stays_flat(acc: Accessors, db: AsyncDatabase, tmp_path: Path) -> None:
    note = "x" * 400
    for start in range(0, 30_000, 5_000):
        await acc.recipes.insert_many(
            [{"name": f"r{i}", "note": note} for i in range(start, start + 5_000)]
        )
    table_bytes = 30_000 * 420
    tracemalloc.start()
    try:
        await export_zip(db, tmp_path / "big.zip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < table_bytes / 4, f"peak {peak} bytes for a {table_bytes}-byte table"
    assert zipfile.ZipFile(tmp_path / "big.zip").read("recipes.csv").count(b"\r\n") == 30_001


async def test_decimal_column_round_trips_exactly(
    acc: Accessors, db: AsyncDatabase, tmp_path: Path
) -> None:
    values = [decimal.Decimal("0.10"), decimal.Decimal("-99999999.99"), decimal.Decimal("12.30")]
    for i, amount in enumerate(values):
        await acc.measurements.insert(
            Measurement(
                key=f"k{i}",
                amount=amount,
                mode=Mode.MANUAL,
                payload={},
                blob=b"",
                at_time=dt.time(0, 0),
                on_day=dt.date(2026, 1, 1),
                taken_at=dt.datetime(2026, 1, 1),
            )
        )
    await export_zip(db, tmp_path / "e.zip")
    target, b = await _fresh(tmp_path / "b.db")
    try:
        await import_zip(target, tmp_path / "e.zip")
        assert [m.amount for m in await b.measurements.all(order_by="key")] == values
    finally:
        await target.close()


async def test_keep_audit_carries_the_trail_over(db: AsyncDatabase, tmp_path: Path) -> None:
    source = AsyncDatabase(f"sqlite:///{tmp_path / 'source.db'}")
    async with source:
        old = Accessors(source)
        await source.create_all()
        bolt = await old.recipes.insert(Recipe(name="bolt"), actor="alice")
        await old.recipes.update(bolt.id, speed=4, actor="bob")
        await old.measurements.insert(
            Measurement(
                key="m1",
                amount=decimal.Decimal("1.25"),
                mode=Mode.AUTO,
                payload={"a": [1, 2]},
                blob=b"\x00\xff",
                at_time=dt.time(7, 30),
                on_day=dt.date(2026, 1, 2),
                taken_at=dt.datetime(2026, 1, 2, 7, 30),
            ),
            actor="carol",
        )
        history = await source.read_audit(limit=None)
        await export_zip(source, tmp_path / "export.zip")
    Accessors(db)
    await db.create_all()
    report = await import_zip(db, tmp_path / "export.zip", keep_audit=True, actor="migration")
    assert report.history == 3
    trail = list(reversed(await db.read_audit(limit=None)))
    carried = [(e.timestamp, e.component, e.record_id, e.operation, e.actor) for e in trail[:3]]
    assert carried == [
        (e.timestamp, e.component, e.record_id, e.operation, e.actor) for e in reversed(history)
    ]
    assert trail[1].before == history[1].before and trail[1].after == history[1].after
    assert trail[2].after == history[0].after
    assert [e.operation for e in trail[3:]] == ["import", "import"]
    assert {e.actor for e in trail[3:]} == {"migration"}


async def test_upsert_of_the_same_instants_from_the_other_backend_changes_nothing(
    db: AsyncDatabase, tmp_path: Path
) -> None:
    from tests.models import Shift
    from vstorage import AsyncModelAccessor

    shifts = AsyncModelAccessor(Shift, "shifts", database=db)
    await db.create_all()
    start = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)
    await shifts.insert(Shift(starts=start, ends=start + dt.timedelta(hours=8)))
    # The starts column as the other back end exports it: naive on one, aware on the other.
    shift = await shifts.get(1)
    assert shift is not None
    stored = shift.starts
    other = stored.replace(tzinfo=None) if stored.tzinfo else stored.replace(tzinfo=dt.UTC)
    ends = shift.ends.isoformat()
    csv_text = f"id,starts,ends,factor\r\n1,{other.isoformat()},{ends},{shift.factor!r}\r\n"
    (tmp_path / "shifts.csv").write_text(csv_text, encoding="utf-8")
    report = await import_csv(shifts, tmp_path / "shifts.csv", mode="upsert")
    assert report.unchanged == {"shifts": 1} and report.imported == {}
