"""The demo machine app, served by uvicorn on a free loopback port, over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "machine_app.py"),
            "--port",
            str(port),
            "--db",
            str(tmp_path / "machine.db"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    started = threading.Event()
    log: list[str] = []

    def watch() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            if "Application startup complete" in line:
                started.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        if not started.wait(timeout=60):
            raise AssertionError("the demo did not start:\n" + "".join(log))
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        watcher.join(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
    assert "Traceback" not in "".join(log), "".join(log)


def test_demo_over_real_http(server: str) -> None:
    with httpx.Client(base_url=server, headers={"X-User": "operator-7"}, timeout=30) as client:
        recipes = client.get("/recipes").json()
        assert recipes["total"] == 3
        run = client.post(
            "/runs", json={"recipe_id": recipes["items"][0]["id"], "planned_parts": 10}
        )
        assert run.status_code == 201
        finished = client.patch(
            f"/runs/{run.json()['id']}", json={"status": "done", "good_parts": 9}
        )
        assert finished.status_code == 200
        alarms = client.get("/alarms", params={"code": "RUN-DONE"}).json()
        assert alarms["total"] == 1 and "9 good, 1 short" in alarms["items"][0]["message"]
        refused = client.post("/runs", json={"recipe_id": 999})
        assert refused.status_code == 422
        too_fast = client.patch(
            f"/recipes/{recipes['items'][0]['id']}", json={"spindle_rpm": 10**6}
        )
        assert too_fast.status_code == 422
        audit = client.get("/db/audit", params={"actor": "operator-7"}).json()["items"]
        assert [e["component"] for e in audit[:2]] == ["alarms", "runs"]
        assert client.get("/db/health").json()["status"] == "ok"
        assert client.get("/openapi.json").json()["paths"]["/runs"]
