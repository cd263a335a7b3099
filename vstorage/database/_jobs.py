"""Units of work the writer runs, and the records of what they changed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Change:
    """One row written by a committed transaction, as given to ``after_commit`` listeners.

    Attributes:
        table: the table name.
        operation: ``create``, ``update``, ``delete``, ``soft_delete`` or ``restore``.
        values: the row after the change (``None`` for a hard delete).
        before: the row before the change (``None`` for a create).

    """

    table: str
    operation: str
    values: dict[str, Any] | None
    before: dict[str, Any] | None


# Runs in the writer's thread on the raw DBAPI cursor; returns the caller's result and the
# rows it changed. It must not touch the event loop.
RawWork = Callable[[sqlite3.Cursor], tuple[Any, list[Change]]]


@dataclass(eq=False, slots=True)
class Job:
    """A unit of work in the writer queue; ``done`` resolves only after COMMIT."""

    done: asyncio.Future[Any]
    changes: list[Change] = field(default_factory=list)

    def abandoned(self) -> bool:
        """True when the caller gave up before the writer started the job."""
        return self.done.cancelled()

    def resolve(self, value: Any) -> None:
        """Hand the committed result to the caller, if it is still waiting."""
        if not self.done.done():
            self.done.set_result(value)

    def fail(self, error: BaseException) -> None:
        """Hand an error to the caller, if it is still waiting."""
        if not self.done.done():
            self.done.set_exception(error)


@dataclass(eq=False, slots=True)
class RawJob(Job):
    """Statements built on the event loop, run in the writer's thread in one hop."""

    work: RawWork | None = None


@dataclass(eq=False, slots=True)
class LeaseJob(Job):
    """The writer connection lent to a caller's task for the body of a transaction.

    ``granted`` carries the session when the job's turn comes; the caller sets ``finished`` to
    True (keep) or False (roll back) when its body ends.
    """

    granted: asyncio.Future[AsyncSession] | None = None
    finished: asyncio.Future[bool] | None = None
    read_only: bool = False

    def abandoned(self) -> bool:
        """True when the caller gave up before its turn came."""
        assert self.granted is not None
        return self.granted.cancelled()

    def fail(self, error: BaseException) -> None:
        """Hand an error to the caller, whether it waits for its turn or for COMMIT."""
        assert self.granted is not None
        if not self.granted.done():
            # The caller is still waiting for its turn: it never reaches ``done``.
            self.granted.set_exception(error)
            self.done.cancel()
            return
        if not self.done.done():
            self.done.set_exception(error)


@dataclass(slots=True)
class Outcome:
    """What one job of a group produced: a value or an error."""

    value: Any = None
    error: BaseException | None = None
    changes: list[Change] = field(default_factory=list)
