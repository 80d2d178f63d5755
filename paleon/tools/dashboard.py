"""`paleon serve --dashboard`: find the Ray dashboard `serve run` started, and open it."""

import re
import threading
import webbrowser
from collections.abc import Callable
from typing import IO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# ray.init() logs "... View the dashboard at http://127.0.0.1:8265" when it starts Ray.
_URL = re.compile(r"dashboard at (https?://[\w.\-:\[\]]+)")

HOW_TO_WATCH = (
    "Ray dashboard: {url} (loopback only). Ray asks for its token: `ray get-auth-token`.\n"
    "  Serve tab → application `paleon` → a deployment: its replicas, as they scale\n"
    "  (their states; on KubeRay Ingress and Retriever autoscale); Metrics tab: Ray Serve's and\n"
    "  Paleon's metrics (paleon_jobs_submitted, paleon_retrieval_latency_ms, ...)."
)


def follow(stream: IO[bytes], out: IO[bytes], on_url: Callable[[str], None]) -> threading.Thread:
    """Copy a child's output through, calling `on_url` once with the dashboard's address."""

    def run() -> None:
        found = False
        for line in iter(stream.readline, b""):
            out.write(line)
            out.flush()
            if not found and (match := _URL.search(_ANSI.sub("", line.decode(errors="replace")))):
                found = True
                on_url(match.group(1).rstrip("/"))

    thread = threading.Thread(target=run, name="paleon-serve-output", daemon=True)
    thread.start()
    return thread


def announce(url: str) -> None:
    print(HOW_TO_WATCH.format(url=url), flush=True)  # stdout may be a file: not line-buffered
    webbrowser.open(url)  # no-op where no browser is available
