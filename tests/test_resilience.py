"""Jobs survive a killed worker; /health names what is down."""

import os
import signal
import time
from contextlib import contextmanager

import psutil
import pytest

from jobs.keys import JobKeys
from paleon.tools import gallery
from tests.support import photo, wait_for


def processes(title: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(title in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


@contextmanager
def paused(pids: list[int]):
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_a_job_whose_worker_is_killed_is_retried(client, pro_user, redis, serve_app):
    classifier = [p.pid for p in processes("ServeReplica:paleon:VisionClassifier")]
    assert classifier, "no classifier replica process found"
    with paused(classifier):  # the job's task will block mid-job, waiting for embeddings
        response = client.post("/classify-async/", headers=pro_user["headers"],
                               files=[photo(data=gallery.held_out("trilobites", 1)[0])])
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 60
        while not redis.hget(JobKeys.of(job_id).job, "worker_pid"):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
        assert client.get(f"/result/{job_id}", headers=pro_user["headers"]).json()["status"] \
            == "processing"
        os.kill(int(redis.hget(JobKeys.of(job_id).job, "worker_pid")), signal.SIGKILL)
    job = wait_for(client, job_id, pro_user["headers"], timeout=90)
    assert job["status"] == "completed", job
    assert job["attempt"] == 2


@pytest.mark.parametrize("service", ["milvus", "redis"])
def test_health_is_503_naming_what_is_down(client, milvus_server, settings, service):
    port = settings["redis_url"].rsplit(":", 1)[1].split("/")[0]
    pid = (milvus_server["process"].pid if service == "milvus"
           else processes(f"127.0.0.1:{port}")[0].pid)
    with paused([pid]):
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and body["checks"][service].startswith("unavailable")
    assert service in body["detail"]
    assert client.get("/health").status_code == 200
