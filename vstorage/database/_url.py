"""Turn a user's database URL into the SQLAlchemy URL the engines connect to."""

from __future__ import annotations

import importlib.util
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from vstorage.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Target:
    """Where the database lives.

    Attributes:
        url: the SQLAlchemy async URL the engines connect to.
        backend: ``"sqlite"`` or ``"postgresql"``.
        path: the SQLite file path; ``None`` for an in-memory database or a server.
        memory: True for an in-memory database shared by every connection of this instance.
        schema: PostgreSQL: the ``schema`` query parameter of the URL, if any.

    """

    url: URL
    backend: str
    path: str | None
    memory: bool
    schema: str | None = None


def parse_url(url: str) -> Target:
    """Parse a SQLite URL (``sqlite:///path``, ``sqlite:///:memory:``) or a PostgreSQL one.

    PostgreSQL URLs are ``postgresql://`` or ``postgresql+asyncpg://``; both connect with
    asyncpg (the ``vstorage[postgres]`` extra). A ``schema`` query parameter
    (``...?schema=line_3``) chooses the schema.

    Raises:
        ConfigurationError: the URL is malformed, names a backend or driver vstorage does not
            serve, or asyncpg is not installed for a PostgreSQL URL.

    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return _postgresql(parsed)
    if backend != "sqlite":
        raise ConfigurationError(
            f"unsupported database backend {backend!r}; "
            "use sqlite:///path or postgresql+asyncpg://host/database"
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
        return Target(url=memory_url, backend="sqlite", path=None, memory=True)
    return Target(
        url=parsed.set(drivername="sqlite+aiosqlite"), backend="sqlite", path=database, memory=False
    )


def _postgresql(parsed: URL) -> Target:
    # A bare postgresql:// names no driver of the user's choosing: asyncpg serves it.
    if parsed.drivername not in ("postgresql", "postgresql+asyncpg"):
        raise ConfigurationError(
            f"unsupported PostgreSQL driver in {parsed.drivername!r}; "
            "use postgresql+asyncpg://host/database"
        )
    if importlib.util.find_spec("asyncpg") is None:
        raise ConfigurationError("PostgreSQL needs asyncpg: pip install 'vstorage[postgres]'")
    if not parsed.database:
        raise ConfigurationError(
            "a PostgreSQL URL must name a database: postgresql+asyncpg://host/database"
        )
    schema = parsed.query.get("schema")
    if isinstance(schema, tuple):
        raise ConfigurationError("the URL gives schema more than once")
    url = parsed.set(drivername="postgresql+asyncpg").difference_update_query(["schema"])
    return Target(url=url, backend="postgresql", path=None, memory=False, schema=schema)
