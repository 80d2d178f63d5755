"""Set up every Ray worker process of Paleon's application: Ray's `worker_process_setup_hook`,
named in serve_config.yaml's `runtime_env` (replicas and job workers) and by `paleon serve`
for Serve's controller and proxy.

Two optional imports cost every such process about 160 MB of memory, for nothing it does:

- Ray Serve imports pandas when it can, only to turn DataFrames into JSON; pandas brings
  pyarrow. pymilvus needs pandas, so it is installed, and every process that imported Serve
  loaded it (about 95 MB). The hook imports Serve's helpers with pandas held back, so Serve
  takes it for absent; pymilvus (in the Retriever) still imports pandas afterwards.
- Ray imports pyarrow in every worker, when it first serializes, to register Ray Data's
  Arrow serializers (about 67 MB). Paleon passes no Arrow data between processes, and
  neither pandas nor pymilvus's client needs pyarrow, so it stays out of these processes.
"""

import sys

HELD_FOR_SERVE = ("pandas",)  # Serve imports it only if it is there
KEPT_OUT = ("pyarrow",)  # imported only for Ray Data's serializers


def setup() -> None:
    for name in KEPT_OUT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # import: ImportError
    held = [name for name in HELD_FOR_SERVE if name not in sys.modules]
    for name in held:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import ray.serve._private.utils  # noqa: F401  # its `import pandas` finds None
    finally:
        for name in held:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
