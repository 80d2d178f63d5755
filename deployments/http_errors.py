"""Every error leaves as JSON with `detail`, mapped from one place."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from paleon.errors import PaleonError

log = logging.getLogger("paleon.http")


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid")


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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error; the request id is in "
                             "X-Request-ID."}, 500)
