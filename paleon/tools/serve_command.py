"""`paleon serve`: the embedded default, with its Redis and Milvus, its HTTP front
(paleon/tools/front.py) and the Serve runner as a child process."""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import yaml

from configs import Settings
from paleon.private import private_file
from paleon.tools import dashboard, front, sidecars

ROOT = Path(__file__).resolve().parents[2]
# Ray Serve's high-throughput mode: HAProxy in place of the Python HTTP proxy, replicas
# serving HTTP directly and talking gRPC to each other. It binds every interface.
HIGH_THROUGHPUT_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}
DEFAULT_CONFIG = ROOT / "serve_config.yaml"
# Ray's worker settings for the embedded default (Ray's own spelling), each unless set:
WORKER_ENV = {
    # Ray keeps idle workers up to this many (its default: one per CPU). Jobs run on actors
    # (deployments/job_workers.py), each in a worker of its own, so an idle one is ≈ 80 MB
    # for nothing.
    "RAY_num_workers_soft_limit": "0",
    # Serve writes each log line to the replica's log file and again to stderr, for a
    # driver to print; `paleon serve` runs no log monitor, so nothing reads stderr
    # (paleon/tools/serve_runner.py).
    "RAY_SERVE_LOG_TO_STDERR": "0",
    # Ray starts every worker at niceness 15, so the replicas that accept uploads and
    # answer polls ran below the load's own clients, Redis and HAProxy, and the job
    # workers' WORK_NICENESS (10) changed nothing. At 0, the Ingress, classifier and
    # Retriever run first and the job workers yield to them (docs/benchmarks.md, run 19d:
    # a phone photo's submit p50 88 ms, was 313).
    "RAY_worker_niceness": "0",
}
SAME_LOOP = ("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP")


def _ensure_services(settings: Settings, started: list[sidecars.Sidecar]) -> dict[str, str]:
    """Start a private redis-server / milvus-lite server where the configured URL is silent;
    each one started is appended to `started` at once, so a later failure can stop it."""
    wanted = [
        ("Redis", "REDIS_URL", settings.redis_url, 6379,
         lambda port: sidecars.start_redis(settings.data_dir / "redis", port)),
        ("Milvus", "MILVUS_URI", settings.milvus_uri, 19530,
         lambda port: sidecars.start_milvus(settings.data_dir / "milvus", port,
                                            settings.jobs.work_priority)),
    ]
    for name, variable, url, default_port, start in wanted:
        host, port = sidecars.host_port(url, default_port)
        if sidecars.answers(host, port):
            continue
        if host not in ("127.0.0.1", "localhost"):
            raise sidecars.SidecarError(f"{name} at {host}:{port} ({variable}) does not answer.")
        started.append(sidecars.Sidecar(name, partial(start, port)))
        print(f"started a private {name} on 127.0.0.1:{port} (data in {settings.data_dir})")
    return {"REDIS_URL": settings.redis_url, "MILVUS_URI": settings.milvus_uri,
            "DATA_DIR": str(settings.data_dir.resolve())}


@contextmanager
def local_services(settings: Settings, keep: bool = False) -> Iterator[dict[str, str]]:
    """Redis and Milvus for the duration of a command: what had to be started is stopped;
    with `keep`, started again whenever it exits meanwhile (sidecars.Keeper)."""
    started: list[sidecars.Sidecar] = []
    keeper = None
    try:
        env = _ensure_services(settings, started)
        if keep and started:
            keeper = sidecars.Keeper(started)
            keeper.start()
        yield env
    finally:
        if keeper is not None:
            keeper.stop()
        for sidecar in reversed(started):
            sidecar.stop()


def _local_secrets(data_dir: Path) -> dict[str, str]:
    """Random signing secrets for this data directory, made once and kept (mode 600), for
    whichever of JWT_SECRET / API_KEY_PEPPER the environment leaves unset: the embedded
    default never signs with the placeholder that is in the repository."""
    path = data_dir / "secrets.json"
    if path.exists():
        kept = json.loads(path.read_text())
    else:
        kept = {name: secrets.token_urlsafe(48) for name in ("JWT_SECRET", "API_KEY_PEPPER")}
        private_file(path).write_text(json.dumps(kept))
    return {name: value for name, value in kept.items() if name not in os.environ}


def cmd_serve(args: argparse.Namespace) -> int:
    # The embedded default is a development service unless told otherwise: its secrets are
    # generated (below) and /metrics is open on loopback.
    os.environ.setdefault("ENVIRONMENT", "development")
    settings = Settings()
    try:
        with local_services(settings, keep=True) as env:
            return _serve_run(args, settings, env)
    except sidecars.SidecarError as exc:
        print(f"paleon: {exc}", file=sys.stderr)
        return 1


def _serve_run(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> int:
    env.update(_local_secrets(settings.data_dir))
    # The knowledge base is written once per start, here, not by every serving replica; in
    # a child process, so the text model does not stay in this one's memory.
    synced = subprocess.run([str(Path(sys.executable).with_name("paleon")), "sync-knowledge"],
                            env={**os.environ, **env}, check=False)
    if synced.returncode != 0:
        return synced.returncode
    # Ray's token authentication on the local cluster too (dashboard, Jobs API, RPCs).
    env["RAY_AUTH_MODE"] = os.environ.get("RAY_AUTH_MODE", "token")
    env.update({name: value for name, value in WORKER_ENV.items() if name not in os.environ})
    # Two of Serve's throughput settings, without the rest of its throughput mode: a
    # replica runs its user code on its main event loop, and a process routes its handle
    # calls on its own loop, instead of hopping to a thread of their own on every request
    # and call (docs/benchmarks.md, run 10). Every Paleon deployment awaits its blocking
    # work in threads, so nothing stalls those loops.
    env.update({name: "0" for name in SAME_LOOP if name not in os.environ})
    # Like `serve run`: starts local Ray, deploys the config and blocks until interrupted;
    # Ray's dashboard only with --dashboard (paleon/tools/serve_runner.py says why).
    runner = [sys.executable, "-m", "paleon.tools.serve_runner", str(args.config)]
    haproxy = None
    # X-Forwarded-For counts only from these proxies (uvicorn's own setting, read by every
    # HTTP server in Serve); none unless the operator lists some.
    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "")
    env["FORWARDED_ALLOW_IPS"] = trusted
    if args.high_throughput:
        env.update(HIGH_THROUGHPUT_ENV)
        if not trusted:
            # Ray's HAProxy adds no X-Forwarded-For: every client has its address.
            print("warning: with --high-throughput every client's address is Ray's HAProxy, "
                  "so the per-address login and registration throttles are shared by all "
                  "clients; put a load balancer that sets X-Forwarded-For in front and list "
                  "it and this host in FORWARDED_ALLOW_IPS", file=sys.stderr, flush=True)
    elif not args.serve_proxy:
        http = yaml.safe_load(args.config.read_text()).get("http_options", {})
        plan = front.plan(http.get("host", "127.0.0.1"), int(http.get("port", 8000)))
        # Ray's own variables, when set, win; the trusted proxies now include the front.
        env.update({name: value for name, value in plan.serve_env(trusted).items()
                    if name not in os.environ or name == "FORWARDED_ALLOW_IPS"})
        runner += ["--proxy-port", str(plan.proxy_port)]
        haproxy = front.start(plan, settings.data_dir / "front", trusted)
        print(f"HTTP on {plan.host}:{plan.port} (HAProxy; Ingress replicas on "
              f"127.0.0.1:{plan.direct_ports.start}-{plan.direct_ports.stop - 1})", flush=True)
    try:
        return _run_runner(runner, args.dashboard, env)
    finally:
        sidecars.stop(haproxy)


def _run_runner(runner: list[str], dashboard_wanted: bool, env: dict[str, str]) -> int:
    """The serve runner as a child, until it exits; SIGINT/SIGTERM are passed on once."""
    child = subprocess.Popen(
        runner + (["--dashboard"] if dashboard_wanted else []),
        cwd=ROOT, env={**os.environ, **env},
        # With --dashboard the output passes through us, to spot the dashboard's address.
        stdout=subprocess.PIPE if dashboard_wanted else None,
        stderr=subprocess.STDOUT if dashboard_wanted else None,
        # Own process group: a terminal's Ctrl-C reaches only us, and we forward it once.
        # SIGINT back to default: a shell's `cmd &` leaves it ignored, and that is inherited.
        process_group=0,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )

    if dashboard_wanted:
        if child.stdout is None:  # piped above whenever --dashboard is given
            raise RuntimeError("the runner's output is not piped to follow the dashboard")
        dashboard.follow(child.stdout, sys.stdout.buffer, dashboard.announce)

    def forward(signum: int, frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # the runner's own clean shutdown

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        return child.wait()
    finally:
        sidecars.stop(child, timeout=60)
