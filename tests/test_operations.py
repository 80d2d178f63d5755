"""Operations on the running app: CORS, checks ahead of the body, /metrics, JSON logs."""

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from auth import api_keys
from paleon.tools import gallery
from tests.support import CORS_ORIGIN, METRICS_TOKEN, photo, wait_for

JPEG = gallery.held_out("crinoids", 1)[0]


def test_cors_allows_the_configured_origin_only(api):
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = api.options("/classify-async/", headers={"Origin": CORS_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = api.options("/classify-async/",
                          headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    # Simple requests: the header, and the ids a front end must read, are exposed.
    health = api.get("/health", headers={"Origin": CORS_ORIGIN})
    assert health.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "X-Request-ID" in health.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in api.get(
        "/health", headers={"Origin": "https://evil.example"}).headers


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "paleon_bad"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"X-API-Key": api_keys.generate()},  # well formed, checksum right, but nobody's key
    {"Authorization": f"ApiKey {api_keys.generate()}"},
], ids=["none", "bad-token", "bad-key", "basic", "unknown-key", "unknown-key-scheme"])
def test_uploads_without_valid_credentials_are_refused_before_the_body(client, headers):
    consumed = 0

    def body():  # 8 MB, streamed: the 401 must not wait for it
        nonlocal consumed
        for _ in range(128):
            consumed += 65536
            yield b"x" * 65536

    try:
        response = client.post("/classify-async/", content=body(), headers={
            **headers, "Content-Type": "multipart/form-data; boundary=b"})
    except httpx.HTTPError:
        pytest.fail("the server should answer, not drop the connection")
    assert response.status_code == 401, response.text
    assert response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_metrics_are_the_global_view(client, pro_user):
    assert client.get("/metrics").status_code == 401
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401

    def scrape() -> dict[str, float]:
        response = client.get("/metrics", headers=auth)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in response.text.splitlines() if line and not line.startswith("#")}

    before = scrape()
    job_id = client.post("/classify-async/", headers=pro_user["headers"],
                         files=[photo(data=JPEG)]).json()["job_id"]
    wait_for(client, job_id, pro_user["headers"])
    after = scrape()
    submitted = 'paleon_jobs_total{status="submitted"}'
    assert after[submitted] >= before.get(submitted, 0) + 1
    assert after['paleon_jobs_total{status="completed"}'] >= 1
    for name in ('paleon_jobs_unfinished{status="pending"}',
                 'paleon_jobs_unfinished{status="processing"}', "paleon_queue_depth",
                 "paleon_oldest_pending_job_age_seconds"):
        assert after[name] >= 0


@pytest.fixture(scope="module")
def session_logs(serve_app) -> Path:
    import ray

    return Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"


def test_logs_are_json_with_ids_and_without_secrets(client, user, session_logs):
    key = client.post("/auth/api-keys", headers=user["headers"], json={"name": "logs"}).json()
    response = client.post("/classify-async/", headers={"X-API-Key": key["key"]},
                           files=[photo(data=JPEG)])
    job_id, request_id = response.json()["job_id"], response.json()["request_id"]
    wait_for(client, job_id, user["headers"])
    token = user["headers"]["Authorization"].removeprefix("Bearer ")

    def records() -> list[dict]:
        out = []
        for path in session_logs.rglob("*"):
            if path.is_file() and path.suffix in (".log", ".err", ".out"):
                for line in path.read_text(errors="replace").splitlines():
                    if job_id in line and line.startswith("{"):
                        out.append(json.loads(line))
        return out

    deadline = time.time() + 30  # Serve buffers log records briefly
    while time.time() < deadline and not (
            any(r.get("request_id") == request_id and "submitted" in r.get("message", "")
                for r in records())
            and any(r.get("component") == "job" for r in records())):
        time.sleep(1)
    found = records()
    submitted = [r for r in found if r.get("request_id") == request_id
                 and "submitted" in r.get("message", "")]
    assert submitted and submitted[0].get("job_id") == job_id, found  # the ingress, in Serve
    assert any(r.get("component") == "job" and r.get("job_id") == job_id and
               "completed" in r["message"] for r in found)  # the task worker
    for path in session_logs.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for secret in (token, key["key"], user["password"], METRICS_TOKEN):
                assert secret not in text, f"a secret is in {path.name}"
            assert not re.search(r"/9j/4AAQ|\\xff\\xd8\\xff", text), f"photo bytes in {path.name}"


def test_the_ingress_had_its_job_workers_up_before_it_was_ready(serve_app, session_logs):
    ready = [(int(up), int(made)) for path in session_logs.rglob("*.log") if path.is_file()
             for up, made in re.findall(r"(\d+) of (\d+) job worker\(s\) ready",
                                        path.read_text(errors="replace"))]
    assert ready and all(up == made >= 1 for up, made in ready), ready


def test_serve_build_describes_the_same_deployments(tmp_path):
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "built.yaml"
    done = subprocess.run([str(Path(sys.executable).with_name("serve")), "build",
                           "deployments.default_app:app", "-o", str(out)], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    built = yaml.safe_load(out.read_text())["applications"][0]
    ours = yaml.safe_load((root / "serve_config.yaml").read_text())["applications"][0]
    assert built["import_path"] == "deployments.default_app:app"
    assert ours["import_path"] == "deployments.app:build_app"
    assert {d["name"] for d in built["deployments"]} == {d["name"] for d in ours["deployments"]}


def test_deployment_metrics_reach_rays_exporter(serve_app, client, pro_user):
    import ray

    node = ray._private.worker._global_node
    url = f"http://{node.node_ip_address}:{node.metrics_export_port}/metrics"
    job_id = client.post("/classify-async/", headers=pro_user["headers"],
                         files=[photo(data=JPEG)]).json()["job_id"]
    wait_for(client, job_id, pro_user["headers"])
    wanted = ("paleon_jobs_submitted", "paleon_classifier_batch_size",
              "paleon_retrieval_latency_ms", "paleon_job_duration_s", "paleon_job_queue_wait_s",
              "paleon_job_attempts_finished")
    deadline = time.time() + 90  # Ray's agents report every few seconds
    missing = wanted
    while time.time() < deadline:
        try:
            text = httpx.get(url, timeout=10).text
        except httpx.HTTPError:
            text = ""
        missing = [name for name in wanted if name not in text]
        if not missing:
            break
        time.sleep(3)
    assert not missing, f"not exported: {missing}"
