"""Web layer: Starlette routes over the accessors, mountable in FastAPI.

Needs the ``web`` extra (``pip install 'vstorage[web]'``).
"""

from vstorage.web._bootstrap import bootstrap
from vstorage.web._context import ActorMiddleware, header_actor
from vstorage.web._crud import crud_routes
from vstorage.web._db import db_routes
from vstorage.web._openapi import openapi_document

__all__ = (
    "ActorMiddleware",
    "bootstrap",
    "crud_routes",
    "db_routes",
    "header_actor",
    "openapi_document",
)
