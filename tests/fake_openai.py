"""A loopback server speaking OpenAI's Chat Completions protocol, answering from a script."""

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(content: str, model: str = "fake-vision") -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class FakeOpenAI:
    """Each request takes the next step of `script`; the last step repeats.

    A step is ("answer", content), ("status", code), ("sleep", seconds, content), or
    ("raw", body): a whole response body, for servers that get the protocol wrong.
    """

    def __init__(self):
        self.script: list[tuple] = []
        self.requests: list[dict] = []  # {"path", "headers", "body"}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next(self) -> tuple:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                fake.requests.append({"path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body})
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found", "type": "invalid"}})
                    return
                step = fake._next()
                if step[0] == "status":
                    self._send(step[1], {"error": {"message": "slow down", "type": "rate"}},
                               {"Retry-After": "0"})
                elif step[0] == "raw":
                    data = step[1].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif step[0] == "sleep":
                    time.sleep(step[1])
                    with contextlib.suppress(OSError):  # the client may have given up
                        self._send(200, completion(step[2], body["model"]))
                else:
                    self._send(200, completion(step[1], body["model"]))

        return Handler
