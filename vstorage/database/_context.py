"""The write transaction the current task is inside, so nested calls join it."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from vstorage.database._jobs import Change

if TYPE_CHECKING:
    from vstorage.database._database import AsyncDatabase


@dataclass(eq=False, slots=True)
class WriteContext:
    """A unit of work on the writer, as seen by the code running inside it."""

    database: AsyncDatabase
    session: AsyncSession
    task: asyncio.Task[object] | None
    changes: list[Change] = field(default_factory=list)


_current: ContextVar[WriteContext | None] = ContextVar("vstorage_transaction", default=None)


def current_write(database: AsyncDatabase) -> WriteContext | None:
    """The transaction of ``database`` this task is inside, if any.

    A task created inside a transaction inherits the context variable but not the right to use
    the session (an ``AsyncSession`` is not safe for concurrent tasks), so only the task that
    opened the transaction joins it.
    """
    context = _current.get()
    if context is None or context.database is not database:
        return None
    if context.task is not asyncio.current_task():
        return None
    return context


def enter(context: WriteContext) -> object:
    """Make ``context`` current; returns the token for :func:`leave`."""
    return _current.set(context)


def leave(token: object) -> None:
    """Restore the context that was current before :func:`enter`."""
    _current.reset(token)  # type: ignore[arg-type]
