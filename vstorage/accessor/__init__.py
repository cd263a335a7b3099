"""Accessor layer: typed CRUD over models, with validation, hooks and audit.

Built on the database layer; knows nothing of HTTP.
"""

from vstorage.accessor._accessor import AsyncModelAccessor
from vstorage.accessor._actor import current_actor, use_actor

__all__ = ("AsyncModelAccessor", "current_actor", "use_actor")
