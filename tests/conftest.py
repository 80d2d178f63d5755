"""Real services for the suite: one redis-server, one milvus-lite server, one Ray + Serve app."""

import secrets
from pathlib import Path

import httpx
import pytest
from redis import Redis

from paleon.tools import sidecars
from tests.support import CORS_ORIGIN, METRICS_TOKEN, register

JWT_SECRET = secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("paleon")


@pytest.fixture(scope="session")
def redis_server(workdir):
    port = sidecars.free_port()
    process = sidecars.start_redis(workdir / "redis", port, persistent=False)
    yield f"redis://127.0.0.1:{port}/0"
    sidecars.stop(process)


@pytest.fixture(scope="session")
def unit_redis_url(redis_server) -> str:
    """The same server, another database: the Serve app's reaper never sees these keys."""
    return redis_server.rsplit("/", 1)[0] + "/1"


@pytest.fixture(scope="session")
def milvus_server(workdir):
    port = sidecars.free_port()
    process = sidecars.start_milvus(workdir / "milvus", port)
    yield {"uri": f"http://127.0.0.1:{port}", "process": process}
    sidecars.stop(process)


@pytest.fixture(scope="session")
def supabase():
    from tests.fake_supabase import FakeSupabase

    fake = FakeSupabase()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def settings(workdir, redis_server, milvus_server, supabase) -> dict:
    from tests.fake_supabase import ANON_KEY

    return {
        "supabase_url": supabase.url,
        "supabase_anon_key": ANON_KEY,
        "supabase_jwks_refresh_cooldown_s": 0,  # tests rotate keys back to back
        "environment": "test",
        "data_dir": str(workdir / "data"),
        "database_url": f"sqlite:///{workdir / 'users.db'}",
        "redis_url": redis_server,
        "milvus_uri": milvus_server["uri"],
        "jwt_secret": JWT_SECRET,
        "api_key_pepper": secrets.token_urlsafe(48),
        "max_api_keys": 3,
        "tier_limits": {"free": 10, "pro": 1000, "enterprise": 5000},
        "job_processing_timeout_s": 8,
        "job_pending_timeout_s": 30,
        "reaper_interval_s": 0.5,
        "cors_origins": [CORS_ORIGIN],
        "metrics_token": METRICS_TOKEN,
        # The suite registers hundreds of users from one address; test_login_throttle.py
        # tests the limit itself.
        "registrations_per_address": 100_000,
        # Likewise failed logins from the one test-client address (the fuzzer makes many);
        # the per-address limit has a test of its own with its own limits.
        "login_failures_per_address": 100_000,
        # Webhook receivers of the tests listen on loopback; retries come within seconds.
        "webhooks": {"allowed_networks": ["127.0.0.0/8"], "retry_schedule_s": [1, 1, 1],
                     "poll_s": 0.2},
    }


@pytest.fixture
def redis(redis_server):
    client = Redis.from_url(redis_server)
    yield client
    client.close()


@pytest.fixture(scope="session")
def serve_app(settings):
    """Ray and the Paleon Serve app, started once for the whole session."""
    ray = pytest.importorskip("ray")
    from ray import serve

    from deployments.app import build_app

    port = sidecars.free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"torch_threads": 2, "settings": settings}), name="paleon",
              route_prefix="/", logging_config={"encoding": "JSON"})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


@pytest.fixture
def client(serve_app):
    with httpx.Client(base_url=serve_app, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def api(settings):
    """The HTTP API in-process (FastAPI's TestClient), built like an Ingress replica builds
    it, from real Redis and SQL services; only the deployment handles are stand-ins, and
    jobs run on the same loop through the real runner. It shares Redis, the user store and
    the secrets with the Serve app, so a user registered here signs in there too."""
    import asyncio

    from fastapi.testclient import TestClient

    from configs import Settings
    from deployments.api import build_api
    from deployments.services import Services
    from jobs.runner import JobRunner
    from rag.knowledge import load_knowledge
    from tests.standins import StandInClassifier, StandInRetrieval

    config = Settings(**settings)
    retrieval = StandInRetrieval()
    runners: list[JobRunner] = []

    def launch(job_id: str, attempt: int) -> asyncio.Future:
        return asyncio.ensure_future(runners[0].run(job_id, attempt))

    services = Services.build(config, retrieval, launch)
    runners.append(JobRunner(services.jobs, StandInClassifier(), retrieval,
                             config.job_task(), load_knowledge()))
    with TestClient(build_api(services), base_url="http://paleon.test") as http:
        yield http


@pytest.fixture
def user(api) -> dict:
    return register(api)


@pytest.fixture
def pro_user(api, settings) -> dict:
    from auth.store import UserStore, make_engine

    account = register(api)
    UserStore(make_engine(settings["database_url"])).set_tier(account["email"], "pro")
    return account
