"""One exception hierarchy, mapped to HTTP in one place (`deployments.http_errors`)."""

from typing import Any, Self


class PaleonError(Exception):
    status_code = 500
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields

    def with_headers(self, headers: dict[str, str]) -> Self:
        self.headers = headers
        return self


class InvalidRequest(PaleonError):
    status_code = 400


class PayloadTooLarge(PaleonError):
    status_code = 413


class InvalidCredentials(PaleonError):
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(PaleonError):
    status_code = 403


class NotFound(PaleonError):
    status_code = 404


class JobNotFound(NotFound):
    pass


class Conflict(PaleonError):
    status_code = 409


class Unprocessable(PaleonError):
    status_code = 422


class QuotaExceeded(PaleonError):
    status_code = 429


RETRY_AFTER_S = 5  # what a 503 tells a client to wait before trying again


class ServiceUnavailable(PaleonError):
    status_code = 503
    headers = {"Retry-After": str(RETRY_AFTER_S)}
