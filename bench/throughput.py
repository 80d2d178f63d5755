"""Encoder images/s in-process vs. images/s served through the whole HTTP job pipeline.

    python bench/throughput.py [--seconds 30] [--clients 16] [--modes default high-throughput]

Both figures come from the same run on the same machine; the served figure is printed as a
ratio to the raw one (the machine is shared and noisy, absolute numbers drift).
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paleon.tools import gallery, sidecars  # noqa: E402
from paleon.tools.serve_command import HIGH_THROUGHPUT_ENV  # noqa: E402


def raw_rate(images: list[bytes], batch: int, seconds: float, threads: int) -> float:
    from rag.encoders import EfficientNetLite0Encoder

    encoder = EfficientNetLite0Encoder(threads=threads)
    encoder.encode(images[:batch])  # warm up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chunk = [images[(done + i) % len(images)] for i in range(batch)]
        encoder.encode(chunk)
        done += batch
    return done / (time.perf_counter() - start)


def start_stack(workdir: Path, threads: int, processes: list) -> str:
    """Start the sidecars (appended to `processes` at once, so the caller stops them even
    when a later step fails), ingest a gallery and deploy the app; returns its URL."""
    import ray
    from ray import serve

    from deployments.app import build_app
    from rag.encoders import EfficientNetLite0Encoder
    from rag.ingest import ingest
    from rag.specimens import SpecimenIndex, connect

    redis_port, milvus_port, http_port = (sidecars.free_port() for _ in range(3))
    processes.append(sidecars.start_redis(workdir / "redis", redis_port, persistent=False))
    processes.append(sidecars.start_milvus(workdir / "milvus", milvus_port))
    milvus_uri = f"http://127.0.0.1:{milvus_port}"
    gallery.write_gallery(workdir / "gallery", per_class=10)
    encoder = EfficientNetLite0Encoder(threads=threads)
    ingest(workdir / "gallery", encoder, SpecimenIndex(connect(milvus_uri), encoder.dim),
           progress=False)
    del encoder
    settings = {"environment": "test", "data_dir": str(workdir / "data"),
                "redis_url": f"redis://127.0.0.1:{redis_port}/0", "milvus_uri": milvus_uri,
                "jwt_secret": "b" * 48, "api_key_pepper": "p" * 48,
                "tier_limits": {"free": 10**7}}
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": http_port})
    app = build_app({"torch_threads": threads, "settings": settings})
    serve.run(app, name="paleon", route_prefix="/")
    return f"http://127.0.0.1:{http_port}"


def served_rate(base: str, images: list[bytes], clients: int, seconds: float) -> dict:
    with httpx.Client(base_url=base, timeout=60) as http:
        token = http.post("/auth/register", json={
            "email": "bench@example.com", "username": "bench", "password": "bench-pass-1"
        }).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    stop = threading.Event()
    submit_ms: list[float] = []
    completed = [0]
    per_client = [0] * clients
    lock = threading.Lock()

    def client_loop(offset: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            n = offset
            while not stop.is_set():
                data = images[n % len(images)]
                n += clients
                began = time.perf_counter()
                job = http.post("/classify-async/", headers=headers,
                                files=[("image_files", ("p.jpg", data, "image/jpeg"))])
                elapsed = (time.perf_counter() - began) * 1000
                job_id = job.json()["job_id"]
                while True:
                    time.sleep(0.5)
                    status = http.get(f"/result/{job_id}", headers=headers).json()["status"]
                    if status in ("completed", "failed"):
                        break
                with lock:
                    submit_ms.append(elapsed)
                    per_client[offset] += 1
                    if status == "completed" and not stop.is_set():
                        completed[0] += 1

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for offset in range(clients):
            pool.submit(client_loop, offset)
        # Warm-up: every client has finished two jobs (task workers started, batches settle).
        deadline = time.monotonic() + 120
        while min(per_client) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        with lock:
            completed[0] = 0
            submit_ms.clear()
        start = time.perf_counter()
        time.sleep(seconds)
        with lock:
            done = completed[0]
        rate = done / (time.perf_counter() - start)
        stop.set()
    with httpx.Client(base_url=base, timeout=60) as http:
        jobs = http.get("/jobs", params={"limit": 100}, headers=headers).json()
    finished = [job for job in jobs if job["status"] == "completed"]
    waits = [_seconds(job["started_at"]) - _seconds(job["created_at"]) for job in finished]
    return {"rate": rate, "submit_p50_ms": statistics.median(submit_ms),
            "queue_p50_s": statistics.median(waits),
            "processing_p50_s": statistics.median(job["processing_time"] for job in finished)}


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def _configured_threads() -> int:
    import yaml

    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    return int(config["applications"][0]["args"].get("torch_threads") or 1)


MODES = {"default": {}, "high-throughput": HIGH_THROUGHPUT_ENV}


def served_in_subprocess(mode: str, args: argparse.Namespace) -> dict:
    """Each mode in a process of its own: Serve reads these flags when Ray starts."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        command = [sys.executable, __file__, "--served-only", result.name,
                   "--seconds", str(args.seconds), "--clients", str(args.clients),
                   "--threads", str(args.threads)]
        done = subprocess.run(command, env={**os.environ, **MODES[mode]}, capture_output=True,
                              text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"served run ({mode}) failed: {done.stderr[-3000:]}")
        return json.loads(Path(result.name).read_text())


def served_only(args: argparse.Namespace) -> None:
    images = gallery.mixed_photos(64)
    with tempfile.TemporaryDirectory() as tmp:
        processes: list = []
        try:
            base = start_stack(Path(tmp), args.threads, processes)
            served = served_rate(base, images, args.clients, args.seconds)
        finally:
            import ray
            from ray import serve

            if ray.is_initialized():
                serve.shutdown()
            for process in processes:
                sidecars.stop(process)
    Path(args.served_only).write_text(json.dumps(served))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=_configured_threads(),
                        help="torch threads, raw and served (default: serve_config.yaml's)")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    parser.add_argument("--served-only", metavar="RESULT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.served_only:
        return served_only(args)

    batch = 8  # the VisionClassifier's max_batch_size in serve_config.yaml
    images = gallery.mixed_photos(64)
    raw1 = raw_rate(images, 1, args.seconds / 3, args.threads)
    raw_b = raw_rate(images, batch, args.seconds / 3, args.threads)
    for size, value in ((1, raw1), (batch, raw_b)):
        print(f"raw encoder, in-process, {args.threads} thread(s), batch {size}: "
              f"{value:6.1f} images/s")
    for mode in args.modes:
        served = served_in_subprocess(mode, args)
        rate = served["rate"]
        print(f"served ({mode}), {args.clients} clients polling every 0.5 s: "
              f"{rate:6.1f} images/s")
        print(f"  ratio served / raw batch {batch}: {rate / raw_b:.2f}; "
              f"served / raw batch 1: {rate / raw1:.2f}")
        print(f"  submit p50: {served['submit_p50_ms']:.1f} ms; queue (created → started) p50: "
              f"{served['queue_p50_s'] * 1000:.0f} ms; processing p50: "
              f"{served['processing_p50_s'] * 1000:.0f} ms")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
