"""The OpenAPI document tells the truth: a bounded, seeded schemathesis run against the
in-process app (real Redis and SQL, stand-in deployments), signed in with an access token
and with an API key, holding every answer to the document. (Driven through Hypothesis
directly: schemathesis' pytest fixture loader does not run on pytest 9.)"""

import asyncio

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from configs import Settings
from deployments.api import build_api
from deployments.services import Services
from tests.standins import StandInRetrieval
from tests.support import register

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, ignored_auth]
EXAMPLES = 30  # per operation and credential


def _launched(job_id: str, attempt: int) -> asyncio.Future:
    """Jobs the fuzzer submits are accepted and stay pending: no deployment behind them."""
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def test_every_answer_is_in_the_document(api, settings):
    account = register(api)  # the same Redis, user store and secrets as the app below
    key = api.post("/auth/api-keys", json={"name": "fuzz"}, headers=account["headers"])
    credentials = [account["headers"], {"X-API-Key": key.json()["key"]}]
    # An app of its own: schemathesis drives it on its own event loop, and a Redis client
    # stays on the loop it first ran on.
    services = Services.build(Settings(**settings), StandInRetrieval(), _launched)
    schema = schemathesis.openapi.from_asgi("/openapi.json", build_api(services))
    # Logging out would revoke the token the run signs in with.
    operations = [found.ok() for found in
                  schema.exclude(path="/auth/logout").get_all_operations()]
    assert len(operations) >= 14
    failures: list[str] = []
    for operation in operations:
        for headers in credentials:
            try:
                _exercise(operation, headers)()
            except Exception as exc:  # every operation runs; all failures are reported
                inner = "; ".join(str(e) for e in getattr(exc, "exceptions", ()))
                failures.append(f"{operation.label}: {exc} {inner}"[:3000])
    assert not failures, "\n\n".join(failures)


def _exercise(operation, headers: dict):
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def exercise(case):
        case.call_and_validate(headers={**(case.headers or {}), **headers}, checks=CHECKS)

    return exercise


def test_the_document_lists_errors_as_sent(api):
    document = api.get("/openapi.json").json()
    assert "ErrorBody" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            # Validation errors are 400; the one 422 is a reused Idempotency-Key.
            if (method, path) == ("post", "/classify-async/"):
                assert "Idempotency-Key" in operation["responses"]["422"]["description"]
            else:
                assert "422" not in operation["responses"], (method, path)
    register_body = document["components"]["schemas"]["RegisterRequest"]["properties"]
    assert register_body["password"]["minLength"] == 8
    assert register_body["password"]["maxLength"] == 72


def test_timestamps_are_utc_with_an_offset(api, user):
    created = api.get("/auth/me", headers=user["headers"]).json()["created_at"]
    assert created.endswith(("Z", "+00:00")), created
    key = api.post("/auth/api-keys", json={"name": "stamp"}, headers=user["headers"]).json()
    assert key["created_at"].endswith(("Z", "+00:00")), key
