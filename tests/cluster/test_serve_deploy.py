"""`serve deploy` of serve_config.yaml on a `ray start --head` cluster with token auth.

Run apart from the rest of the suite (scripts/test.sh does: `pytest -m cluster`), because
`ray stop` stops every Ray on the machine, the session cluster of the other tests included.
"""

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from redis import Redis

from jobs.keys import JobKeys
from paleon.tools import gallery, sidecars
from tests.support import photo, register, run_cli, wait_for

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A loopback Ray head with RAY_AUTH_MODE=token, Redis and Milvus; torn down after."""
    work = tmp_path_factory.mktemp("cluster")
    redis_port, milvus_port = sidecars.free_port(), sidecars.free_port()
    redis = sidecars.start_redis(work / "redis", redis_port, persistent=False)
    milvus = sidecars.start_milvus(work / "milvus", milvus_port)
    gcs, dashboard, http = (sidecars.free_port() for _ in range(3))
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "ENVIRONMENT": "test", "DATA_DIR": str(work / "data"),
        "DATABASE_URL": f"sqlite:///{work / 'users.db'}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MILVUS_URI": f"http://127.0.0.1:{milvus_port}",
        "JWT_SECRET": secrets.token_urlsafe(48), "API_KEY_PEPPER": secrets.token_urlsafe(48),
        "SHUTDOWN_GRACE_S": "0",  # hand every in-flight job back at once when scaled down
        # Deadlines far off: a job that completes soon after a downscale was handed back.
        "JOB_PENDING_TIMEOUT_S": "120", "JOB_PROCESSING_TIMEOUT_S": "120",
        "TIER_LIMITS__FREE": "1000",
    }
    env.pop("RAY_ADDRESS", None)
    started = subprocess.run(
        [str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2",
         "--disable-usage-stats"], env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield {"env": env, "work": work, "gcs": f"127.0.0.1:{gcs}",
               "dashboard": f"http://127.0.0.1:{dashboard}", "url": f"http://127.0.0.1:{http}",
               "http_port": http}
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True,
                       timeout=120)
        sidecars.stop(milvus)
        sidecars.stop(redis)


def config(cluster, classifier_batch: int = 8, ingress_replicas: int | None = None) -> Path:
    """serve_config.yaml as shipped, on the test's HTTP port, with the test's changes."""
    data = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    data["http_options"]["port"] = cluster["http_port"]
    deployments = {d["name"]: d for d in data["applications"][0]["deployments"]}
    deployments["VisionClassifier"]["user_config"]["max_batch_size"] = classifier_batch
    if ingress_replicas:
        deployments["Ingress"]["autoscaling_config"].update(
            min_replicas=ingress_replicas, max_replicas=ingress_replicas)
    path = cluster["work"] / f"serve-{classifier_batch}-{ingress_replicas}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(cluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "serve"), *args, "--address", cluster["dashboard"]],
                          env=cluster["env"], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def deploy_and_wait(cluster, path: Path, replicas: dict[str, int] | None = None) -> dict:
    cli(cluster, "deploy", str(path))
    deadline = time.time() + 300
    while time.time() < deadline:
        status = yaml.safe_load(cli(cluster, "status").stdout)
        app = status["applications"].get("paleon", {})
        deployments = app.get("deployments", {})
        if app.get("status") == "RUNNING" and all(
                d["status"] == "HEALTHY" for d in deployments.values()) and (
                replicas is None or all(
                    len(actors(cluster).get(name, [])) == count
                    for name, count in replicas.items())):
            return status
        time.sleep(2)
    pytest.fail(f"not RUNNING after 300 s: {status}")


def actors(cluster) -> dict[str, list[str]]:
    """Live replica actor ids per deployment, from the dashboard's Serve API (token auth)."""
    response = httpx.get(f"{cluster['dashboard']}/api/serve/applications/", timeout=30,
                         headers={"Authorization": f"Bearer {cluster['env']['RAY_AUTH_TOKEN']}"})
    response.raise_for_status()
    deployments = response.json()["applications"]["paleon"]["deployments"]
    return {name: sorted(r["actor_id"] for r in d["replicas"] if r["state"] == "RUNNING")
            for name, d in deployments.items()}


def classifier_info(cluster) -> dict:
    script = ("import json, ray\nfrom ray import serve\n"
              f"ray.init(address={cluster['gcs']!r}, log_to_driver=False)\n"
              "handle = serve.get_deployment_handle('VisionClassifier', 'paleon')\n"
              "print(json.dumps(handle.info.remote().result()))\n")
    done = subprocess.run([sys.executable, "-c", script], env=cluster["env"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_token_guards_the_dashboard(cluster):
    response = httpx.get(f"{cluster['dashboard']}/api/serve/applications/", timeout=30)
    assert response.status_code in (401, 403)


def test_deploy_classify_reconfigure_and_scale_down(cluster, tmp_path):
    status = deploy_and_wait(cluster, config(cluster))
    assert set(status["applications"]["paleon"]["deployments"]) == {
        "Ingress", "VisionClassifier", "Retriever"}

    # A classify round trip through the deployed app, against an ingested gallery.
    gallery.write_gallery(tmp_path / "g", per_class=6, classes=("ammonoids", "ferns"))
    ingest = run_cli("ingest", str(tmp_path / "g"), env=cluster["env"])
    assert ingest.returncode == 0, ingest.stderr
    http = httpx.Client(base_url=cluster["url"], timeout=30)
    headers = register(http)["headers"]

    def submit(label: str, photos: int = 1) -> str:
        files = [photo(f"{i}.jpg", data) for i, data in enumerate(gallery.held_out(label, photos))]
        response = http.post("/classify-async/", headers=headers, files=files)
        assert response.status_code == 200, response.text
        return response.json()["job_id"]

    def finished(job_id: str) -> dict:
        return wait_for(http, job_id, headers, timeout=180)

    job = finished(submit("ferns"))
    assert job["status"] == "completed"
    assert job["result"]["identification"]["taxon_id"] == "ferns"

    # A new batch size in user_config: applied by reconfigure(), no replica restarted.
    before = actors(cluster)
    assert classifier_info(cluster)["max_batch_size"] == 8
    deploy_and_wait(cluster, config(cluster, classifier_batch=4))
    deadline = time.time() + 60
    while classifier_info(cluster)["max_batch_size"] != 4 and time.time() < deadline:
        time.sleep(1)
    assert classifier_info(cluster)["max_batch_size"] == 4
    assert actors(cluster) == before, "redeploying user_config restarted replicas"

    # Scale the ingress to two, then back to one while jobs run: none may be lost.
    deploy_and_wait(cluster, config(cluster, 4, ingress_replicas=2), {"Ingress": 2})
    jobs = [submit("ammonoids" if i % 2 else "ferns", photos=3) for i in range(16)]
    scaled = time.monotonic()
    deploy_and_wait(cluster, config(cluster, 4, ingress_replicas=1), {"Ingress": 1})
    results = [finished(job_id) for job_id in jobs]
    took = time.monotonic() - scaled
    assert [r["status"] for r in results] == ["completed"] * len(jobs), [
        r.get("error") for r in results]
    retried = sum(r["attempt"] > 1 for r in results)
    print(f"{retried} of {len(jobs)} jobs were handed back by the replica going away; "
          f"all done {took:.0f} s after the downscale began")
    # Retried because the replica going away handed them back, not because a deadline
    # passed: the record counts every hand-back (speed is for bench/, not for this test).
    store = Redis.from_url(cluster["env"]["REDIS_URL"])
    for job_id, result in zip(jobs, results, strict=True):
        handed_back = int(store.hget(JobKeys.of(job_id).job, "handed_back") or 0)
        assert handed_back == result["attempt"] - 1, (job_id, result["attempt"], handed_back)
