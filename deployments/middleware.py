"""Request ids, and a body-size cap checked before a body is read."""

import uuid
from collections.abc import Callable

from ray.serve import context as serve_context
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def request_id() -> str:
    """Serve's id for the current request: taken from an incoming X-Request-ID or generated,
    written to every log line and returned in the X-Request-ID response header by Serve."""
    return serve_context._get_serve_request_context().request_id or uuid.uuid4().hex


class BodyLimit:
    """Refuse a request whose declared or streamed body exceeds max_bytes, with 413."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int]):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes()
        detail = f"Request body over {limit} bytes."
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await JSONResponse({"detail": detail}, 413)(scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # chunked upload without Content-Length
                raise HTTPException(413, detail)
            return message

        await self.app(scope, counted, send)
