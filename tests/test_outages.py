"""A dependency that is down: 503 with Retry-After and what is down, on every route."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from ray.exceptions import ActorDiedError, RayTaskError

from configs import Settings
from deployments.api import build_api
from deployments.http_errors import add_handlers
from deployments.services import Services
from paleon.errors import InvalidRequest, ServiceUnavailable
from paleon.tools import sidecars
from tests.standins import StandInRetrieval
from tests.support import photo


@pytest.fixture(scope="module")
def without_redis(settings, tmp_path_factory, api, user_module):
    dead = f"redis://127.0.0.1:{sidecars.free_port()}/0"  # nothing listens there
    config = Settings(**{**settings, "redis_url": dead, "principal_cache_s": 0,
                         "data_dir": str(tmp_path_factory.mktemp("down"))})
    services = Services.build(config, StandInRetrieval(), lambda job_id, attempt: None)
    with TestClient(build_api(services), base_url="http://paleon.test") as http:
        yield http


@pytest.fixture(scope="module")
def user_module(api):
    from tests.support import register

    return register(api)


@pytest.mark.parametrize("method,path,kwargs", [
    ("post", "/auth/login", {"json": {"email": "a@example.com", "password": "x" * 10}}),
    ("post", "/auth/register", {"json": {"email": "new@example.com", "username": "newbie",
                                         "password": "fossil-hunter-42"}}),
    ("get", "/result/abc", {"auth": True}),
    ("get", "/jobs", {"auth": True}),
    ("post", "/classify-async/", {"auth": True, "files": [photo()]}),
    ("get", "/metrics", {}),
])
def test_redis_down_is_503_naming_it(without_redis, user_module, method, path, kwargs):
    kwargs = dict(kwargs)
    if kwargs.pop("auth", False):
        kwargs["headers"] = user_module["headers"]
    if path == "/metrics":
        from tests.support import METRICS_TOKEN
        kwargs["headers"] = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    answer = getattr(without_redis, method)(path, **kwargs)
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["detail"].startswith("Redis")


def test_health_says_what_is_down(without_redis):
    answer = without_redis.get("/health")
    assert answer.status_code == 503 and "redis" in answer.json()["detail"]


def _milvus_error() -> Exception:
    from pymilvus import MilvusException

    return MilvusException(code=2, message="Fail connecting to server on 127.0.0.1:19530")


@pytest.mark.parametrize("raised,status,detail", [
    # An error a deployment raised on purpose keeps its status through Ray's wrapper.
    (lambda: RayTaskError("search", "trace", InvalidRequest("bad vector")).as_instanceof_cause(),
     400, "bad vector"),
    # A deployment that cannot answer now is an outage.
    (lambda: ActorDiedError(), 503, "A Serve deployment is unavailable"),
    # What a handle says for one (deployments/handles.py) tells when to retry, too.
    (lambda: ServiceUnavailable("The classifier is unavailable"), 503, "The classifier"),
    # Milvus down under the Retriever: its error arrives through Ray, with pymilvus.
    (lambda: RayTaskError("search", "trace", _milvus_error()).as_instanceof_cause(), 503,
     "Milvus, which holds"),
    # Any other failure inside a deployment is the server's fault, not an outage.
    (lambda: RayTaskError("search", "trace", KeyError("x")).as_instanceof_cause(), 500,
     "Internal server error"),
])
def test_ray_errors_map_by_what_they_say(raised, status, detail):
    app = FastAPI()
    add_handlers(app)

    @app.get("/boom")
    def boom():
        raise raised()

    answer = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"].startswith(detail)
    assert (answer.headers.get("Retry-After") == "5") == (status == 503)
