"""The README's run command: `paleon serve` starts what is missing and stops it on Ctrl-C."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from configs import Settings
from paleon.tools import gallery, serve_command, sidecars

ROOT = Path(__file__).resolve().parent.parent


def test_a_remote_service_that_does_not_answer_is_one_clear_error(tmp_path):
    port = sidecars.free_port()
    # Loopback, but not the address Paleon starts its own Redis on: treated as remote.
    settings = Settings(redis_url=f"redis://127.0.0.2:{port}/0", data_dir=tmp_path)
    with pytest.raises(sidecars.SidecarError, match="REDIS_URL"):
        serve_command._ensure_services(settings, [])


def test_a_private_service_that_exits_is_started_again(tmp_path, capsys):
    port = sidecars.free_port()
    redis = sidecars.Sidecar("Redis", lambda: sidecars.start_redis(tmp_path / "redis", port))
    keeper = sidecars.Keeper([redis], interval_s=0.2)
    keeper.start()
    try:
        first = redis.process
        first.kill()  # as if it crashed
        deadline = time.monotonic() + 20
        while redis.process is first or not sidecars.answers("127.0.0.1", port):
            assert time.monotonic() < deadline, "not started again"
            time.sleep(0.2)
    finally:
        keeper.stop()
        redis.stop()
    said = capsys.readouterr().err
    assert "the private Redis exited with code -9; starting it again in 1 s" in said
    assert "the private Redis is running again" in said


@pytest.mark.parametrize("flags", [["--dashboard"], ["--high-throughput"]],
                         ids=["default+dashboard", "high-throughput"])
def test_paleon_serve_runs_the_embedded_default(tmp_path, flags):
    http_port, redis_port, milvus_port = (sidecars.free_port() for _ in range(3))
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    config["http_options"]["port"] = http_port
    config_path = tmp_path / "serve_config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MILVUS_URI": f"http://127.0.0.1:{milvus_port}",
        "RAY_ADDRESS": "local",  # a cluster of its own, beside the suite's
    }
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([str(Path(sys.executable).with_name("paleon")), "serve",
                               "--config", str(config_path), *flags],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "paleon serve did not become healthy"
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert sidecars.answers("127.0.0.1", redis_port)
        assert (tmp_path / "data" / "redis").is_dir()  # private, append-only Redis
        kept = tmp_path / "data" / "secrets.json"  # never the placeholder secret
        assert kept.stat().st_mode & 0o777 == 0o600
        with httpx.Client(base_url=base, timeout=60) as http:
            token = http.post("/auth/register", json={
                "email": "serve@example.com", "username": "serve", "password": "serve-pass-1"
            }).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            coral = gallery.held_out("tabulate_corals", 1)[0]
            files = [("image_files", ("a.jpg", coral, "image/jpeg"))]
            job_id = http.post("/classify-async/", headers=headers, files=files).json()["job_id"]
            for _ in range(120):
                job = http.get(f"/result/{job_id}", headers=headers).json()
                if job["status"] == "completed":
                    break
                time.sleep(0.5)
            assert job["status"] == "completed" and job["result"]["warnings"]
            # paleon serve wrote the knowledge base into Milvus before deploying.
            found = http.get("/knowledge/search", headers=headers,
                             params={"q": "coiled shell with suture lines"}).json()
            assert found and found[0]["entry"]["description"]
        # Ray's workers start at niceness 0 under `paleon serve` (Ray's own default is 15),
        # so the replica serving requests runs first and what does a job's work below it.
        # A Ray worker's title is its actor, then the method it is running, if any.
        processes = psutil.Process(server.pid).children(recursive=True)
        lines = [" ".join(process.cmdline()) for process in processes]
        priority = {line: (process.nice(), os.sched_getscheduler(process.pid))
                    for process, line in zip(processes, lines, strict=True)}

        def of(needle: str) -> tuple[int, int]:
            return next(p for line, p in priority.items() if needle in line)

        assert of("ray::ServeReplica:paleon:Ingress") == (0, os.SCHED_OTHER), priority
        work = Settings().jobs.work_priority
        assert work.idle  # the default: SCHED_IDLE
        for name in ("ray::JobWorker", "ray::ServeReplica:paleon:VisionClassifier",
                     "ray::ServeReplica:paleon:Retriever", "milvus-lite server"):
            assert of(name) == (work.niceness, os.SCHED_IDLE), (name, priority)
        # Only what serving needs: no autoscaler monitor, log monitor or idle Ray worker.
        for unneeded in ("autoscaler/_private/monitor.py", "log_monitor.py", "ray::IDLE"):
            assert not any(unneeded in line for line in lines), (unneeded, lines)
        # The setup hook reached Serve's own actors and the replicas: no pandas or pyarrow
        # loaded where nothing searches Milvus (paleon/worker_setup.py).
        by_title = {line.split()[0].split(".")[0]: process
                    for process, line in zip(processes, lines, strict=True) if line}
        for title in ("ray::ServeController", "ray::ProxyActor", "ray::JobWorker",
                      "ray::ServeReplica:paleon:Ingress",
                      "ray::ServeReplica:paleon:VisionClassifier"):
            mapped = {m.path for m in by_title[title].memory_maps()}
            assert not any("/pandas/" in p or "/pyarrow/" in p for p in mapped), title
        # The Ingress and its job workers hand large buffers back (serve_config.yaml).
        for title in ("ray::ServeReplica:paleon:Ingress", "ray::JobWorker"):
            assert by_title[title].environ().get("MALLOC_MMAP_THRESHOLD_") == "1048576"
        if "--dashboard" in flags:
            output = (tmp_path / "serve.log").read_text()
            url = re.search(r"Ray dashboard: (http://127\.0\.0\.1:\d+)", output).group(1)
            assert httpx.get(f"{url}/api/serve/applications/", timeout=30).status_code in (
                401, 403)  # token authentication is on
            token = subprocess.run([str(Path(sys.executable).with_name("ray")),
                                    "get-auth-token"], env=env, capture_output=True,
                                   text=True, timeout=60).stdout.strip().splitlines()[-1]
            apps = httpx.get(f"{url}/api/serve/applications/", timeout=30,
                             headers={"Authorization": f"Bearer {token}"}).json()
            ingress = apps["applications"]["paleon"]["deployments"]["Ingress"]
            assert ingress["status"] == "HEALTHY" and ingress["replicas"]
            # The default's HTTP front: HAProxy on the public port, the replica behind it.
            front = (tmp_path / "data" / "front" / "haproxy.cfg").read_text()
            assert f"bind 127.0.0.1:{http_port}" in front
            assert f"HTTP on 127.0.0.1:{http_port} (HAProxy" in output
        else:  # Ray starts without its dashboard unless asked for
            assert "View the dashboard at" not in (tmp_path / "serve.log").read_text()
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        server.wait(timeout=120)
        log.close()
    assert not sidecars.answers("127.0.0.1", redis_port)
    assert not sidecars.answers("127.0.0.1", milvus_port)
    assert not sidecars.answers("127.0.0.1", http_port)
