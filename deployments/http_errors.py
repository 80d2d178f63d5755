"""Every error leaves as JSON with `detail`, mapped from one place."""

import logging
import sys

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis import exceptions as redis_errors
from sqlalchemy import exc as sql_errors
from starlette.exceptions import HTTPException

from deployments.handles import UNAVAILABLE
from paleon.errors import RETRY_AFTER_S, PaleonError

log = logging.getLogger("paleon.http")


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid")


# A dependency that is down, by the exception its client raises: 503, what is down, and
# when to retry, on every route (README, "When a dependency is down").
OUTAGES: tuple[tuple[type[Exception], str], ...] = (
    (redis_errors.ConnectionError, "Redis, which holds jobs, sessions and quotas"),
    (redis_errors.TimeoutError, "Redis, which holds jobs, sessions and quotas"),
    (sql_errors.OperationalError, "the user store"),
    (sql_errors.InterfaceError, "the user store"),
    (sql_errors.TimeoutError, "the user store"),
    # Only the kinds that say a deployment cannot answer now: an error raised inside a
    # deployment (a RayTaskError, also an instance of its cause) keeps its own status.
    *((kind, "a Serve deployment") for kind in UNAVAILABLE),
)


MILVUS = "Milvus, which holds the reference specimens and the knowledge base"


def _milvus_down(exc: Exception) -> bool:
    """A MilvusException, without importing pymilvus (and pandas) into the Ingress: the
    Retriever talks to Milvus, and an error of its arrives with pymilvus loaded."""
    pymilvus = sys.modules.get("pymilvus")
    kind = getattr(pymilvus, "MilvusException", None)
    return kind is not None and isinstance(exc, kind)


def outage(request: Request, exc: Exception) -> JSONResponse | None:
    """503 for an exception that says a dependency is down; None for any other."""
    what = next((what for kind, what in OUTAGES if isinstance(exc, kind)),
                MILVUS if _milvus_down(exc) else None)
    if what is None:
        return None
    log.error("%s %s: %s is unavailable (%s)", request.method, request.url.path, what,
              type(exc).__name__)
    return JSONResponse({"detail": f"{what[0].upper()}{what[1:]} is unavailable; "
                         f"retry in {RETRY_AFTER_S} s."}, 503,
                        {"Retry-After": str(RETRY_AFTER_S)})


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    response = outage(request, exc)
    if response is None:  # registered for the outage kinds only
        raise exc
    return response


def add_handlers(app: FastAPI) -> None:
    @app.exception_handler(PaleonError)
    async def paleon_error(request: Request, exc: PaleonError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, **exc.fields}, exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        detail = "Invalid request: " + "; ".join(_describe(e) for e in errors)
        slim = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
        return JSONResponse({"detail": detail, "errors": slim}, 400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)

    for kind, _ in OUTAGES:
        app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        unavailable = outage(request, exc)  # Milvus's, which has no handler of its own
        if unavailable is not None:
            return unavailable
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error; the request id is in "
                             "X-Request-ID."}, 500)
