"""`serve run CONFIG`, for the embedded default, with Ray's dashboard only when asked for.

`serve run` starts local Ray with its dashboard: a head process with a handful of module
subprocesses (≈ 0.5 GB, and CPU all the time) that a single machine serving photos does not
need. This starts local Ray as `ray.init` does, with `include_dashboard` set by
`--dashboard` and without two processes a one-machine cluster does not use: the autoscaler's
monitor and the log monitor, which copies every worker's output to a driver (≈ 90 MB each;
the replicas' logs stay in the session's log folder, printed at start). It deploys the same
way as `serve run` (the config file's proxy, HTTP options and applications, through Serve's
own client) and blocks until SIGINT or SIGTERM, then shuts Serve and Ray down.

The deploy and the shutdown run in short-lived child processes (`--deploy`, `--shutdown`):
this process, which owns the local cluster for as long as it serves, imports only Ray's
core and is no driver of it.

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
from typing import TYPE_CHECKING

import ray

if TYPE_CHECKING:
    from ray._private.node import Node

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

    node = _start_ray(args.dashboard)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    print(f"Ray's logs (the replicas' and job workers' too): {node.get_logs_dir_path()}",
          flush=True)
    if args.dashboard:  # as ray.init says it, for `paleon serve --dashboard` to find
        print(f"View the dashboard at http://{node.webui_url}", flush=True)
    here = [sys.executable, "-m", "paleon.tools.serve_runner", str(args.config)]
    env = {**os.environ, "RAY_ADDRESS": node.address}
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
        node.kill_all_processes(check_alive=False, allow_graceful=True)
    return 0 if deployed or stop.is_set() else 1


def _start_ray(dashboard: bool) -> "Node":
    """A local head node, as `ray.init()` starts one (token authentication, no usage stats,
    the dashboard on loopback), less the autoscaler's monitor and the log monitor.
    `ray.init` cannot leave those out; `ray start --no-monitor --include-log-monitor=false`
    can, but it would publish the cluster as the machine's default for every `ray.init()`."""
    from ray._common.usage import usage_lib
    from ray._private.authentication.authentication_token_setup import (
        enable_token_auth_by_default,
        ensure_token_if_auth_enabled,
    )
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    enable_token_auth_by_default()
    ensure_token_if_auth_enabled({}, create_token_if_missing=True)
    usage_lib.set_usage_stats_enabled_via_env_var(False)
    params = RayParams(include_dashboard=dashboard, dashboard_host="127.0.0.1",
                       no_monitor=True,
                       include_log_monitor=False)  # type: ignore[arg-type]  # as `ray start`
    return Node(params, head=True, shutdown_at_exit=False, spawn_reaper=True,
                ray_init_cluster=True)


def _deploy(config_path: Path, proxy_port: int | None) -> int:
    import yaml
    from ray.serve._private import api as serve_api
    from ray.serve.config import gRPCOptions
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate(yaml.safe_load(config_path.read_text()))
    if proxy_port is not None:
        config.http_options.host = "127.0.0.1"
        config.http_options.port = proxy_port
    # Serve's controller and proxy are this job's actors: they take the setup hook the
    # config gives its applications' replicas (paleon/worker_setup.py).
    hooks = {app.runtime_env.get("worker_process_setup_hook")
             for app in config.applications} - {None}
    ray.init(namespace=SERVE_NAMESPACE, log_to_driver=False,
             runtime_env={"worker_process_setup_hook": hooks.pop()} if len(hooks) == 1
             else None)
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
