"""Turn a user's database URL into the SQLAlchemy URLs of the writer and the readers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from vstorage.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Target:
    """Where the database lives.

    Attributes:
        url: the SQLAlchemy async URL both engines connect to.
        path: the file path, or ``None`` for an in-memory database.
        memory: True for an in-memory database shared by every connection of this instance.

    """

    url: URL
    path: str | None
    memory: bool


def parse_url(url: str) -> Target:
    """Parse ``sqlite:///path``, ``sqlite+aiosqlite:///path`` or ``sqlite:///:memory:``.

    Raises:
        ConfigurationError: the URL is malformed or names a backend this build does not serve.

    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() != "sqlite":
        raise ConfigurationError(
            f"unsupported database backend {parsed.get_backend_name()!r}; use sqlite:///path"
        )
    if parsed.get_driver_name() not in ("pysqlite", "aiosqlite"):
        raise ConfigurationError(
            f"unsupported SQLite driver {parsed.get_driver_name()!r}; use sqlite:///path"
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        # One named shared-cache database per AsyncDatabase: a plain ":memory:" would give
        # every connection its own empty database.
        name = f"file:vstorage-{uuid.uuid4().hex}?mode=memory&cache=shared"
        memory_url = URL.create("sqlite+aiosqlite", database=name, query={"uri": "true"})
        return Target(url=memory_url, path=None, memory=True)
    return Target(url=parsed.set(drivername="sqlite+aiosqlite"), path=database, memory=False)
