"""Concurrent single-record inserts on PostgreSQL, measured beside the SQLite ones.

The same records and audit rows as :mod:`benchmarks.insert_throughput`, on the server named by
``VSTORAGE_BENCH_POSTGRES_URL`` (default ``postgresql+asyncpg://127.0.0.1:5432/test`` when a
server answers there). Every sample runs in a fresh schema, dropped afterwards, and the rows
it left are counted. The server's defaults stand (``synchronous_commit = on``: every COMMIT
waits for its WAL flush), so records/s count durable commits, as on SQLite.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks._measure import report
from benchmarks._suite import Context, Result
from benchmarks.insert_throughput import (
    Payload,
    concurrent_accessor_inserts,
    make_payload,
    naive_session_inserts,
)
from vstorage import AsyncDatabase

DEFAULT_URL = "postgresql+asyncpg://127.0.0.1:5432/test"


def server_url() -> tuple[str | None, str]:
    """The server to measure on, or ``None`` and the reason there is none."""
    url = os.environ.get("VSTORAGE_BENCH_POSTGRES_URL")
    if url:
        return url, ""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return None, "asyncpg is not installed (pip install 'vstorage[postgres]')"
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None, "no PostgreSQL server: set VSTORAGE_BENCH_POSTGRES_URL"
    return DEFAULT_URL, ""


def vstorage_postgresql(url: str, schema: str, n: int, errors: Counter[str], tasks: int) -> float:
    """vstorage on PostgreSQL: ``tasks`` tasks each calling ``insert`` for one record at a time.

    Writer pool of 8 connections (the default), auditing on; rows/s from the first call to
    the last commit.
    """
    return asyncio.run(_vstorage(url, schema, make_payload(n), errors, tasks))


async def _vstorage(
    url: str, schema: str, payload: Payload, errors: Counter[str], tasks: int
) -> float:
    async with AsyncDatabase(url, schema=schema) as db:
        return await concurrent_accessor_inserts(db, payload, errors, tasks)


def naive_sqlalchemy_postgresql(
    url: str, schema: str, n: int, errors: Counter[str], tasks: int
) -> float:
    """The baseline on the same server: SQLAlchemy async ORM on asyncpg, a session per record.

    ``tasks`` tasks at once; each record gets a new ``AsyncSession`` on a pool of 8
    connections, the record and a hand-built audit row are added and committed.
    """
    return asyncio.run(_naive(url, schema, make_payload(n), errors, tasks))


async def _naive(
    url: str, schema: str, payload: Payload, errors: Counter[str], tasks: int
) -> float:
    engine = create_async_engine(
        url,
        pool_size=8,
        max_overflow=0,
        pool_timeout=3600,
        connect_args={"server_settings": {"search_path": schema}},
    )
    try:
        return await naive_session_inserts(engine, payload, errors, tasks)
    finally:
        await engine.dispose()


async def _schema(url: str, sql: str, *tables: str) -> list[int]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            counts = [
                int((await connection.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one())
                for t in tables
            ]
            await connection.execute(text(sql))
        return counts
    finally:
        await engine.dispose()


def sample_postgresql(
    ctx: Context,
    result: Result,
    strategy: Callable[..., float],
    url: str,
    records: int,
    tables: tuple[str, str],
    **options: Any,
) -> None:
    """Run ``strategy`` once in a fresh schema, count what it wrote, drop the schema."""
    errors: Counter[str] = Counter()
    schema = f"vstorage_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_schema(url, f"CREATE SCHEMA {schema}"))
    try:
        rate = strategy(url, schema, records, errors, **options)
        expected = records - errors.total()
        qualified = [f"{schema}.{t}" for t in tables]
        found = asyncio.run(_schema(url, f"DROP SCHEMA {schema} CASCADE", *qualified))
    except BaseException:
        asyncio.run(_schema(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        raise
    if found != [expected, expected]:
        errors[f"expected {expected} data and audit rows, found {found}"] += 1
    report(ctx, result, rate, errors)
