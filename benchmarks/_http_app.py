"""The server of the HTTP benchmark: one Starlette app with vstorage's routes and a bare route.

Started by ``benchmarks.http_end_to_end`` in its own process::

    VSTORAGE_BENCH_DATABASE_URL=sqlite:////tmp/x/http.db \\
        python -m uvicorn benchmarks._http_app:create_app --factory --host 127.0.0.1 ...

Routes:

* ``GET /bench/ready``: 200 once the app has started (the database is open by then);
* ``POST /bench/bare``: reads the JSON body and answers 201 with a small JSON object, with
  no database work; the baseline;
* ``/records`` and ``/records/{id}``: vstorage's CRUD routes, auditing on;
* ``/db/...``: vstorage's database routes.

The bare routes sit in the same app as vstorage's, behind the same middleware, so the only
difference between ``POST /bench/bare`` and ``POST /records`` is the endpoint itself.
"""

from __future__ import annotations

import itertools
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from benchmarks.insert_throughput import Record
from vstorage import AsyncModelAccessor
from vstorage.web import bootstrap

DATABASE_URL_VARIABLE = "VSTORAGE_BENCH_DATABASE_URL"
COMPONENT = "records"
READY_PATH = "/bench/ready"
BARE_PATH = "/bench/bare"


async def ready(request: Request) -> Response:
    """``GET /bench/ready``: the server accepts requests."""
    return JSONResponse({"status": "ok"})


def bare_route() -> Route:
    """``POST /bench/bare``: parse the JSON body, answer 201 with a small object, no storage."""
    counter = itertools.count(1)

    async def bare(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"id": next(counter), "name": body.get("name")}, status_code=201)

    return Route(BARE_PATH, bare, methods=["POST"], name="bench:bare")


def create_app() -> Starlette:
    """The benchmark app on the database named by ``VSTORAGE_BENCH_DATABASE_URL``."""
    database_url = os.environ[DATABASE_URL_VARIABLE]
    routes = [Route(READY_PATH, ready, methods=["GET"], name="bench:ready"), bare_route()]
    app = Starlette(routes=routes)
    bootstrap(app, accessors=[AsyncModelAccessor(Record, COMPONENT)], database_url=database_url)
    return app
