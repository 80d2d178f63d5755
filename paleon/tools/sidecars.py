"""Local services the embedded default needs: a private redis-server and a milvus-lite server."""

import shutil
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse

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


def start_milvus(data_dir: Path, port: int) -> subprocess.Popen:
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
