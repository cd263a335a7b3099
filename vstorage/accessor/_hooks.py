"""Lifecycle hooks: sync or async ``fn(session, instance)`` run inside the transaction."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

Hook = Callable[[AsyncSession, Any], Awaitable[None] | None]

EVENTS = (
    "before_insert",
    "after_insert",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
    "before_restore",
    "after_restore",
)


class HookRegistry:
    """The hooks of one accessor, by event, in registration order."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Hook]] = {event: [] for event in EVENTS}

    def add(self, event: str, hook: Hook) -> Hook:
        """Register ``hook`` for ``event``; returns it unchanged (decorator friendly)."""
        if not callable(hook):
            raise TypeError(f"a hook must be callable, got {hook!r}")
        self._hooks[event].append(hook)
        return hook

    def any_for(self, *events: str) -> bool:
        """True when any hook is registered for one of ``events``."""
        return any(self._hooks[event] for event in events)

    async def run(self, event: str, session: AsyncSession, instance: Any) -> None:
        """Run the hooks of ``event`` in order; a raising hook stops the rest.

        The hook's exception propagates unchanged, marked as raised by a hook (see
        :func:`raised_by_hook`), so that a web layer can tell a rule's refusal from a bug.
        """
        for hook in self._hooks[event]:
            try:
                result = hook(session, instance)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                if not hasattr(exc, HOOK_MARK):
                    setattr(exc, HOOK_MARK, event)
                raise


HOOK_MARK = "__vstorage_hook__"


def raised_by_hook(exc: BaseException) -> bool:
    """True when ``exc`` was raised by a lifecycle hook."""
    return hasattr(exc, HOOK_MARK)
