"""The curated public API: sorted __all__, every name importable and documented."""

from __future__ import annotations

import re
from pathlib import Path

import vstorage
from vstorage import errors

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_all_is_a_sorted_tuple_of_importable_names() -> None:
    assert isinstance(vstorage.__all__, tuple)
    assert list(vstorage.__all__) == sorted(vstorage.__all__)
    for name in vstorage.__all__:
        assert getattr(vstorage, name) is not None


def test_every_public_name_is_documented() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [name for name in vstorage.__all__ if not re.search(rf"\b{name}\b", text)]
    assert missing == []


def test_every_public_method_is_documented() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = []
    for cls in (vstorage.AsyncDatabase, vstorage.AsyncModelAccessor):
        for name in dir(cls):
            if not name.startswith("_") and not re.search(rf"\b{name}\b", text):
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []


def test_every_error_derives_from_the_root() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, vstorage.VStorageError)


def test_public_entry_points_have_docstrings_that_say_what_they_raise() -> None:
    for cls in (vstorage.AsyncDatabase, vstorage.AsyncModelAccessor):
        for name, member in vars(cls).items():
            if name.startswith("_") or not callable(member):
                continue
            doc = member.__doc__ or ""
            assert doc.strip(), f"{cls.__name__}.{name} has no docstring"


def test_every_io_name_is_documented() -> None:
    from vstorage import io

    text = (DOCS / "lifecycle.md").read_text(encoding="utf-8")
    assert [name for name in io.__all__ if not re.search(rf"\b{name}\b", text)] == []
