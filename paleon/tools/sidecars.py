"""Local services the embedded default needs: a private redis-server and a milvus-lite server."""

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse

from paleon.priority import WorkPriority
from paleon.private import private_dir


class SidecarError(RuntimeError):
    pass


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_answering(process: subprocess.Popen, host: str, port: int, name: str,
                         timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise SidecarError(f"{name} exited with code {process.returncode}: {tail}")
        if answers(host, port):
            return
        time.sleep(0.1)
    process.terminate()
    raise SidecarError(f"{name} did not answer on {host}:{port} within {timeout:.0f}s")


def start_redis(data_dir: Path, port: int, persistent: bool = True) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SidecarError(
            "REDIS_URL does not answer and redis-server is not installed: "
            "`sudo apt-get install redis-server`, or set REDIS_URL to a running Redis."
        )
    private_dir(data_dir)
    log = data_dir / "redis.log"
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir.resolve()),
            "--logfile", str(log.resolve()), "--save", ""]
    args += ["--appendonly", "yes"] if persistent else ["--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_answering(process, "127.0.0.1", port, "redis-server", 20, log)
    return process


def start_milvus(data_dir: Path, port: int,
                 priority: WorkPriority | None = None) -> subprocess.Popen:
    """A milvus-lite server on loopback, at `priority` (its searches are a job's work)."""
    binary = Path(sys.executable).with_name("milvus-lite")
    if not binary.exists():
        raise SidecarError("milvus-lite is not installed in this environment: pip install -e .")
    private_dir(data_dir)
    log = data_dir / "milvus-lite.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(binary), "server", "--data-dir", str(data_dir.resolve()),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
            # Set before it starts a thread: every thread it makes takes it.
            preexec_fn=None if priority is None else priority.apply_here,  # noqa: PLW1509
        )
    wait_until_answering(process, "127.0.0.1", port, "milvus-lite server", 60, log)
    return process


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def stop(process: subprocess.Popen | None, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Sidecar:
    """One private service process, which `Keeper` can start again when it exits."""

    def __init__(self, name: str, start: Callable[[], subprocess.Popen]):
        self.name = name
        self._start = start
        self.process = start()
        self.started_at = time.monotonic()

    def restart(self) -> None:
        self.process = self._start()
        self.started_at = time.monotonic()

    def stop(self) -> None:
        stop(self.process)


class Keeper(threading.Thread):
    """Starts a sidecar again when it exits while the service runs (`paleon serve`): after
    1 s, then doubling up to `max_backoff_s` while it keeps failing; the backoff resets once
    a process has run for a minute. Every exit and restart is printed."""

    def __init__(self, sidecars: list[Sidecar], max_backoff_s: float = 30.0,
                 interval_s: float = 1.0):
        super().__init__(name="paleon-sidecar-keeper", daemon=True)
        self.sidecars = sidecars
        self.max_backoff_s = max_backoff_s
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        backoff = {id(sidecar): 1.0 for sidecar in self.sidecars}
        while not self.stopping.wait(self.interval_s):
            for sidecar in self.sidecars:
                code = sidecar.process.poll()
                if code is None:
                    if time.monotonic() - sidecar.started_at > 60:
                        backoff[id(sidecar)] = 1.0
                    continue
                wait = backoff[id(sidecar)]
                print(f"paleon: the private {sidecar.name} exited with code {code}; "
                      f"starting it again in {wait:.0f} s", file=sys.stderr, flush=True)
                if self.stopping.wait(wait):
                    return
                backoff[id(sidecar)] = min(wait * 2, self.max_backoff_s)
                try:
                    sidecar.restart()
                except SidecarError as exc:
                    print(f"paleon: {exc}", file=sys.stderr, flush=True)
                    continue
                print(f"paleon: the private {sidecar.name} is running again",
                      file=sys.stderr, flush=True)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
