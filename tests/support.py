"""Plain helpers the test modules share; the fixtures that start services are in conftest.py."""

import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from paleon.tools import gallery

CORS_ORIGIN = "http://localhost:5173"  # a front end in development
METRICS_TOKEN = secrets.token_urlsafe(24)
JPEG = gallery.held_out("ammonoids", 1)[0]


def photo(name: str = "a.jpg", data: bytes = JPEG, kind: str = "image/jpeg") -> tuple:
    """One `image_files` part of a multipart upload."""
    return ("image_files", (name, data, kind))


def wait_for(client: httpx.Client, job_id: str, headers: dict, timeout: float = 60) -> dict:
    """Poll /result/{job_id} until the job is completed or failed; returns the job."""
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = client.get(f"/result/{job_id}", headers=headers).json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def register(http: httpx.Client) -> dict:
    """A fresh user; returns {"id", "email", "password", "headers"}."""
    name = "u" + uuid.uuid4().hex[:12]
    body = {"email": f"{name}@Example.com", "username": name, "password": "fossil-hunter-42"}
    response = http.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    return {"id": response.json()["user"]["id"], "email": body["email"],
            "password": body["password"], "headers": {"Authorization": f"Bearer {token}"}}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The installed `paleon` command, next to this interpreter, with `env` over os.environ."""
    command = [str(Path(sys.executable).with_name("paleon")), *args]
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=600, check=False)


class Receiver:
    """A webhook receiver on loopback: records each delivery, answers from a script."""

    def __init__(self, answers=()):
        self.answers = list(answers)  # status codes to give first; then 200
        self.deliveries: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append({"headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/paleon"

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.deliveries) >= count, self.deliveries
        return self.deliveries

    def ids(self) -> set[str]:
        return {delivery["headers"]["webhook-id"] for delivery in list(self.deliveries)}

    def close(self) -> None:
        self.server.shutdown()
