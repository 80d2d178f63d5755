"""The OpenAPI document as the service behaves: every status an operation answers, with the
error body's schema, and no 422 (validation errors are 400, as the integration guide says).

Front ends generate their clients from /openapi.json, so this is part of the contract;
tests/test_fuzz.py holds the running service to it.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from deployments.schemas import RateLimit
from jobs.record import JobStatus


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[FieldError] | None = None  # 400 for a malformed request: what and where
    rate_limit: RateLimit | None = None  # 429 for a spent quota
    status: JobStatus | None = None  # 409: the job's status


ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

GENERIC = {
    "400": "Invalid request: a field, a parameter or a body that does not fit",
    "401": "Missing, malformed, expired or revoked credentials",
    "403": "Signed in, but not allowed (an API key managing keys, someone else's job, "
           "reviewing without the reviewer role)",
    "404": "No such resource",
    "409": "The resource is not in a state that allows this (a finished job), or a request "
           "with the same Idempotency-Key is still being accepted",
    "422": "The Idempotency-Key was used for a different submission",
    "408": "The upload stopped sending its body",
    "413": "The request body is over its limit",
    "429": "A throttle or quota is spent; see Retry-After",
    "503": "A dependency is down (Redis, the user store, Milvus, a deployment), or an "
           "optional service is not configured; see Retry-After",
}

# Beyond the generic rules below: statuses an operation answers for reasons of its own.
EXTRA: dict[tuple[str, str], tuple[str, ...]] = {
    ("post", "/auth/register"): ("429",),
    ("post", "/auth/login"): ("401", "429"),
    ("post", "/auth/refresh"): ("401",),
    ("post", "/auth/oauth/signin"): ("401", "403"),
    ("post", "/classify-async/"): ("408", "409", "422", "429"),
    ("post", "/jobs/{job_id}/cancel"): ("409",),
    ("get", "/result/{job_id}/events"): ("429",),
    ("get", "/metrics"): ("401", "403"),
    ("post", "/result/{job_id}/feedback"): ("409",),
    ("post", "/feedback/{feedback_id}/reject"): ("409",),
}


def _statuses(method: str, path: str, operation: dict) -> set[str]:
    statuses = {"503"}
    has_body = "requestBody" in operation
    if operation.get("parameters") or has_body:
        statuses.add("400")
    if has_body:
        statuses.add("413")
    if operation.get("security"):
        statuses |= {"401", "403"}
    if "{" in path:
        statuses.add("404")
    return statuses | set(EXTRA.get((method, path), ()))


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (made once), with the statuses it really answers."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                         routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _, defined = models_json_schema([(ErrorBody, "serialization")],
                                    ref_template="#/components/schemas/{model}")
    components.update(defined["$defs"])
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in sorted(_statuses(method, path, operation)):
                responses.setdefault(status, {"description": GENERIC[status]})
                content = responses[status].setdefault("content", {})
                content.setdefault("application/json", {"schema": ERROR_REF})
    app.openapi_schema = schema
    return schema
