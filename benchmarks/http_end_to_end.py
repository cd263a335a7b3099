"""End-to-end HTTP throughput: vstorage's CRUD routes against a bare Starlette route.

The server (:mod:`benchmarks._http_app`) runs under uvicorn in a separate process (one
worker, 127.0.0.1, a free port, ``--log-level warning``) on a fresh SQLite file: WAL,
``synchronous=FULL``, auditing on. This process drives it with ``httpx.AsyncClient``
(HTTP/1.1 keep-alive): one client with a one-connection pool per request in flight, so as
many connections as requests in flight. Each strategy sends a fixed number of requests with
a fixed number in flight.

Throughput is successful responses per second, from the first request sent to the last
response read. The latency of every request answered is recorded (from sending it to having
read the whole response). Non-2xx responses and exceptions are counted as errors.

All strategies run against the same server process, interleaved (their order rotates), and
are repeated. Client and server share the machine's cores, and the client's own cost (about
0.8 ms of CPU per request, one core at most) can bound every strategy: on the reference
2-core machine the client used a whole core in every strategy while the server used a
quarter to a half of one. The progress lines give the CPU each side used, in cores; divided
by the throughput, the server's figure is its CPU per request, which the client does not
bound.

Why one client per request in flight rather than one client with a pool of that many
connections: httpcore 1.0's pool scans all its connections (and polls their sockets) on
every request, so one client's CPU per request grows with its pool: on the reference 2-core
machine, about 0.8 ms with 1 connection, 3.4 ms with 32 and 7 ms with 64. The client, not the
server, would then be what is measured. One-connection pools keep it at about 0.8 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from benchmarks._http_app import BARE_PATH, COMPONENT, DATABASE_URL_VARIABLE, READY_PATH
from benchmarks._suite import Context, Result

SCENARIO = "http"
UNIT = "requests/s"
HOST = "127.0.0.1"
ACTOR = "bench"
CONCURRENCY = (32, 64)
SEED_RECORDS = 1_000
WARMUP_REQUESTS = 200
STARTUP_SECONDS = 30.0
STOP_SECONDS = 15.0
REQUEST_SECONDS = 30.0
RUN_SECONDS = 300.0
START_ATTEMPTS = 3
PROJECT_ROOT = Path(__file__).resolve().parent.parent
JSON_HEADERS = {"Content-Type": "application/json"}


class ServerError(RuntimeError):
    """The benchmark server did not start, or did not answer as expected."""


@dataclass(frozen=True)
class Server:
    """A running benchmark server."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid


@dataclass(frozen=True)
class Load:
    """What a strategy sends, and to whom.

    Attributes:
        clients: one client per request in flight, each with one keep-alive connection.
        requests: how many requests to send.
        ids: keys of records that exist, for reads.
        server_pid: the server's process id, to read its CPU time.
    """

    clients: list[httpx.AsyncClient]
    requests: int
    ids: list[int]
    server_pid: int


@dataclass
class Measurement:
    """One strategy run: throughput, latencies, errors and the CPU each side used."""

    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    client_cores: float = math.nan
    server_cores: float = math.nan


Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
Strategy = Callable[[Load], Awaitable[Measurement]]


# -- strategies ---------------------------------------------------------------------------


async def bare_starlette(load: Load) -> Measurement:
    """The baseline: ``POST /bench/bare``, a Starlette route that does no database work.

    The route sits in the same app as vstorage's, behind the same middleware; it parses the
    JSON body and answers 201 with a small JSON object. The request is the one
    ``vstorage_post`` sends (same body, same ``X-User`` header): only the endpoint differs.
    """
    bodies = record_bodies(load.requests)
    return await drive(
        load, lambda client, i: client.post(BARE_PATH, content=bodies[i], headers=JSON_HEADERS)
    )


async def vstorage_post(load: Load) -> Measurement:
    """``POST /records`` through vstorage's CRUD route: one record and its audit row each.

    The route reads and checks the body, inserts through the accessor (validation, hooks,
    audit row under the ``X-User`` actor, the writer queue's group commit, durable with
    ``synchronous=FULL``) and answers 201 with the stored record.
    """
    bodies = record_bodies(load.requests)
    path = f"/{COMPONENT}"
    return await drive(
        load, lambda client, i: client.post(path, content=bodies[i], headers=JSON_HEADERS)
    )


async def vstorage_get(load: Load) -> Measurement:
    """``GET /records/{id}`` of existing records, through vstorage's CRUD route.

    The keys cycle through records created before timing; each request reads one record on
    one of the database's reader connections and answers it as JSON.
    """
    paths = [f"/{COMPONENT}/{load.ids[i % len(load.ids)]}" for i in range(load.requests)]
    return await drive(load, lambda client, i: client.get(paths[i]))


STRATEGIES: dict[str, Strategy] = {
    "bare_starlette": bare_starlette,
    "vstorage_post": vstorage_post,
    "vstorage_get": vstorage_get,
}
LABELS = {
    "bare_starlette": f"POST {BARE_PATH}",
    "vstorage_post": f"POST /{COMPONENT}",
    "vstorage_get": f"GET /{COMPONENT}/{{id}}",
}


# -- driving ------------------------------------------------------------------------------


def record_bodies(count: int, start: int = 0) -> list[bytes]:
    """``count`` JSON bodies of distinct records, encoded before timing."""
    now = time.time()
    return [
        json.dumps(
            {"name": f"item-{i:06d}", "value": i, "created": now + i / 1000},
            separators=(",", ":"),
        ).encode()
        for i in range(start, start + count)
    ]


async def drive(load: Load, send: Send) -> Measurement:
    """Send ``load.requests`` requests, one in flight per client, and measure them.

    One task per client; the tasks share one counter: each sends its next request as soon as
    its previous one is answered, so as many are in flight as there are clients until the
    last ones.
    """
    pending = iter(range(load.requests))
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    succeeded = finished = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal succeeded, finished
        for index in pending:
            started = time.perf_counter()
            try:
                response = await send(client, index)
            except Exception as exc:
                errors[describe(exc)] += 1
                finished += 1
                continue
            finished += 1
            latencies.append((time.perf_counter() - started) * 1000)
            if response.is_success:
                succeeded += 1
            else:
                errors[f"HTTP {response.status_code}"] += 1

    client_cpu = time.process_time()
    server_cpu = cpu_seconds(load.server_pid)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(RUN_SECONDS):
            await asyncio.gather(*(worker(client) for client in load.clients))
    except TimeoutError:
        errors[f"unanswered after {RUN_SECONDS:g} s"] += load.requests - finished
    elapsed = time.perf_counter() - started
    return Measurement(
        rate=succeeded / elapsed,
        latencies_ms=latencies,
        errors=errors,
        client_cores=(time.process_time() - client_cpu) / elapsed,
        server_cores=(cpu_seconds(load.server_pid) - server_cpu) / elapsed,
    )


def describe(exc: BaseException) -> str:
    """An exception as an error kind: its type and the first line of its message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0][:120]}" if text else type(exc).__name__


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (all its threads), NaN if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    # The fields after the command name (which may hold spaces) start at field 3, "state";
    # utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def http_clients(server: Server, concurrency: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``concurrency`` keep-alive HTTP/1.1 clients of one connection each, all connected."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=server.base_url,
                    headers={"X-User": ACTOR},
                    limits=limits,
                    timeout=httpx.Timeout(REQUEST_SECONDS),
                    trust_env=False,
                )
            )
            for _ in range(concurrency)
        ]
        # Connect now, so no strategy pays for connecting.
        responses = await asyncio.gather(*(client.get(READY_PATH) for client in clients))
        for response in responses:
            response.raise_for_status()
        yield clients


async def seed(client: httpx.AsyncClient, count: int) -> list[int]:
    """Create ``count`` records in one ``POST /records/batch``; their keys."""
    body = b"[" + b",".join(record_bodies(count, start=10**6)) + b"]"
    response = await client.post(f"/{COMPONENT}/batch", content=body, headers=JSON_HEADERS)
    if response.status_code != 201:
        raise ServerError(f"seeding answered {response.status_code}: {response.text[:200]}")
    return [int(item["id"]) for item in response.json()]


async def record_total(client: httpx.AsyncClient) -> int:
    """How many live records the server holds."""
    response = await client.get(f"/{COMPONENT}", params={"limit": 1})
    response.raise_for_status()
    return int(response.json()["total"])


# -- the server ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def server_command(port: int) -> list[str]:
    """The uvicorn command line of the benchmark server."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks._http_app:create_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
        "--lifespan",
        "on",
    ]


def log_tail(log: Path, lines: int = 20) -> str:
    """The last lines of the server's output."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def http_server(database: Path, log: Path) -> Iterator[Server]:
    """Run the benchmark server on ``database``; stop it on exit, whatever happened.

    Raises:
        ServerError: the server exited or was not ready within ``STARTUP_SECONDS``.

    """
    env = dict(os.environ)
    env[DATABASE_URL_VARIABLE] = f"sqlite:///{database.resolve()}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    with log.open("ab") as output:
        for attempt in range(1, START_ATTEMPTS + 1):
            port = free_port()
            process = start_process(server_command(port), env, output)
            try:
                server = Server(process, f"http://{HOST}:{port}", log)
                wait_ready(server)
            except ServerError:
                stop(process)
                # Another program may have taken the port between probing and binding.
                if attempt == START_ATTEMPTS or "address already in use" not in log_tail(log):
                    raise
                continue
            except BaseException:
                stop(process)
                raise
            try:
                yield server
            finally:
                stop(process)
            return


def start_process(
    command: list[str], env: dict[str, str], output: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start ``command`` in the project root, its output going to ``output``."""
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def wait_ready(server: Server) -> None:
    """Poll ``GET /bench/ready`` until it answers 200, for at most ``STARTUP_SECONDS``.

    Raises:
        ServerError: the process exited, or was not ready in time.

    """
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(base_url=server.base_url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            code = server.process.poll()
            if code is not None:
                raise ServerError(f"the server exited with {code}:\n{log_tail(server.log)}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(READY_PATH).status_code == 200:
                    return
            time.sleep(0.05)
    raise ServerError(
        f"the server was not ready after {STARTUP_SECONDS:g} s:\n{log_tail(server.log)}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server: SIGINT (a graceful uvicorn shutdown), then terminate, then kill."""
    if process.poll() is not None:
        return
    if os.name == "posix":
        process.send_signal(signal.SIGINT)
    else:
        process.terminate()
    for escalate in (process.terminate, process.kill):
        try:
            process.wait(timeout=STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            escalate()
    process.wait(timeout=STOP_SECONDS)


# -- the suite ----------------------------------------------------------------------------


def run(ctx: Context) -> list[Result]:
    """Every strategy at every concurrency, ``ctx.repeats`` times, interleaved, one server."""
    requests = ctx.size(3_000, 800)
    results = {
        (name, concurrency): Result(
            scenario=SCENARIO,
            strategy=name,
            label=f"{LABELS[name]}, {concurrency} in flight",
            unit=UNIT,
            params={"concurrency": concurrency},
            latencies_ms={"request": []},
        )
        for concurrency in CONCURRENCY
        for name in STRATEGIES
    }
    with ctx.tempdir() as directory:
        log = directory / "server.log"
        try:
            with http_server(directory / "http.db", log) as server:
                asyncio.run(measure(ctx, server, requests, results))
                code = server.process.poll()
                if code is not None:
                    raise ServerError(f"the server exited with {code}:\n{log_tail(log)}")
        finally:
            tail = log_tail(log)
            if tail:
                ctx.progress(f"{SCENARIO}: server output:\n{tail}")
    return list(results.values())


async def measure(
    ctx: Context, server: Server, requests: int, results: dict[tuple[str, int], Result]
) -> None:
    """Warm up, then run the strategies in rotating order and pool their figures."""
    names = list(STRATEGIES)
    posted = 0
    async with http_clients(server, max(CONCURRENCY)) as clients:
        ids = await seed(clients[0], SEED_RECORDS)
        for name in names:
            warmup = Load(clients, WARMUP_REQUESTS, ids, server.pid)
            measured = await STRATEGIES[name](warmup)
            if name == "vstorage_post":
                posted += WARMUP_REQUESTS - measured.errors.total()
    turn = 0
    for repeat in range(1, ctx.repeats + 1):
        for concurrency in CONCURRENCY:
            async with http_clients(server, concurrency) as clients:
                order = names[turn % len(names) :] + names[: turn % len(names)]
                turn += 1
                for name in order:
                    load = Load(clients, requests, ids, server.pid)
                    measured = await STRATEGIES[name](load)
                    if name == "vstorage_post":
                        posted += requests - measured.errors.total()
                    result = results[(name, concurrency)]
                    result.samples.append(measured.rate)
                    result.latencies_ms["request"].extend(measured.latencies_ms)
                    result.errors.update(measured.errors)
                    ctx.progress(progress_line(name, concurrency, repeat, ctx.repeats, measured))
    async with http_clients(server, 1) as clients:
        total = await record_total(clients[0])
    expected = SEED_RECORDS + posted
    if total != expected:
        ctx.progress(f"{SCENARIO}: {total:,} records stored, {expected:,} acknowledged")


def progress_line(
    name: str, concurrency: int, repeat: int, repeats: int, measured: Measurement
) -> str:
    """One strategy run, as the progress output shows it."""
    ordered = sorted(measured.latencies_ms)
    p50 = ordered[len(ordered) // 2] if ordered else math.nan
    failed = f", {measured.errors.total():,} failed" if measured.errors else ""
    return (
        f"{SCENARIO} {name} concurrency={concurrency} run {repeat}/{repeats}: "
        f"{measured.rate:,.0f} {UNIT}, p50 {p50:.1f} ms, CPU client {measured.client_cores:.2f}"
        f" server {measured.server_cores:.2f} cores{failed}"
    )
