"""The ``vstorage`` command on real SQLite files: in-process through ``main()`` and as a program.

``main()`` runs ``asyncio.run``, so these tests are plain functions. Every in-process call goes
through :func:`cli`, which re-imports the models module first: each command then sees unbound
accessors, as it does in a new process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gzip
import hashlib
import importlib
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vstorage import AsyncDatabase
from vstorage.cli import main
from vstorage.cli._main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"
MODELS = "tests.cli.cli_models"
COMMANDS = ("export", "import", "backup", "restore", "check", "diagram", "serve")
SQLITE_HEADER = b"SQLite format 3\x00"


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run from the repository root; undo what the CLI adds to sys.path and sys.modules."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    sys.modules.pop(MODELS, None)


def fresh_models() -> types.ModuleType:
    """A new import of the models module: accessors bound to no database yet."""
    sys.modules.pop(MODELS, None)
    return importlib.import_module(MODELS)


def cli(*argv: object) -> int:
    """``vstorage ARGV`` in-process; the exit code, whether returned or raised by argparse."""
    sys.modules.pop(MODELS, None)
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def run_program(*argv: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m vstorage.cli ARGV`` in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "vstorage.cli", *map(str, argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def seed(path: Path) -> None:
    """Two stations and three parts, one of them soft-deleted, written through the accessors."""
    models = fresh_models()

    async def write() -> None:
        async with AsyncDatabase(f"sqlite:///{path}") as db:
            db.register(models.stations)
            db.register(models.parts)
            await db.create_all()
            press = await models.stations.insert(models.Station(name="press"), actor="setup")
            await models.stations.insert(models.Station(name="lathe"), actor="setup")
            await models.parts.insert(
                models.Part(name="bolt", quantity=3, station_id=press.id), actor="setup"
            )
            await models.parts.insert(models.Part(name="nut", quantity=5), actor="setup")
            washer = await models.parts.insert(models.Part(name="washer"), actor="setup")
            await models.parts.delete(washer.id, actor="setup")

    asyncio.run(write())
    sys.modules.pop(MODELS, None)


def query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql, params).fetchall()


def parts(path: Path) -> list[tuple[Any, ...]]:
    """Every part, soft-deleted ones included, without the deletion time."""
    return query(
        path,
        "SELECT id, name, quantity, station_id, deleted_at IS NOT NULL FROM parts ORDER BY id",
    )


def stations(path: Path) -> list[tuple[Any, ...]]:
    return query(path, "SELECT id, name FROM stations ORDER BY id")


def audit(path: Path) -> list[tuple[Any, ...]]:
    return query(
        path,
        "SELECT component, record_id, operation, actor FROM vstorage_audit ORDER BY id",
    )


def write_csv(path: Path, *rows: list[object]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


SEEDED_PARTS = [(1, "bolt", 3, 1, 0), (2, "nut", 5, None, 0), (3, "washer", 0, None, 1)]
SEEDED_STATIONS = [(1, "press"), (2, "lathe")]


# -- help and usage ------------------------------------------------------------------------


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("--help") == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: vstorage")
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(command, "--help") == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"usage: vstorage {command} ")
    assert captured.err == ""


def test_no_command_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli() == 2
    assert "usage: vstorage" in capsys.readouterr().err


def test_unknown_option_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tmp_path / "live.db")
    assert cli("check", tmp_path / "live.db", "--frobnicate") == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_quiet_is_an_option_of_vstorage_not_of_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(tmp_path / "live.db")
    assert cli("check", tmp_path / "live.db", "-q") == 2
    capsys.readouterr()
    assert cli("-q", "check", tmp_path / "live.db") == 0
    assert capsys.readouterr() == ("", "")


def test_bad_mode_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_csv(tmp_path / "stations.csv", ["name"], ["press"])
    code = cli(
        "import",
        tmp_path / "new.db",
        source,
        "--table",
        "stations",
        "--mode",
        "merge",
        "--models",
        MODELS,
    )
    assert code == 2
    assert "invalid choice: 'merge'" in capsys.readouterr().err
    assert not (tmp_path / "new.db").exists()


# -- export and import ---------------------------------------------------------------------


def test_export_then_import_into_a_fresh_file_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, archive, copy = tmp_path / "live.db", tmp_path / "out.zip", tmp_path / "copy.db"
    seed(live)
    audit_rows = len(audit(live))

    assert cli("export", live, "-o", archive, "--models", MODELS) == 0
    captured = capsys.readouterr()
    assert captured.out == f"exported {5 + audit_rows} rows to {archive}\n"

    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == [
            "manifest.json",
            "parts.csv",
            "stations.csv",
            "vstorage_audit.csv",
        ]
        manifest = json.loads(zipped.read("manifest.json"))
        parts_csv = list(csv.reader(io.StringIO(zipped.read("parts.csv").decode())))
    assert manifest["format"] == "vstorage-export"
    assert {name: t["rows"] for name, t in manifest["tables"].items()} == {
        "stations": 2,
        "parts": 3,
        "vstorage_audit": audit_rows,
    }
    assert parts_csv[0] == ["id", "name", "quantity", "station_id", "deleted_at"]
    assert parts_csv[2] == ["2", "nut", "5", "\\N", "\\N"]

    assert cli("import", copy, archive, "--models", MODELS) == 0
    assert "imported 5 records (append)" in capsys.readouterr().out
    assert parts(copy) == SEEDED_PARTS
    assert stations(copy) == SEEDED_STATIONS
    assert query(copy, "SELECT deleted_at FROM parts WHERE id = 3") == query(
        live, "SELECT deleted_at FROM parts WHERE id = 3"
    )
    # The trail is not copied: each imported record gets its own ``import`` row.
    assert sorted(audit(copy)) == sorted(
        [("stations", str(i), "import", "cli") for i in (1, 2)]
        + [("parts", str(i), "import", "cli") for i in (1, 2, 3)]
    )


def test_export_quiet_prints_nothing_and_progress_goes_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    monkeypatch.setitem(sys.modules, "rich", None)  # the plain progress lines, without rich
    monkeypatch.setitem(sys.modules, "rich.progress", None)

    assert cli("export", live, "-o", tmp_path / "a.zip", "--models", MODELS) == 0
    captured = capsys.readouterr()
    assert "export: stations 2 rows" in captured.err.splitlines()
    assert "export: parts 3 rows" in captured.err.splitlines()

    assert cli("-q", "export", live, "-o", tmp_path / "b.zip", "--models", MODELS) == 0
    assert capsys.readouterr() == ("", "")
    assert zipfile.ZipFile(tmp_path / "b.zip").testzip() is None


def test_export_neutralise_formulas(tmp_path: Path) -> None:
    live, archive = tmp_path / "live.db", tmp_path / "out.zip"
    source = write_csv(tmp_path / "stations.csv", ["id", "name"], [1, "=SUM(A1:A9)"])
    assert cli("import", live, source, "--table", "stations", "--models", MODELS) == 0
    assert cli("export", live, "-o", archive, "--neutralise-formulas", "--models", MODELS) == 0
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.read("stations.csv").decode().splitlines()[1] == "1,'=SUM(A1:A9)"


def test_export_with_models_of_other_tables_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    with contextlib.closing(sqlite3.connect(empty)) as connection:
        connection.execute("CREATE TABLE other (x)")
    assert cli("export", empty, "-o", tmp_path / "out.zip", "--models", MODELS) == 1
    assert "no such table" in capsys.readouterr().err


def test_import_upsert_of_one_table_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / "live.db"
    seed(live)
    before = len(audit(live))
    source = write_csv(
        tmp_path / "parts.csv",
        ["id", "name", "quantity", "station_id", "deleted_at"],
        [1, "bolt", 30, 1, "\\N"],  # changed
        [2, "nut", 5, "\\N", "\\N"],  # identical: left alone
        [4, "spring", 7, "\\N", "\\N"],  # new
    )
    args = ("import", live, source, "--table", "parts", "--mode", "upsert", "--models", MODELS)

    assert cli(*args, "--actor", "maintenance") == 0
    assert "imported 2 records (upsert)" in capsys.readouterr().out
    assert parts(live) == [
        (1, "bolt", 30, 1, 0),
        (2, "nut", 5, None, 0),
        (3, "washer", 0, None, 1),
        (4, "spring", 7, None, 0),
    ]
    assert audit(live)[before:] == [
        ("parts", "1", "import", "maintenance"),
        ("parts", "4", "import", "maintenance"),
    ]

    assert cli(*args) == 0  # again: every row is now identical
    assert "imported 0 records (upsert)" in capsys.readouterr().out
    assert len(audit(live)) == before + 2


def test_import_table_csv_creates_the_file(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    source = write_csv(tmp_path / "stations.csv", ["name"], ["press"], ["lathe"])
    assert cli("import", new, source, "--table", "stations", "--models", MODELS) == 0
    assert new.read_bytes().startswith(SQLITE_HEADER)
    assert stations(new) == SEEDED_STATIONS
    assert audit(new) == [("stations", "1", "import", "cli"), ("stations", "2", "import", "cli")]
    assert parts(new) == []  # the models' other tables are created too


def test_import_replace_empties_the_table_first(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    seed(live)
    source = write_csv(
        tmp_path / "parts.csv", ["id", "name", "quantity"], [7, "gear", 1], [8, "cam", 2]
    )
    code = cli("import", live, source, "--table", "parts", "--mode", "replace", "--models", MODELS)
    assert code == 0
    assert parts(live) == [(7, "gear", 1, None, 0), (8, "cam", 2, None, 0)]
    operations = [row[2] for row in audit(live) if row[3] == "cli"]
    assert sorted(operations) == ["delete"] * 3 + ["import"] * 2


def test_bad_csv_row_exits_1_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    before = (parts(live), audit(live))
    source = write_csv(
        tmp_path / "parts.csv",
        ["id", "name", "quantity"],
        [10, "gear", 1],  # a good row first: it must not stay
        [11, "cam", "many"],
    )
    assert cli("import", live, source, "--table", "parts", "--models", MODELS) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("vstorage import: invalid parts.csv row 2: quantity:")
    assert captured.out == ""
    assert (parts(live), audit(live)) == before


def test_conflicting_zip_import_exits_1_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, archive = tmp_path / "live.db", tmp_path / "out.zip"
    seed(live)
    assert cli("-q", "export", live, "-o", archive, "--models", MODELS) == 0
    before = (stations(live), parts(live), audit(live))
    assert cli("import", live, archive, "--models", MODELS) == 1  # append: the keys exist
    assert "already exists" in capsys.readouterr().err
    assert (stations(live), parts(live), audit(live)) == before


def test_import_of_a_file_that_is_not_a_zip_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    source = write_csv(tmp_path / "parts.csv", ["id", "name"], [9, "gear"])
    assert cli("import", live, source, "--models", MODELS) == 1  # a CSV without --table
    assert "not a zip file" in capsys.readouterr().err
    assert parts(live) == SEEDED_PARTS


def test_import_into_an_unknown_table_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    source = write_csv(tmp_path / "tools.csv", ["id", "name"], [1, "drill"])
    assert cli("import", live, source, "--table", "tools", "--models", MODELS) == 2
    assert capsys.readouterr().err == "vstorage import: no accessor for table 'tools'\n"


# -- backup and restore --------------------------------------------------------------------


def test_backup_then_dry_run_then_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, saved = tmp_path / "live.db", tmp_path / "monday.sqlite"
    seed(live)

    assert cli("backup", live, saved) == 0
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    assert capsys.readouterr().out == (
        f"backup written to {saved} ({saved.stat().st_size} bytes, sha256 {digest})\n"
    )
    assert saved.read_bytes().startswith(SQLITE_HEADER)
    assert parts(saved) == SEEDED_PARTS
    saved_audit = audit(saved)

    # Later changes, which the restore must undo.
    source = write_csv(
        tmp_path / "parts.csv",
        ["id", "name", "quantity", "station_id", "deleted_at"],
        [1, "bolt", 99, 1, "\\N"],
    )
    assert (
        cli(
            "-q", "import", live, source, "--table", "parts", "--mode", "upsert", "--models", MODELS
        )
        == 0
    )
    changed = parts(live)
    assert changed[0] == (1, "bolt", 99, 1, 0)

    assert cli("restore", live, saved, "--dry-run", "--models", MODELS) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{saved} passed every check; it would restore ")
    assert "'parts': 3" in out
    assert parts(live) == changed
    assert list(tmp_path.glob("live.db.pre-restore-*")) == []

    assert cli("restore", live, saved, "--actor", "maintenance", "--models", MODELS) == 0
    assert parts(live) == SEEDED_PARTS
    assert stations(live) == SEEDED_STATIONS
    [safety] = tmp_path.glob("live.db.pre-restore-*.sqlite")
    assert capsys.readouterr().out == f"restored {saved}; safety backup at {safety}\n"
    assert parts(safety) == changed  # the state just before the restore
    trail = audit(live)
    assert trail[:-1] == saved_audit  # the backup's trail, then the restore row
    assert trail[-1] == ("database", "restore", "restore", "maintenance")
    [(after,)] = query(live, "SELECT after FROM vstorage_audit WHERE operation = 'restore'")
    assert json.loads(after)["source_sha256"] == digest


def test_restore_of_a_non_sqlite_file_leaves_the_live_file_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    before = live.read_bytes()
    candidate = tmp_path / "notes.sqlite"
    candidate.write_text("not a database at all\n", encoding="utf-8")

    assert cli("restore", live, candidate, "--models", MODELS) == 1
    captured = capsys.readouterr()
    assert captured.err == "vstorage restore: not a SQLite database file\n"
    assert captured.out == ""
    assert live.read_bytes() == before
    assert list(tmp_path.glob("live.db.pre-restore-*")) == []


def test_restore_refuses_a_backup_of_other_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, saved = tmp_path / "live.db", tmp_path / "saved.sqlite"
    seed(live)
    assert cli("-q", "backup", live, saved) == 0
    before = live.read_bytes()
    # Only the stations accessor: the backup has a table more than these models.
    assert cli("restore", live, saved, "--models", f"{MODELS}:only_stations") == 1
    assert "the tables differ" in capsys.readouterr().err
    assert live.read_bytes() == before


def test_restore_of_a_missing_backup_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    assert cli("restore", live, tmp_path / "nothing.sqlite", "--models", MODELS) == 1
    assert "No such file or directory" in capsys.readouterr().err


def test_compressed_backup_restores_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, packed, unpacked = tmp_path / "live.db", tmp_path / "b.sqlite.gz", tmp_path / "b.sqlite"
    seed(live)
    assert cli("-q", "backup", live, packed, "--compress") == 0
    unpacked.write_bytes(gzip.decompress(packed.read_bytes()))
    assert parts(unpacked) == SEEDED_PARTS

    # A compressed backup is restored as it is (it is gunzipped to a temporary file first).
    assert cli("-q", "restore", live, packed, "--dry-run", "--models", MODELS) == 0
    assert cli("-q", "restore", live, unpacked, "--dry-run", "--models", MODELS) == 0


def test_backup_into_a_missing_directory_exits_1_with_a_message(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    seed(live)
    result = run_program("backup", live, tmp_path / "no-such-dir" / "b.sqlite")
    assert result.returncode == 1
    assert result.stderr.startswith("vstorage backup: ")
    assert "Traceback" not in result.stderr


# -- check ---------------------------------------------------------------------------------


def test_check_prints_integrity_and_pragmas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    assert cli("check", live) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:7] == [
        "integrity: ok",
        "journal_mode: wal",
        "synchronous: full",
        "foreign_keys: True",
        "busy_timeout_ms: 5000",
        "journal_size_limit: 67108864",
        "query_only: False",
    ]
    assert re.fullmatch(r"wal_bytes: \d+", lines[7])
    assert len(lines) == 8


def test_check_accepts_a_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / "live.db"
    seed(live)
    assert cli("check", f"sqlite:///{live}") == 0
    assert "integrity: ok" in capsys.readouterr().out


def _damaged(path: Path) -> Path:
    """A file SQLite opens but whose integrity check fails (pages of a lost index)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE t (a)")
        connection.execute("CREATE INDEX t_a ON t (a)")
        connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
        connection.commit()
        connection.execute("PRAGMA writable_schema = ON")
        connection.execute("DELETE FROM sqlite_master WHERE name = 't_a'")
        connection.commit()
    return path


def test_check_of_a_damaged_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("check", _damaged(tmp_path / "damaged.db")) == 1
    err = capsys.readouterr().err
    assert err.startswith("vstorage check: integrity: ")
    assert "integrity: ok" not in err
    assert "never used" in err


def test_check_quiet_still_reports_a_failed_integrity_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("-q", "check", _damaged(tmp_path / "damaged.db")) == 1
    assert "integrity" in capsys.readouterr().err


def test_check_of_a_file_that_is_not_sqlite_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("hello\n", encoding="utf-8")
    assert cli("check", bogus) == 1
    assert capsys.readouterr().err.startswith("vstorage check: ")


# -- diagram -------------------------------------------------------------------------------


def test_diagram_svg_from_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live, picture = tmp_path / "live.db", tmp_path / "schema.svg"
    seed(live)
    assert cli("diagram", live, "-o", picture) == 0
    assert capsys.readouterr().out == f"diagram written to {picture}\n"
    svg = ET.fromstring(picture.read_text(encoding="utf-8"))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    tables = {g.get("data-table") for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    assert tables == {"parts", "stations", "vstorage_audit"}
    links = [p.get("data-from") for p in svg.iter("{http://www.w3.org/2000/svg}path")]
    assert links == ["parts.station_id"]


def test_diagram_svg_from_the_models_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With --models the file is not read: it need not exist.
    assert cli("diagram", tmp_path / "none.db", "--models", MODELS) == 0
    svg = ET.fromstring(capsys.readouterr().out)
    tables = {g.get("data-table") for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    assert tables == {"parts", "stations"}
    assert not (tmp_path / "none.db").exists()


def test_diagram_mermaid_from_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / "live.db"
    seed(live)
    assert cli("diagram", live, "--format", "mermaid") == 0
    text = capsys.readouterr().out
    assert text.startswith("erDiagram\n")
    assert "    vstorage_audit {" in text
    assert "        INTEGER station_id FK" in text
    assert '    stations ||--o{ parts : "station_id"' in text


def test_diagram_mermaid_from_the_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schema.mmd"
    assert (
        cli("diagram", tmp_path / "none.db", "--format", "mermaid", "-o", out, "--models", MODELS)
        == 0
    )
    text = out.read_text(encoding="utf-8")
    assert text.startswith("erDiagram\n")
    assert "    parts {" in text
    assert "    stations {" in text
    assert "vstorage_audit" not in text
    capsys.readouterr()

    assert (
        cli(
            "diagram",
            tmp_path / "none.db",
            "--format",
            "mermaid",
            "--models",
            f"{MODELS}:only_stations",
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "    stations {" in text
    assert "parts" not in text


def test_diagram_accepts_a_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / "live.db"
    seed(live)
    assert cli("diagram", f"sqlite:///{live}", "--format", "mermaid") == 0
    assert "    parts {" in capsys.readouterr().out


def test_diagram_to_an_unwritable_place_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "schema.svg"
    assert cli("diagram", tmp_path / "none.db", "-o", target, "--models", MODELS) == 1
    assert capsys.readouterr().err.startswith("vstorage diagram: ")


# -- bad usage: missing files and models ---------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("export", "{db}", "-o", "{tmp}/out.zip", "--models", MODELS),
        ("backup", "{db}", "{tmp}/b.sqlite"),
        ("restore", "{db}", "{tmp}/b.sqlite", "--models", MODELS),
        ("check", "{db}"),
        ("diagram", "{db}"),
    ],
    ids=lambda argv: argv[0],
)
def test_a_missing_database_file_is_bad_usage(
    argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    args = [a.format(db=missing, tmp=tmp_path) for a in argv]
    assert cli(*args) == 2
    assert capsys.readouterr().err == f"vstorage {argv[0]}: no database file at {missing}\n"
    assert not missing.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ("export", "{db}", "-o", "{tmp}/out.zip"),
        ("import", "{db}", "{tmp}/in.zip"),
        ("restore", "{db}", "{db}"),
        ("diagram", "{db}"),
        ("serve", "{db}"),
    ],
    ids=lambda argv: argv[0],
)
def test_an_unknown_models_module_is_bad_usage(
    argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.db"
    seed(live)
    before = live.read_bytes()
    args = [a.format(db=live, tmp=tmp_path) for a in argv]
    assert cli(*args, "--models", "tests.cli.no_such_models") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vstorage {argv[0]}: cannot import 'tests.cli.no_such_models': ")
    assert live.read_bytes() == before


def test_models_attribute_errors_are_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    none = tmp_path / "none.db"
    assert cli("diagram", none, "--models", f"{MODELS}:nothing") == 2
    assert capsys.readouterr().err == (f"vstorage diagram: '{MODELS}' has no attribute 'nothing'\n")
    assert cli("diagram", none, "--models", f"{MODELS}:Part") == 2  # a model, not an accessor
    assert capsys.readouterr().err == (
        f"vstorage diagram: no AsyncModelAccessor found in '{MODELS}:Part'\n"
    )
    assert cli("diagram", none, "--models", "tests.cli") == 2  # a module without accessors
    assert "no AsyncModelAccessor found in 'tests.cli'" in capsys.readouterr().err


def test_models_module_is_found_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cell_models.py").write_text(
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n"
        "from vstorage import AsyncModelAccessor\n"
        "class Base(DeclarativeBase):\n"
        "    pass\n"
        "class Robot(Base):\n"
        "    __tablename__ = 'robots'\n"
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
        "robots = AsyncModelAccessor(Robot, 'robots')\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "cell_models", raising=False)
    try:
        assert cli("diagram", "none.db", "--format", "mermaid", "--models", "cell_models") == 0
    finally:
        sys.modules.pop("cell_models", None)
    assert "    robots {" in capsys.readouterr().out


def test_main_runs_twice_in_one_process(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    seed(live)
    sys.modules.pop(MODELS, None)
    assert main(["-q", "export", str(live), "-o", str(tmp_path / "a.zip"), "--models", MODELS]) == 0
    assert main(["-q", "export", str(live), "-o", str(tmp_path / "b.zip"), "--models", MODELS]) == 0


# -- as a program --------------------------------------------------------------------------


def test_python_m_vstorage_cli_round_trip(tmp_path: Path) -> None:
    live, archive, copy = tmp_path / "live.db", tmp_path / "out.zip", tmp_path / "copy.db"
    seed(live)

    exported = run_program("-q", "export", live, "-o", archive, "--models", MODELS)
    assert (exported.returncode, exported.stdout, exported.stderr) == (0, "", "")
    imported = run_program("import", copy, archive, "--models", MODELS)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("imported 5 records (append)")
    assert parts(copy) == SEEDED_PARTS

    missing = run_program("check", tmp_path / "missing.db")
    assert missing.returncode == 2
    assert missing.stderr == f"vstorage check: no database file at {tmp_path / 'missing.db'}\n"

    refused = run_program("restore", live, archive, "--models", MODELS)
    assert refused.returncode == 1
    assert refused.stderr == "vstorage restore: not a SQLite database file\n"

    usage = run_program("import", copy)
    assert usage.returncode == 2
    assert usage.stderr.startswith("usage: vstorage import ")


def test_the_vstorage_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("vstorage")
    if not script.exists():
        pytest.skip("the vstorage console script is not installed beside this interpreter")
    live = tmp_path / "live.db"
    seed(live)
    result = subprocess.run(
        [str(script), "check", str(live)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("integrity: ok\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_http_until_stopped(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    live, port = tmp_path / "served.db", _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vstorage.cli",
            "serve",
            str(live),
            "--models",
            MODELS,
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                with urllib.request.urlopen(f"{base}/db/health", timeout=2) as response:
                    health = json.load(response)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert health["status"] == "ok"
        request = urllib.request.Request(
            f"{base}/stations",
            data=json.dumps({"name": "press"}).encode(),
            headers={"content-type": "application/json", "X-User": "operator"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            assert json.load(response) == {"id": 1, "name": "press"}
    finally:
        server.terminate()
        try:
            stderr = server.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            server.kill()
            stderr = server.communicate()[1]
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal.
    assert server.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete." in stderr
    assert stations(live) == [(1, "press")]
    assert audit(live) == [("stations", "1", "create", "operator")]


# -- docs/cli.md ---------------------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("vstorage has no sub-commands")


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(doc: str, name: str) -> str:
    match = re.search(rf"^## vstorage {name}\n(.*?)(?=^## |\Z)", doc, re.MULTILINE | re.DOTALL)
    assert match, f"docs/cli.md has no '## vstorage {name}' section"
    return match.group(1)


def _mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_the_tests_cover_every_command() -> None:
    assert set(_subcommands()) == set(COMMANDS)


def test_every_command_has_a_section_in_the_docs() -> None:
    doc = _doc()
    for name in _subcommands():
        assert re.search(rf"^## vstorage {name}$", doc, re.MULTILINE), name


def test_every_option_is_in_the_docs() -> None:
    doc = _doc()
    for action in build_parser()._actions:
        for option in action.option_strings:  # -q/--quiet, -h/--help
            assert _mentions(doc, option), option
    for name, sub in _subcommands().items():
        section = _section(doc, name)
        for action in sub._actions:
            for option in action.option_strings:
                assert _mentions(doc, option), f"{name} {option}"
                assert _mentions(section, option), f"{name} {option} not in its section"
                if option in ("-h", "--help"):
                    continue
                # Described in the section's option table, not only in the synopsis.
                row = rf"^\|[^\n]*`{re.escape(option)}[ `]"
                assert re.search(row, section, re.MULTILINE), f"{name} {option} has no row"
            for choice in action.choices or ():
                if isinstance(choice, str) and action.option_strings:
                    assert f"`{action.option_strings[-1]} {choice}`" in section, (name, choice)


def test_every_section_shows_the_real_usage() -> None:
    doc = _doc()
    for name, sub in _subcommands().items():
        usage = " ".join(sub.format_usage().split())
        section = " ".join(_section(doc, name).split())
        assert usage in section, f"the synopsis of {name} differs from its --help"
        assert " ".join((sub.description or "").split()) in section


def test_every_exit_code_is_documented() -> None:
    doc = _doc()
    for code in ("0", "1", "2"):
        assert re.search(rf"^\| `{code}` \|", doc, re.MULTILINE), code


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def server_database() -> Iterator[str]:
    """A fresh PostgreSQL database (the CLI uses the server's default schema), dropped after."""
    from tests.conftest import NO_POSTGRES, POSTGRES_URL

    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"vstorage_cli_{uuid.uuid4().hex[:12]}"
    admin = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    finally:
        asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_a_sqlite_file_migrates_into_postgresql_with_export_and_import(
    tmp_path: Path, server_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The migration of docs/scaling-out.md, command by command."""
    live, archive = tmp_path / "live.db", tmp_path / "machine-export.zip"
    seed(live)
    expected_audit = len(audit(live))
    # A bare postgresql:// URL, with the schema in it.
    target = server_database.replace("postgresql+asyncpg://", "postgresql://") + "?schema=line_3"
    assert cli("export", live, "-o", archive, "--models", MODELS) == 0
    assert cli("import", target, archive, "--keep-audit", "--models", MODELS) == 0
    assert f"{expected_audit} audit rows carried over" in capsys.readouterr().out
    assert cli("check", target) == 2  # SQLite files only
    assert "check inspects SQLite files" in capsys.readouterr().err
    assert cli("diagram", target, "--format", "mermaid") == 0  # reflected from the server
    diagram = capsys.readouterr().out
    assert "parts {" in diagram and "JSONB after" in diagram
    # A backup without --models (every table of the schema) restores with them.
    assert cli("backup", target, tmp_path / "server.dump") == 0
    assert (tmp_path / "server.dump").read_bytes()[:5] == b"PGDMP"
    restore_args = ("restore", target, tmp_path / "server.dump", "--models", MODELS)
    assert cli(*restore_args, "--dry-run") == 0, capsys.readouterr().err
    assert "passed every check" in capsys.readouterr().out

    async def read_back() -> tuple[list[Any], int, Any]:
        models = fresh_models()
        async with AsyncDatabase(target) as db:
            db.register(models.stations)
            db.register(models.parts)
            rows = [
                (p.id, p.name, p.quantity, p.station_id, p.deleted_at is not None)
                for p in await models.parts.all(include_deleted=True)
            ]
            entries = len(await db.read_audit(limit=None))
            added = await models.parts.insert({"name": "new part"})
            return rows, entries, added.id

    rows, entries, new_id = asyncio.run(read_back())
    assert [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows] == parts(live)
    assert entries == expected_audit + len(parts(live)) + 2  # the old trail, then imports
    assert new_id == max(r[0] for r in rows) + 1
