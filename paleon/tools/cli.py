"""`paleon` command: serve, ingest, classify, users."""

import argparse
import getpass
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx
import yaml
from tqdm import tqdm

from configs import Settings
from paleon.private import private_file
from paleon.tools import dashboard, front, sidecars

ROOT = Path(__file__).resolve().parents[2]
# Ray Serve's high-throughput mode: HAProxy in place of the Python HTTP proxy, replicas
# serving HTTP directly and talking gRPC to each other. It binds every interface.
HIGH_THROUGHPUT_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}
DEFAULT_CONFIG = ROOT / "serve_config.yaml"


def _ensure_services(settings: Settings, started: list[sidecars.Sidecar]) -> dict[str, str]:
    """Start a private redis-server / milvus-lite server where the configured URL is silent;
    each one started is appended to `started` at once, so a later failure can stop it."""
    wanted = [
        ("Redis", "REDIS_URL", settings.redis_url, 6379,
         lambda port: sidecars.start_redis(settings.data_dir / "redis", port)),
        ("Milvus", "MILVUS_URI", settings.milvus_uri, 19530,
         lambda port: sidecars.start_milvus(settings.data_dir / "milvus", port)),
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
def _services(settings: Settings, keep: bool = False) -> Iterator[dict[str, str]]:
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
        with _services(settings, keep=True) as env:
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
    # Ray keeps idle workers up to this many (its default: one per CPU): the warm job-task
    # workers (JOB_WARM_WORKERS) outlive a quiet minute, and no more than the 5 that
    # JOB_TASK_CPUS lets run at once stay resident.
    soft_limit = "RAY_num_workers_soft_limit"  # Ray's own spelling of the name
    if soft_limit not in os.environ:
        env[soft_limit] = "5"
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
    elif not args.serve_proxy:
        http = yaml.safe_load(args.config.read_text()).get("http_options", {})
        plan = front.plan(http.get("host", "127.0.0.1"), int(http.get("port", 8000)))
        # Ray's own variables, when set, win; the trusted proxies now include the front.
        env.update({name: value for name, value in plan.serve_env(trusted).items()
                    if name not in os.environ or name == "FORWARDED_ALLOW_IPS"})
        runner += ["--proxy-port", str(plan.proxy_port)]
        haproxy = front.start(plan, settings.data_dir / "front")
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


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.encoders import build_encoder
    from rag.ingest import ingest
    from rag.specimens import SpecimenIndex, connect

    settings = Settings()
    with _services(settings):
        encoder = build_encoder(args.encoder, threads=os.cpu_count())
        client = connect(settings.milvus_uri, settings.milvus_token_value)
        index = SpecimenIndex(client, dim=encoder.dim)
        report = ingest(Path(args.folder), encoder, index, batch_size=args.batch_size)
    knowledge = report.knowledge
    print(f"found {report.found} photos in {len(report.labels)} labels; added {report.added}, "
          f"already present {report.already_present}; index holds {report.total_in_index}")
    print(f"knowledge base: {knowledge['entries']} entries, {knowledge['embedded']} embedded, "
          f"{knowledge['removed']} removed")
    for problem in report.unreadable:
        print(f"skipped unreadable {problem}", file=sys.stderr)
    return 0


def cmd_sync_knowledge(args: argparse.Namespace) -> int:
    from rag.knowledge.index import sync_knowledge
    from rag.specimens import connect

    settings = Settings()
    report = sync_knowledge(connect(settings.milvus_uri, settings.milvus_token_value))
    print(f"knowledge base: {report['entries']} entries, {report['embedded']} embedded, "
          f"{report['removed']} removed")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.encoders import build_encoder
    from rag.evaluate import evaluate
    from rag.knowledge import load_knowledge
    from rag.specimens import SpecimenIndex, connect

    settings = Settings()
    try:
        with _services(settings):
            encoder = build_encoder(args.encoder, threads=os.cpu_count())
            index = SpecimenIndex(connect(settings.milvus_uri, settings.milvus_token_value),
                                  dim=encoder.dim)
            report = evaluate(Path(args.folder), encoder, index, load_knowledge(),
                              settings.calibration, k=args.top_k or settings.top_k,
                              holdout=args.holdout, calibrate=args.calibrate)
    except (ValueError, FileNotFoundError) as exc:
        print(f"paleon eval: {exc}", file=sys.stderr)
        return 2
    print(render_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        print(f"JSON written to {args.json}")
    return 0


def render_report(report) -> str:
    labels = sorted(report.confusion)
    predicted = sorted({p for row in report.confusion.values() for p in row} - set(labels))
    columns = labels + predicted
    width = max(len(c) for c in columns + ["true \\ predicted"])
    lines = [
        f"queries {report.queries} against {report.references} references",
        f"top-1 {report.top1:.1%}   top-5 {report.top5:.1%}   "
        f"ECE {report.ece:.3f}   NLL {report.nll:.3f}",
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())),
        "", "per-class recall:",
        *(f"  {label:<{width}} {recall:6.1%}" for label, recall in report.per_class_recall.items()),
        "", "confusion (rows: true, columns: predicted top-1, in column order):",
        *(f"  {i:>2} {label:<{width}} " + " ".join(
            f"{report.confusion.get(label, {}).get(c, 0):3d}" for c in columns)
          for i, label in enumerate(labels)),
        "  columns: " + ", ".join(f"{i}={c}" for i, c in enumerate(columns)),
    ]
    if report.fitted_temperature is not None:
        lines.append(f"\nfitted temperature {report.fitted_temperature} (NLL "
                     f"{report.fitted_nll:.3f}; now {report.calibration['temperature']}): set "
                     f"CALIBRATION__TEMPERATURE={report.fitted_temperature} to use it")
    lines += [f"unreadable: {u}" for u in report.unreadable]
    return "\n".join(lines)


def _token(client: httpx.Client, args: argparse.Namespace) -> str:
    if args.token:
        return args.token
    if not args.email:
        raise SystemExit("paleon: give --token (or PALEON_TOKEN), or --email to log in")
    password = os.environ.get("PALEON_PASSWORD") or getpass.getpass("password: ")
    response = client.post("/auth/login", json={"email": args.email, "password": password})
    if response.status_code != 200:
        raise SystemExit(f"paleon: login failed: {response.json().get('detail')}")
    return response.json()["access_token"]


def cmd_classify(args: argparse.Namespace) -> int:
    kinds = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
             ".webp": "image/webp"}
    files = []
    for photo in args.photos:
        path = Path(photo)
        if path.suffix.lower() not in kinds:
            raise SystemExit(f"paleon: {path}: use a .jpg, .png or .webp photo")
        files.append(("image_files", (path.name, path.read_bytes(), kinds[path.suffix.lower()])))
    with httpx.Client(base_url=args.url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {_token(client, args)}"}
        submitted = client.post("/classify-async/", headers=headers, files=files)
        if submitted.status_code != 200:
            print(f"paleon: {submitted.status_code}: {submitted.json().get('detail')}",
                  file=sys.stderr)
            return 1
        job_id = submitted.json()["job_id"]
        deadline = time.monotonic() + args.timeout
        with tqdm(desc=f"job {job_id}", bar_format="{desc} [{elapsed}]") as bar:
            job = _follow(client, job_id, headers, deadline, bar)
        if job.get("status") not in FINAL:
            print(f"paleon: job {job_id} still {job.get('status')}", file=sys.stderr)
            return 1
    print(json.dumps(job, indent=2))
    return 0 if job["status"] == "completed" else 1


FINAL = ("completed", "failed", "canceled")


def _progress(job: dict) -> str:
    where = job.get("queue_position")
    start = job.get("estimated_start_s")
    if job.get("status") == "pending" and where is not None:
        return f"queued, {where} ahead" + (f", starting in ~{start:.0f} s" if start else "")
    return str(job.get("status", "?"))


def _follow(client: httpx.Client, job_id: str, headers: dict, deadline: float,
            bar: tqdm) -> dict:
    """The job until it ends or the deadline passes: by its live stream, falling back on
    long-polls (Prefer: wait) if the stream cannot be had."""
    job: dict = {}
    try:
        left = max(deadline - time.monotonic(), 1.0)
        with client.stream("GET", f"/result/{job_id}/events", headers=headers,
                           timeout=httpx.Timeout(30, read=min(left, 30))) as stream:
            if stream.status_code == 200:
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        job = json.loads(line[6:])
                        bar.set_description_str(f"job {job_id}: {_progress(job)}")
                    if job.get("status") in FINAL or time.monotonic() > deadline:
                        return job
    except httpx.HTTPError:
        pass  # the long-poll below picks up from here
    while time.monotonic() < deadline and job.get("status") not in FINAL:
        wait = max(1, min(30, int(deadline - time.monotonic())))
        answer = client.get(f"/result/{job_id}", timeout=wait + 30,
                            headers={**headers, "Prefer": f"wait={wait}"})
        if answer.status_code != 200:
            raise SystemExit(f"paleon: {answer.status_code}: {answer.json().get('detail')}")
        job = answer.json()
        bar.set_description_str(f"job {job_id}: {_progress(job)}")
    return job


def cmd_users(args: argparse.Namespace) -> int:
    from auth.store import UserStore, make_engine
    from paleon.errors import InvalidRequest

    settings = Settings()
    database = settings.sql_url.removeprefix("sqlite:///")
    if settings.sql_url.startswith("sqlite:///") and not Path(database).exists():
        # Never a new, empty store that would answer "no such user" for a real one.
        print(f"paleon: no user store at {database}: set DATA_DIR (or DATABASE_URL) to the "
              "service's, or start `paleon serve` once to create it", file=sys.stderr)
        return 1
    store = UserStore(make_engine(settings.sql_url))
    if args.action == "list":
        for user in store.all():
            print(f"{user.email}\t{user.username}\t{user.tier}\t{user.provider}\t"
                  f"{user.created_at:%Y-%m-%d}")
        return 0
    try:
        user = store.set_tier(args.email, args.tier)
    except InvalidRequest as exc:
        print(f"paleon: {exc.detail}", file=sys.stderr)
        return 1
    print(f"{user.email} is now on the {user.tier} tier")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paleon", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service on the embedded default")
    serve.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    serve.add_argument("--high-throughput", action="store_true",
                       help="Ray Serve's HAProxy ingress and direct gRPC between replicas "
                            "(listens on all interfaces; see docs/benchmarks.md)")
    serve.add_argument("--dashboard", action="store_true",
                       help="open the Ray dashboard (loopback) once Ray is up, and say where "
                            "to watch replicas scale")
    serve.add_argument("--serve-proxy", action="store_true",
                       help="Serve's Python proxy on the public port, as `serve run` does, "
                            "instead of the HAProxy front (paleon/tools/front.py)")
    serve.set_defaults(func=cmd_serve)

    ingest = commands.add_parser("ingest", help="add DIR/<label>/*.jpg|png to the specimens")
    ingest.add_argument("folder")
    ingest.add_argument("--encoder", default="efficientnet-lite0")
    ingest.add_argument("--batch-size", type=int, default=32)
    ingest.set_defaults(func=cmd_ingest)

    sync = commands.add_parser(
        "sync-knowledge", help="bring Milvus's knowledge collection in step with fossils.yaml "
        "(serve and ingest do it too)")
    sync.set_defaults(func=cmd_sync_knowledge)

    evaluate = commands.add_parser(
        "eval", help="measure identification on DIR/<label>/*.jpg|png (top-1, top-5, ...)")
    evaluate.add_argument("folder")
    evaluate.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                          help="split DIR: this share of each label queries, the rest are "
                               "indexed as references in a temporary collection")
    evaluate.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    evaluate.add_argument("--calibrate", action="store_true",
                          help="fit the fusion temperature on the queries (lowest NLL)")
    evaluate.add_argument("--top-k", type=int, default=None, help="neighbours (TOP_K)")
    evaluate.add_argument("--encoder", default="efficientnet-lite0")
    evaluate.set_defaults(func=cmd_eval)

    classify = commands.add_parser("classify", help="submit photos and print the result")
    classify.add_argument("photos", nargs="+")
    classify.add_argument("--url", default=os.environ.get("PALEON_URL", "http://127.0.0.1:8000"))
    classify.add_argument("--token", default=os.environ.get("PALEON_TOKEN"))
    classify.add_argument("--email", default=os.environ.get("PALEON_EMAIL"))
    classify.add_argument("--timeout", type=float, default=120)
    classify.set_defaults(func=cmd_classify)

    users = commands.add_parser("users", help="accounts in the user store (DATABASE_URL)")
    users.set_defaults(func=cmd_users)
    user_actions = users.add_subparsers(dest="action", required=True)
    user_actions.add_parser("list", help="every account: email, username, tier, provider")
    set_tier = user_actions.add_parser("set-tier", help="move an account to another tier")
    set_tier.add_argument("email")
    set_tier.add_argument("tier", choices=["free", "pro", "enterprise"])

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
