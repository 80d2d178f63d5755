"""paleon serve's HTTP front (paleon/tools/front.py): the bundled HAProxy, on loopback, in
front of stand-in replica servers."""

import json
import socket
import subprocess
import threading
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import psutil
import pytest
import uvicorn

from paleon.tools import front, sidecars


class Replica(BaseHTTPRequestHandler):
    """What an Ingress replica's own HTTP server answers: /-/healthz, and a request echoed."""

    draining = False

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if self.path == "/-/healthz":
            status, body = (503, b"draining") if self.draining else (200, b"success")
        else:
            status = 200
            body = json.dumps({"port": self.server.server_address[1],
                               "forwarded_for": self.headers.get_all("X-Forwarded-For"),
                               "proto": self.headers.get_all("X-Forwarded-Proto"),
                               "forwarded": self.headers.get_all("Forwarded")}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Proxy(Replica):
    """Serve's proxy: it answers whether or not a replica drains."""

    draining = False


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # health checks that hang up early


def _serve(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = QuietServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def running(tmp_path):
    plan = front.plan("127.0.0.1", sidecars.free_port(), lowest_direct_port=25000)
    replica = _serve(plan.direct_ports.start + 3, Replica)
    process = front.start(plan, tmp_path)
    time.sleep(1.5)  # the first round of health checks
    try:
        yield plan, replica, process
    finally:
        sidecars.stop(process)
        replica.shutdown()


def _wait_for_port(base: str, port: int) -> dict:
    for _ in range(40):
        answer = httpx.get(f"{base}/anything", timeout=5)
        if answer.status_code == 200 and answer.json()["port"] == port:
            return answer.json()
        time.sleep(0.25)
    raise AssertionError(f"the front never routed to port {port}")


def test_the_front_routes_to_a_live_replica_and_sets_the_client_address(running):
    plan, replica, _ = running
    base = f"http://127.0.0.1:{plan.port}"
    seen = _wait_for_port(base, replica.server_address[1])
    assert seen["forwarded_for"] == ["127.0.0.1"]
    # Nobody is trusted: a client's own claim is replaced by the address the front saw.
    answer = httpx.get(f"{base}/anything", headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.json()["forwarded_for"] == ["127.0.0.1"]
    # A scheme a client claims for itself does not pass: only what the front knows.
    claimed = httpx.get(f"{base}/anything", headers={
        "X-Forwarded-Proto": "https", "Forwarded": "for=203.0.113.9;proto=https"}).json()
    assert claimed["proto"] == ["http"] and claimed["forwarded"] is None


def test_a_trusted_proxy_passes_its_scheme_on(tmp_path):
    plan = front.plan("127.0.0.1", sidecars.free_port(), lowest_direct_port=25200)
    replica = _serve(plan.direct_ports.start, Replica)
    process = front.start(plan, tmp_path, trusted_proxies="127.0.0.2")
    time.sleep(1.5)
    try:
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as http:
            seen = http.get(f"http://127.0.0.1:{plan.port}/x",
                            headers={"X-Forwarded-Proto": "https"}).json()
        assert seen["proto"] == ["https"]
    finally:
        sidecars.stop(process)
        replica.shutdown()


async def _whoami(scope, receive, send):
    """An ASGI app that answers with the client address uvicorn resolved."""
    body = scope["client"][0].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("client,trusted,expected", [
    ("127.0.0.2", "", "127.0.0.2"),  # nobody listed: the address the front saw
    ("127.0.0.2", "127.0.0.2", "198.51.100.4"),  # a trusted proxy passes its client on
    # Audit round 3: a client on this machine shares the front's own address, which the
    # replica trusts; its claim must still be ignored.
    ("127.0.0.1", "", "127.0.0.1"),
    ("127.0.0.1", "127.0.0.2", "127.0.0.1"),
])
def test_the_replica_sees_the_address_the_trusted_chain_gives(tmp_path, client, trusted,
                                                              expected):
    plan = front.plan("127.0.0.1", sidecars.free_port(), lowest_direct_port=25100)
    allowed = plan.serve_env(trusted)["FORWARDED_ALLOW_IPS"]
    server = uvicorn.Server(uvicorn.Config(_whoami, host="127.0.0.1",
                                           port=plan.direct_ports.start, log_level="error",
                                           forwarded_allow_ips=allowed))
    threading.Thread(target=server.run, daemon=True).start()
    process = front.start(plan, tmp_path, trusted_proxies=trusted)
    time.sleep(1.5)
    try:
        # A client claiming another address.
        transport = httpx.HTTPTransport(local_address=client)
        with httpx.Client(transport=transport) as http:
            answer = http.get(f"http://127.0.0.1:{plan.port}/",
                              headers={"X-Forwarded-For": "198.51.100.4"})
        assert answer.text == expected
    finally:
        sidecars.stop(process)
        server.should_exit = True


def test_a_draining_replica_is_taken_out_and_serve_proxy_is_the_backup(running, tmp_path):
    plan, replica, _ = running
    base = f"http://127.0.0.1:{plan.port}"
    _wait_for_port(base, replica.server_address[1])
    proxy = _serve(plan.proxy_port, Proxy)
    try:
        Replica.draining = True
        _wait_for_port(base, plan.proxy_port)
    finally:
        Replica.draining = False
        proxy.shutdown()


def test_every_socket_of_the_front_is_on_the_address_it_was_given(running):
    plan, _, process = running
    sockets = psutil.Process(process.pid).net_connections(kind="inet")
    listening = [f"{s.laddr.ip}:{s.laddr.port}" for s in sockets if s.status == psutil.CONN_LISTEN]
    assert listening == [f"127.0.0.1:{plan.port}"]


def test_the_plan_skips_ports_another_service_holds():
    # Below the ephemeral range (32768+), where outgoing connections take ports at random.
    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 25905))
        taken.listen()
        plan = front.plan("127.0.0.1", 8000, lowest_direct_port=25900)
    assert 25905 not in plan.direct_ports and plan.direct_ports.start >= 25908
    assert (plan.direct_ports.start - 25900) % front.DIRECT_PORTS == 0
    assert len(plan.direct_ports) == front.DIRECT_PORTS
    last = plan.direct_ports.stop - 1
    assert plan.serve_env()["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] == str(last)


def test_the_configuration_is_valid_haproxy(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(front.config(front.plan("127.0.0.1", 8000)))
    checked = subprocess.run([front.binary(), "-c", "-f", str(path)], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
