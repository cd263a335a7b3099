"""Who is making changes: an explicit ``actor=`` argument, else the ambient actor."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from vstorage.errors import ValidationError

DEFAULT_ACTOR = "internal"
MAX_ACTOR_LENGTH = 200

_actor: ContextVar[str | None] = ContextVar("vstorage_actor", default=None)


@contextlib.contextmanager
def use_actor(actor: str) -> Iterator[None]:
    """Make ``actor`` the default actor of accessor calls in this context.

    Raises:
        ValidationError: the actor is empty or longer than 200 characters.

    Example:
        >>> with use_actor("operator-7"):
        ...     await recipes.insert(Recipe(name="bolt"))   # audited as operator-7

    """
    token = _actor.set(check_actor(actor))
    try:
        yield
    finally:
        _actor.reset(token)


def ambient_actor() -> str | None:
    """The actor set by :func:`use_actor` in this context, or ``None``."""
    return _actor.get()


def current_actor() -> str:
    """The actor set by :func:`use_actor`, else ``"internal"``."""
    return _actor.get() or DEFAULT_ACTOR


def check_actor(actor: object) -> str:
    """Validate an actor name.

    Raises:
        ValidationError: not a non-empty string of at most 200 characters.

    """
    if not isinstance(actor, str) or not actor.strip() or len(actor) > MAX_ACTOR_LENGTH:
        raise ValidationError.single(
            "actor", f"must be a non-empty string of at most {MAX_ACTOR_LENGTH} characters"
        )
    return actor


def resolve_actor(actor: str | None) -> str:
    """The explicit actor if given (validated), else the ambient one."""
    return current_actor() if actor is None else check_actor(actor)
