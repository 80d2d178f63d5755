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


class UploadBudget:
    """The bytes of upload bodies a replica receives into memory at once, shared by its
    requests. Waiters are not served in order: a large upload can wait behind a stream of
    small ones, up to `wait_s`."""

    def __init__(self, limit_bytes: int, wait_s: float = 10.0, per_owner: int = 2):
        self.limit = limit_bytes
        self.wait_s = wait_s
        self.per_owner = per_owner
        self.held = 0
        self.owners: dict[str, tuple[int, int]] = {}  # owner → (uploads, bytes) held
        self._freed: asyncio.Condition | None = None  # made on the serving loop

    def refusal(self, wanted: int, owner: str | None) -> str | None:
        """Why this owner may not reserve `wanted` bytes now, or None. One account holds at
        most `per_owner` uploads and a quarter of the budget (its first upload excepted, so
        that a budget under four bodies still takes one): one free account cannot take the
        buffer away from everyone else."""
        if owner is None:
            return None
        uploads, held = self.owners.get(owner, (0, 0))
        if uploads >= self.per_owner:
            return (f"This account already has {uploads} uploads in progress; wait for one "
                    "to finish.")
        if held and held + wanted > self.limit // 4:
            return "This account's uploads in progress already hold their share; wait."
        return None

    async def take(self, wanted: int, owner: str | None = None) -> str | None:
        """Reserve `wanted` bytes (at most the whole budget), waiting up to `wait_s` for room
        and for the owner's share; None when reserved, else why not (the owner's share, or
        no room)."""
        if self._freed is None:
            self._freed = asyncio.Condition()
        async with self._freed:
            try:
                await asyncio.wait_for(self._freed.wait_for(
                    lambda: self.refusal(wanted, owner) is None
                    and self.held + wanted <= self.limit), self.wait_s)
            except TimeoutError:
                return self.refusal(wanted, owner) or "no room"
            self.held += wanted
            if owner is not None:
                uploads, held = self.owners.get(owner, (0, 0))
                self.owners[owner] = (uploads + 1, held + wanted)
            return None

    async def give_back(self, wanted: int, owner: str | None = None) -> None:
        # At once, with no await: a cancellation cannot skip it.
        self.held -= wanted
        if owner is not None:
            uploads, held = self.owners.pop(owner, (1, wanted))
            if uploads > 1:
                self.owners[owner] = (uploads - 1, held - wanted)
        if self._freed is not None:
            async with self._freed:
                self._freed.notify_all()


class BodyLimit:
    """Refuse a request whose declared or streamed body exceeds its limit, with 413: the
    large limit only on the upload paths, the small one (JSON bodies) everywhere else.

    Uploads are parsed in memory (api.py raises Starlette's spool size to the body limit: a
    3 MB phone photo spooled to a file cost a thread hop per 64 KB chunk, each waiting for a
    core). So that many at once cannot exhaust memory, an upload reserves its declared
    length (the body limit when chunked) from `budget` before a byte is read; one that
    finds no room in time is answered 503 with Retry-After, unread, and one whose account
    stays over its share of the budget (UploadBudget) as long, 429, unread. No body may send
    more than it declared (413); an upload that sends nothing for `idle_s`, or that arrives
    slower than `min_rate` bytes/s on average once `rate_window_s` have passed, is 408, so a
    slow-drip client does not keep its share (a slow phone at twice that rate still gets
    through: it is no total deadline).
    The account is the caller PreAuth found (it runs first).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_paths: set[str],
                 upload_max_bytes: int, budget: UploadBudget | None = None,
                 idle_s: float = 30.0, min_rate: float = 16 * 1024,
                 rate_window_s: float = 30.0):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_paths = upload_paths
        self.upload_max_bytes = upload_max_bytes
        self.budget = budget
        self.idle_s = idle_s
        self.min_rate = min_rate
        self.rate_window_s = rate_window_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "").removeprefix(scope.get("root_path", "")) or "/"
        upload = path in self.upload_paths
        limit = self.upload_max_bytes if upload else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await JSONResponse({"detail": f"Request body over {limit} bytes."},
                                      413)(scope, receive, send)
        allowed = int(declared) if declared.isdigit() else limit
        budget = self.budget if upload and scope["method"] == "POST" else None
        # A body larger than the whole budget waits until it is alone, rather than never.
        reserved = 0 if budget is None else min(allowed, budget.limit)
        owner = _owner(scope) if budget is not None else None
        why = None if budget is None else await budget.take(reserved, owner)
        if why == "no room":
            body = {"detail": "Too many uploads are being received; try again shortly."}
            return await JSONResponse(body, 503, {"Retry-After": str(RETRY_AFTER_S)})(
                scope, receive, send)
        if why is not None:  # the account's own uploads in progress: its share
            return await JSONResponse({"detail": why}, 429, {"Retry-After": str(
                RETRY_AFTER_S)})(scope, receive, send)
        idle_s = self.idle_s if budget is not None else None
        seen, whole = 0, False
        started = asyncio.get_running_loop().time()

        async def counted() -> Message:
            nonlocal seen, whole
            if whole:  # after the body: a wait for the disconnect, not for data
                return await receive()
            try:
                async with asyncio.timeout(idle_s):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, f"No upload data for {idle_s:g} s.") from None
            whole = not message.get("more_body", False)
            seen += len(message.get("body", b""))
            if seen > allowed:  # chunked without a length, or more than it declared
                raise HTTPException(413, f"Request body over {allowed} bytes.")
            elapsed = asyncio.get_running_loop().time() - started
            if budget is not None and not whole and elapsed >= self.rate_window_s \
                    and seen < self.min_rate * elapsed:
                raise HTTPException(408, f"The upload arrives slower than "
                                         f"{self.min_rate / 1024:g} KB/s; try a faster "
                                         "connection or smaller photos.")
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            if budget is not None:
                await budget.give_back(reserved, owner)


def _owner(scope: Scope) -> str | None:
    """The account PreAuth found for this request (None: not checked, e.g. in unit tests)."""
    principal = scope.get("state", {}).get("principal")
    user = getattr(principal, "user", None)
    return getattr(user, "id", None)


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
