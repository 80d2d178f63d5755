"""`serve run CONFIG`, for the embedded default, with Ray's dashboard only when asked for.

`serve run` starts local Ray with its dashboard: a head process with a handful of module
subprocesses (≈ 0.5 GB, and CPU all the time) that a single machine serving photos does not
need. This runs the same deploy as `serve run` (the config file's proxy, HTTP options and
applications, through Serve's own client) on a Ray started with `include_dashboard` set by
`--dashboard`, and blocks until SIGINT or SIGTERM, then shuts Serve and Ray down.

    python -m paleon.tools.serve_runner serve_config.yaml [--dashboard] [--proxy-port N]

`--proxy-port` moves Serve's proxy off the config's port, for `paleon serve`'s HTTP front
(paleon/tools/front.py), which takes the config's address itself.
"""

import argparse
import signal
import sys
import threading
from pathlib import Path

import ray
import yaml
from ray import serve
from ray.serve._private import api as serve_api
from ray.serve.config import gRPCOptions
from ray.serve.schema import ServeDeploySchema

SERVE_NAMESPACE = "serve"  # where `serve run` puts its controller and applications


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paleon.tools.serve_runner")
    parser.add_argument("config", type=Path)
    parser.add_argument("--dashboard", action="store_true", help="start Ray's dashboard too")
    parser.add_argument("--proxy-port", type=int, help="Serve's proxy on this loopback port")
    args = parser.parse_args(argv)
    config = ServeDeploySchema.model_validate(yaml.safe_load(args.config.read_text()))
    if args.proxy_port is not None:
        config.http_options.host = "127.0.0.1"
        config.http_options.port = args.proxy_port

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        # The first asks for a clean stop; a second one stops at once, as `serve run` does.
        for again in (signal.SIGINT, signal.SIGTERM):
            signal.signal(again, signal.SIG_DFL)
        stop.set()

    ray.init(namespace=SERVE_NAMESPACE, include_dashboard=args.dashboard)
    # After ray.init, which installs a SIGTERM handler of its own.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        client = serve_api.serve_start(
            http_options=config.http_options.model_dump(),
            proxy_location=config.proxy_location,
            grpc_options=gRPCOptions(**config.grpc_options.model_dump()),
            controller_options=config.controller_options,
        )
        client.deploy_apps(config, _blocking=False)
        print("Submitted deploy config successfully.", flush=True)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
