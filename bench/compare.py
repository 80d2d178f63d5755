"""Paleon against the design it replaces, side by side in one run on this machine.

    pip install -e ".[bench]"        # celery and uvicorn, for the peer only
    python bench/compare.py [--photos small phone] [--seconds 30] [--clients 48] [--poll 1]

For each photo size, one after another: the raw pipeline in-process (the kit's raw.py), the
peer (the kit's FastAPI + Celery + Redis design, `../shared/bench/peer`: an external
baseline, not part of Paleon) and `paleon serve` on its embedded default, each under the
kit's closed-loop client (loadgen.py). Printed: images/s as a ratio to the peer's, submit
latency, poll latency (a probe polling one finished job during the measured window), and
Paleon's CPU per job and RSS per process kind (under load and idle after it).
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT.parent / "shared" / "bench"
BIN = Path(sys.executable).parent


def kind(process: psutil.Process) -> str:
    """A process of Paleon's stack by what it is: replica, job worker, Ray daemon, ..."""
    try:
        line = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    for needle, name in (("ServeReplica:paleon:Ingress", "Ingress"),
                         ("ServeReplica:paleon:VisionClassifier", "VisionClassifier"),
                         ("ServeReplica:paleon:Retriever", "Retriever"),
                         ("ProxyActor", "Serve proxy"), ("ServeController", "Serve controller"),
                         ("JobWorker", "job workers"), ("ray::IDLE", "idle Ray workers"),
                         ("haproxy", "HAProxy"), ("raylet", "Ray (raylet, GCS, agents)"),
                         ("gcs_server", "Ray (raylet, GCS, agents)"),
                         ("dashboard", "Ray (raylet, GCS, agents)"),
                         ("log_monitor", "Ray (raylet, GCS, agents)"),
                         ("milvus", "milvus-lite"), ("redis-server", "Redis"),
                         ("serve run", "paleon serve"), ("paleon serve", "paleon serve")):
        if needle in line:
            return name
    return "other"


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def snapshot(root: psutil.Process) -> dict[int, tuple[str, float, int]]:
    """pid → (kind, CPU seconds, RSS bytes) for every process below root."""
    out = {}
    for process in tree(root):
        try:
            times = process.cpu_times()
            out[process.pid] = (kind(process), times.user + times.system,
                                process.memory_info().rss)
        except psutil.Error:
            continue
    return out


def by_kind(before: dict, after: dict, jobs: int) -> dict[str, dict[str, float]]:
    cpu: dict[str, float] = defaultdict(float)
    rss: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for pid, (name, seconds, memory) in after.items():
        cpu[name] += seconds - (before.get(pid, (name, 0.0, 0))[1])
        rss[name] += memory
        count[name] += 1
    return {name: {"cpu_ms_per_job": 1000 * cpu[name] / max(jobs, 1),
                   "rss_mb": rss[name] / 2**20, "processes": count[name]} for name in cpu}


def loadgen(url: str, args: argparse.Namespace, photos: str, register: bool,
            clients: int | None = None, warmup: float | None = None) -> dict:
    clients = args.clients if clients is None else clients
    warmup = args.warmup if warmup is None else warmup
    command = [sys.executable, str(KIT / "loadgen.py"), url, "--clients", str(clients),
               "--seconds", str(args.seconds), "--poll", str(args.poll), "--warmup",
               str(warmup), "--photos", photos, "--json"]
    done = subprocess.run(command + (["--register"] if register else []), capture_output=True,
                          text=True, check=False, timeout=args.seconds + warmup + 300)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class PollProbe(threading.Thread):
    """One extra client that polls a finished job of its own every 0.1 s: the latency of
    GET /result under the load, without the load's own jobs' variance."""

    def __init__(self, base: str, headers: dict, job_id: str, start_at: float, stop_at: float):
        super().__init__(daemon=True)
        self.base, self.headers, self.job_id = base, headers, job_id
        self.start_at, self.stop_at = start_at, stop_at
        self.latencies: list[float] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as http:
            while time.time() < self.stop_at:
                began = time.time()
                response = http.get(f"/result/{self.job_id}")
                if began >= self.start_at and response.status_code == 200:
                    self.latencies.append(time.time() - began)
                time.sleep(0.1)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def raw_rate(photos: str) -> float:
    done = subprocess.run([sys.executable, str(KIT / "raw.py"), "--photos", photos,
                           "--threads", "1"], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().split(":")[-1].split()[0])


def peer(args: argparse.Namespace, photos: str, work: Path) -> dict:
    folder = work / "peer"
    env = {**os.environ, "PEER_THREADS": "2"}
    started = subprocess.run(["bash", str(KIT / "peer" / "run.sh"), sys.executable,
                              str(folder)], env=env, capture_output=True, text=True, check=False)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"the peer did not start: {started.stdout[-500:]}")
        return loadgen("http://127.0.0.1:8100", args, photos, register=False)
    finally:
        for pid_file in folder.glob("*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        time.sleep(3)


def _healthy(base: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(2)
    return False


def _probe_job(base: str, photo: bytes) -> tuple[dict, str]:
    import uuid

    name = "probe" + uuid.uuid4().hex[:8]
    token = httpx.post(f"{base}/auth/register", json={
        "email": f"{name}@example.com", "username": name,
        "password": "probe-password-123"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    job_id = httpx.post(f"{base}/classify-async/", headers=headers, timeout=60, files=[
        ("image_files", ("p.jpg", photo, "image/jpeg"))]).json()["job_id"]
    for _ in range(300):
        if httpx.get(f"{base}/result/{job_id}", headers=headers).json()["status"] in (
                "completed", "failed"):
            break
        time.sleep(0.2)
    return headers, job_id


def paleon(args: argparse.Namespace, photos: str, work: Path, gallery: Path) -> dict:
    from paleon.tools import sidecars

    folder = work / f"paleon-{photos}"
    folder.mkdir()
    redis_port = sidecars.free_port()
    redis = sidecars.start_redis(folder / "redis", redis_port, persistent=False)
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "MILVUS_URI": f"http://127.0.0.1:{sidecars.free_port()}",
           "DATA_DIR": str(folder / "data"), "TIER_LIMITS__FREE": "10000000",
           **dict(pair.split("=", 1) for pair in args.paleon_env)}
    log = (folder / "serve.log").open("wb")
    serve = subprocess.Popen([str(BIN / "paleon"), "serve"], env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    base = "http://127.0.0.1:8000"
    try:
        if not _healthy(base, 300):
            raise RuntimeError(f"paleon serve did not become healthy; see {folder}/serve.log")
        # The cold start: a 16-client burst the moment /health first answers 200, against
        # the same burst once warm (after the main run).
        cold = loadgen(base, args, photos, register=True, clients=16, warmup=0) \
            if args.cold_start else None
        subprocess.run([str(BIN / "paleon"), "ingest", str(gallery)], env=env, check=True,
                       capture_output=True)
        listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True,
                                   check=False).stdout
        (folder / "listening.txt").write_text(listening)
        sys.path.insert(0, str(KIT))
        from loadgen import photo

        headers, job_id = _probe_job(base, photo(1, photos))
        root = psutil.Process(serve.pid)
        result: dict = {}
        window = [0.0, 0.0]

        def measure() -> None:
            time.sleep(args.warmup)
            window[0] = time.time()
            result["before"] = snapshot(root)
            time.sleep(args.seconds)
            result["after"] = snapshot(root)

        now = time.time()
        probe = PollProbe(base, headers, job_id, now + args.warmup,
                          now + args.warmup + args.seconds)
        meter = threading.Thread(target=measure, daemon=True)
        probe.start()
        meter.start()
        load = loadgen(base, args, photos, register=True)
        meter.join()
        probe.join()
        time.sleep(10)  # idle after the load: what stays resident
        idle = snapshot(root)
        warm = loadgen(base, args, photos, register=True, clients=16, warmup=0) \
            if args.cold_start else None
        jobs = max(round(load["images_per_s"] * args.seconds), 1)
        cold_start = None if cold is None or warm is None else {
            "cold_images_per_s": cold["images_per_s"], "warm_images_per_s": warm["images_per_s"]}
        return {**load, "cold_start": cold_start, "seconds": args.seconds,
                "poll_p50_ms": 1000 * percentile(probe.latencies, 50),
                "poll_p99_ms": 1000 * percentile(probe.latencies, 99),
                "processes": by_kind(result["before"], result["after"], jobs),
                "idle_rss_mb": sum(rss for _, _, rss in idle.values()) / 2**20,
                "load_rss_mb": sum(rss for _, _, rss in result["after"].values()) / 2**20}
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        sidecars.stop(redis)
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, check=False)


def write_gallery(folder: Path) -> None:
    """10 labels × 100 photos of the kit's kind, for Paleon to search (the peer searches
    1000 random vectors of its own)."""
    sys.path.insert(0, str(KIT))
    from loadgen import photo

    for i in range(1000):
        label = folder / f"group{i % 10}"
        label.mkdir(parents=True, exist_ok=True)
        (label / f"{i}.jpg").write_bytes(photo(10_000 + i))


def report(photos: str, raw: float, peer_run: dict, paleon_run: dict) -> None:
    ratio = paleon_run["images_per_s"] / max(peer_run["images_per_s"], 1e-9)
    print(f"\n## {photos} photos")
    print(f"raw in-process (1 thread): {raw:.1f} images/s")
    print(f"peer:   {peer_run['images_per_s']:.1f} images/s, submit p50 "
          f"{peer_run['submit_p50_ms']:.0f} ms, p99 {peer_run['submit_p99_ms']:.0f} ms")
    print(f"paleon: {paleon_run['images_per_s']:.1f} images/s = {ratio:.2f} × peer, submit p50 "
          f"{paleon_run['submit_p50_ms']:.0f} ms, p99 {paleon_run['submit_p99_ms']:.0f} ms, "
          f"poll p50 {paleon_run['poll_p50_ms']:.1f} ms, p99 {paleon_run['poll_p99_ms']:.1f} ms,"
          f" errors {paleon_run['errors'] or 'none'}")
    if paleon_run.get("cold_start"):
        cold = paleon_run["cold_start"]
        print(f"cold start, 16 clients: {cold['cold_images_per_s']:.1f} images/s in the first "
              f"{paleon_run['seconds']:.0f} s after healthy, {cold['warm_images_per_s']:.1f} "
              f"warm = {cold['cold_images_per_s'] / max(cold['warm_images_per_s'], 1e-9):.2f}")
    print(f"paleon RSS: {paleon_run['load_rss_mb']:.0f} MB under load, "
          f"{paleon_run['idle_rss_mb']:.0f} MB idle after it")
    print("| process | CPU ms per job | RSS MB | processes |\n|---|---|---|---|")
    rows = sorted(paleon_run["processes"].items(), key=lambda kv: -kv[1]["cpu_ms_per_job"])
    for name, row in rows:
        print(f"| {name} | {row['cpu_ms_per_job']:.1f} | {row['rss_mb']:.0f} | "
              f"{row['processes']} |")
    outside = sum(row["cpu_ms_per_job"] for name, row in rows
                  if name not in ("VisionClassifier",))
    print(f"CPU per job outside the classifier: {outside:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", nargs="+", choices=["small", "phone"],
                        default=["small", "phone"])
    parser.add_argument("--systems", nargs="+", choices=["raw", "peer", "paleon"],
                        default=["raw", "peer", "paleon"])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=20)
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--json", metavar="FILE", help="also write every figure there")
    parser.add_argument("--paleon-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="extra environment for paleon serve (e.g. a Serve flag to try)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--cold-start", action="store_true",
                        help="also a 16-client burst right after healthy, and once warm")
    args = parser.parse_args()
    if not KIT.is_dir():
        sys.exit(f"the measuring kit is not at {KIT}")
    scratch = tempfile.mkdtemp(prefix="paleon-compare-")
    try:
        work = Path(scratch)
        write_gallery(work / "gallery")
        results = {}
        for photos in args.photos:
            raw = raw_rate(photos) if "raw" in args.systems else float("nan")
            peer_run = peer(args, photos, work) if "peer" in args.systems else {
                "images_per_s": float("nan"), "submit_p50_ms": float("nan"),
                "submit_p99_ms": float("nan")}
            paleon_run = paleon(args, photos, work, work / "gallery") \
                if "paleon" in args.systems else None
            if paleon_run is not None:
                report(photos, raw, peer_run, paleon_run)
            results[photos] = {"raw": raw, "peer": peer_run, "paleon": paleon_run}
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    finally:
        if args.keep:
            print(f"scratch folder: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
