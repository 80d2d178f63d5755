"""`serve run CONFIG`, for the embedded default, with Ray's dashboard only when asked for.

`serve run` starts local Ray with its dashboard: a head process with a handful of module
subprocesses (≈ 0.5 GB, and CPU all the time) that a single machine serving photos does not
need. This starts Ray with `include_dashboard` set by `--dashboard`, deploys the same way as
`serve run` (the config file's proxy, HTTP options and applications, through Serve's own
client) and blocks until SIGINT or SIGTERM, then shuts Serve and Ray down.

The deploy and the shutdown run in short-lived child processes (`--deploy`, `--shutdown`):
this process, which owns the local cluster for as long as it serves, imports only Ray's
core, 107 MB against 220 with Serve (its pandas and pyarrow among them).

    python -m paleon.tools.serve_runner serve_config.yaml [--dashboard] [--proxy-port N]

`--proxy-port` moves Serve's proxy off the config's port, for `paleon serve`'s HTTP front
(paleon/tools/front.py), which takes the config's address itself.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import ray

SERVE_NAMESPACE = "serve"  # where `serve run` puts its controller and applications


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paleon.tools.serve_runner")
    parser.add_argument("config", type=Path)
    parser.add_argument("--dashboard", action="store_true", help="start Ray's dashboard too")
    parser.add_argument("--proxy-port", type=int, help="Serve's proxy on this loopback port")
    parser.add_argument("--deploy", action="store_true",
                        help="deploy the config to the cluster at RAY_ADDRESS, then exit")
    parser.add_argument("--shutdown", action="store_true",
                        help="shut Serve down on the cluster at RAY_ADDRESS, then exit")
    args = parser.parse_args(argv)
    if args.deploy:
        return _deploy(args.config, args.proxy_port)
    if args.shutdown:
        return _shutdown()

    stop = threading.Event()
    deploy: subprocess.Popen | None = None

    def on_signal(signum: int, frame: object) -> None:
        # The first asks for a clean stop; a second one stops at once, as `serve run` does.
        for again in (signal.SIGINT, signal.SIGTERM):
            signal.signal(again, signal.SIG_DFL)
        stop.set()
        if deploy is not None and deploy.poll() is None:
            deploy.terminate()  # a deploy under way is not waited for

    ray.init(namespace=SERVE_NAMESPACE, include_dashboard=args.dashboard)
    # After ray.init, which installs a SIGTERM handler of its own.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    here = [sys.executable, "-m", "paleon.tools.serve_runner", str(args.config)]
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    deployed = False
    try:
        ports = [] if args.proxy_port is None else ["--proxy-port", str(args.proxy_port)]
        deploy = subprocess.Popen([*here, "--deploy", *ports], env=env)
        deployed = deploy.wait() == 0
        if deployed:
            stop.wait()
        elif not stop.is_set():
            print("serve_runner: the deploy failed (its output is above)", file=sys.stderr)
    finally:
        # Serve's graceful shutdown lets the replicas finish their jobs, then Ray stops.
        shut = subprocess.run([*here, "--shutdown"], env=env, check=False)
        if shut.returncode != 0:
            print(f"serve_runner: Serve's shutdown exited {shut.returncode}; stopping Ray "
                  "anyway", file=sys.stderr)
        ray.shutdown()
    return 0 if deployed or stop.is_set() else 1


def _deploy(config_path: Path, proxy_port: int | None) -> int:
    import yaml
    from ray.serve._private import api as serve_api
    from ray.serve.config import gRPCOptions
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate(yaml.safe_load(config_path.read_text()))
    if proxy_port is not None:
        config.http_options.host = "127.0.0.1"
        config.http_options.port = proxy_port
    ray.init(namespace=SERVE_NAMESPACE, log_to_driver=False)
    # The controller is a detached actor: it and the applications outlive this process.
    client = serve_api.serve_start(
        http_options=config.http_options.model_dump(),
        proxy_location=config.proxy_location,
        grpc_options=gRPCOptions(**config.grpc_options.model_dump()),
        controller_options=config.controller_options,
    )
    client.deploy_apps(config, _blocking=False)
    print("Submitted deploy config successfully.", flush=True)
    return 0


def _shutdown() -> int:
    from ray import serve

    ray.init(namespace=SERVE_NAMESPACE, log_to_driver=False)
    serve.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
