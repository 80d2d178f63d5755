"""Request ids, and what is checked before a body is read (size, credentials)."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from ray.serve import context as serve_context
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments import http_errors
from paleon.errors import RETRY_AFTER_S, PaleonError


def request_id() -> str:
    """Serve's id for the current request: taken from an incoming X-Request-ID or generated,
    written to every log line and returned in the X-Request-ID response header by Serve."""
    return serve_context._get_serve_request_context().request_id or uuid.uuid4().hex


class BodyLimit:
    """Refuse a request whose declared or streamed body exceeds its limit, with 413: the
    large limit only on the upload paths, the small one (JSON bodies) everywhere else."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_paths: set[str],
                 upload_max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_paths = upload_paths
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "").removeprefix(scope.get("root_path", "")) or "/"
        limit = self.upload_max_bytes if path in self.upload_paths else self.max_bytes
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


class UploadBuffer:
    """Bound the upload bodies a replica holds in memory at once, across its requests.

    Uploads are parsed in memory (api.py raises Starlette's spool size to the body limit):
    a 3 MB phone photo spooled to a file cost a thread hop per 64 KB chunk, and accepting it
    waited behind other work for each hop. So that many uploads at once cannot exhaust
    memory, each reserves its declared length (the body limit when chunked) before a byte is
    read; one that finds no room in `wait_s` is answered 503 with Retry-After, unread. No
    more than was reserved may arrive (413), and a body that sends nothing for `idle_s` is
    408, so a stalled client does not keep its share. Waiters are not served in order: a
    large upload can wait behind a stream of small ones, up to `wait_s`.
    """

    def __init__(self, app: ASGIApp, limit_bytes: int, upload_paths: set[str],
                 upload_max_bytes: int, wait_s: float = 10.0, idle_s: float = 30.0):
        self.app = app
        self.limit = limit_bytes
        self.upload_paths = upload_paths
        self.upload_max_bytes = upload_max_bytes
        self.wait_s = wait_s
        self.idle_s = idle_s  # a body that sends nothing for this long is 408
        self.held = 0
        self._freed: asyncio.Condition | None = None  # made on the serving loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").removeprefix(scope.get("root_path", "")) or "/"
        if scope["type"] != "http" or scope["method"] != "POST" or path not in self.upload_paths:
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        allowed = int(declared) if declared.isdigit() else self.upload_max_bytes
        # A body larger than the whole budget waits until it is alone, rather than never.
        wanted = min(allowed, self.limit)
        if self._freed is None:
            self._freed = asyncio.Condition()
        freed = self._freed
        async with freed:
            try:
                await asyncio.wait_for(
                    freed.wait_for(lambda: self.held + wanted <= self.limit), self.wait_s)
                self.held += wanted
                admitted = True
            except TimeoutError:
                admitted = False
        if not admitted:
            body = {"detail": "Too many uploads are being received; try again shortly."}
            answer = JSONResponse(body, 503, {"Retry-After": str(RETRY_AFTER_S)})
            return await answer(scope, receive, send)
        seen, whole = 0, False

        async def bounded() -> Message:
            # What was reserved is all that may arrive (a chunked body that also declares a
            # length), and a body that stalls frees its reservation.
            nonlocal seen, whole
            if whole:  # after the body: a wait for the disconnect, not for data
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_s)
            except TimeoutError:
                raise HTTPException(408, f"No upload data for {self.idle_s:g} s.") from None
            whole = not message.get("more_body", False)
            seen += len(message.get("body", b""))
            if seen > allowed:
                raise HTTPException(413, f"Request body over its {allowed} bytes.")
            return message

        try:
            await self.app(scope, bounded, send)
        finally:
            self.held -= wanted  # at once, with no await: a cancellation cannot skip it
            async with freed:
                freed.notify_all()


class PreAuth:
    """Authenticate before an upload's body is read.

    FastAPI parses a multipart body before dependencies run, so without this an anonymous
    client (or one with a made-up, well-formed API key) could make the ingress read and
    parse up to the body limit. The caller found here is kept on the request, and the
    route's dependency reuses it.
    """

    def __init__(self, app: ASGIApp, paths: set[str],
                 check: Callable[[Request], Awaitable[object]]):
        self.app = app
        self.paths = paths
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").removeprefix(scope.get("root_path", "")) or "/"
        if scope["type"] == "http" and scope["method"] == "POST" and path in self.paths:
            try:
                await self.check(Request(scope))
            except PaleonError as exc:
                response = JSONResponse({"detail": exc.detail, **exc.fields}, exc.status_code,
                                        exc.headers)
                return await response(scope, receive, send)
            except Exception as exc:  # outside the app's handlers: a dependency down is 503
                unavailable = http_errors.outage(Request(scope), exc)
                if unavailable is None:
                    raise
                return await unavailable(scope, receive, send)
        await self.app(scope, receive, send)
