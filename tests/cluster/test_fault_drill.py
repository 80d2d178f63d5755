"""The fault drill: `paleon serve` under load while a classifier replica, the Ingress
replica and the private Redis are killed (-9). No accepted job is lost, and nothing
answers 500: a dependency that is down is 503 with Retry-After.

In the cluster tier, because `paleon serve` starts a Ray of its own.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from paleon.tools import gallery, sidecars
from tests.support import Receiver

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 6


def _process(name: str) -> psutil.Process:
    for process in psutil.process_iter(["cmdline"]):
        if any(name in part for part in process.info["cmdline"] or ()):
            return process
    raise AssertionError(f"no process {name!r}")


def _healthy(base: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError("paleon serve did not become healthy")


class Clients:
    """Closed-loop clients, like the seed's front ends: submit one photo, poll it until it
    ends, repeat. Every job accepted is noted; a job is done only once it completed."""

    def __init__(self, base: str, headers: dict, webhook: str):
        self.base, self.headers, self.webhook = base, headers, webhook
        self.accepted: list[str] = []
        self.statuses: Counter = Counter()
        self.stop = threading.Event()
        self.photo = gallery.held_out("ammonoids", 1)[0]
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(CLIENTS)]

    def _call(self, http: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response | None:
        try:
            answer = http.request(method, path, headers=self.headers, **kwargs)
        except httpx.HTTPError:
            self.statuses["connection error"] += 1
            return None
        self.statuses[answer.status_code] += 1
        return answer

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while not self.stop.is_set():
                files = [("image_files", ("a.jpg", self.photo, "image/jpeg"))]
                answer = self._call(http, "POST", "/classify-async/", files=files,
                                    data={"webhook": self.webhook})
                if answer is None or answer.status_code != 200:
                    time.sleep(1)
                    continue
                job_id = answer.json()["job_id"]
                self.accepted.append(job_id)
                while not self.stop.is_set():
                    time.sleep(1)
                    polled = self._call(http, "GET", f"/result/{job_id}")
                    if polled is not None and polled.status_code == 200 and \
                            polled.json()["status"] in ("completed", "failed"):
                        break


def test_nothing_accepted_is_lost_and_nothing_is_500(tmp_path):
    http_port, redis_port, milvus_port = (sidecars.free_port() for _ in range(3))
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    config["http_options"]["port"] = http_port
    config_path = tmp_path / "serve_config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"),
           "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",  # paleon serve's own, with AOF
           "MILVUS_URI": f"http://127.0.0.1:{milvus_port}", "RAY_ADDRESS": "local",
           "TIER_LIMITS__FREE": "100000",
           # Overdue soon, so the reaper retries what a killed replica left behind.
           "JOB_PENDING_TIMEOUT_S": "20", "JOB_PROCESSING_TIMEOUT_S": "20",
           "REAPER_INTERVAL_S": "1"}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([str(Path(sys.executable).with_name("paleon")), "serve",
                               "--config", str(config_path)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    base = f"http://127.0.0.1:{http_port}"
    receiver = Receiver()
    try:
        _healthy(base, 300)
        token = httpx.post(f"{base}/auth/register", json={
            "email": "drill@example.com", "username": "drill", "password": "drill-pass-1"},
            timeout=60).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        clients = Clients(base, headers, receiver.url)
        for thread in clients.threads:
            thread.start()
        time.sleep(10)
        _process("ServeReplica:paleon:VisionClassifier").kill()
        time.sleep(15)
        before_kill = set(clients.accepted)
        _process("ServeReplica:paleon:Ingress").kill()
        killed_at = len(receiver.deliveries)
        time.sleep(20)
        redis = next(p for p in psutil.Process(server.pid).children(recursive=True)
                     if p.name() == "redis-server")
        redis.kill()
        time.sleep(15)
        clients.stop.set()
        for thread in clients.threads:
            thread.join(timeout=60)

        assert 500 not in clients.statuses, clients.statuses
        assert clients.statuses[200] > 20, clients.statuses
        # Every job that was accepted ends, completed (Redis came back from its AOF).
        pending = set(clients.accepted)
        deadline = time.monotonic() + 180
        with httpx.Client(base_url=base, timeout=30, headers=headers) as http:
            while pending and time.monotonic() < deadline:
                for job_id in list(pending):
                    try:
                        answer = http.get(f"/result/{job_id}")
                    except httpx.HTTPError:
                        continue
                    assert answer.status_code in (200, 503), answer.text
                    if answer.status_code == 200 and answer.json()["status"] == "completed":
                        pending.discard(job_id)
                    elif answer.status_code == 200:
                        assert answer.json()["status"] in ("pending", "processing"), answer.text
                time.sleep(1)
        assert not pending, f"{len(pending)} of {len(clients.accepted)} accepted jobs lost"
        # Every job's `completed` webhook arrives, those of jobs the killed Ingress replica
        # accepted included, delivered after it was gone.
        expected = {f"msg_{job_id}_completed" for job_id in clients.accepted}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not expected <= receiver.ids():
            time.sleep(1)
        assert expected <= receiver.ids(), f"{len(expected - receiver.ids())} never delivered"
        # What the killed replica's jobs were still owed when it went is delivered after it
        # (how many depends on how far the work had got: none may be owed).
        delivered = [d["headers"]["webhook-id"] for d in receiver.deliveries]
        owed = {f"msg_{job_id}_completed" for job_id in before_kill} - set(delivered[:killed_at])
        assert owed <= set(delivered[killed_at:])
        said = (tmp_path / "serve.log").read_text()
        assert "the private Redis is running again" in said
    finally:
        receiver.close()
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
