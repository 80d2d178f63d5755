"""Ingress: the FastAPI app under @serve.ingress, wiring auth, quotas, jobs and the reaper."""

import asyncio
import logging

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle
from redis.asyncio import Redis

from auth.deps import precheck
from auth.identity_store import IdentityStore
from auth.key_routes import router as key_router
from auth.key_store import KeyStore
from auth.routes import router as auth_router
from auth.sessions import Sessions
from auth.store import UserStore, make_engine
from auth.supabase import SupabaseVerifier
from auth.throttle import LoginLimits, LoginThrottle
from configs import Settings
from deployments import http_errors
from deployments.knowledge_routes import router as knowledge_router
from deployments.metrics import router as metrics_router
from deployments.middleware import BodyLimit, PreAuth, SettingsCORS
from deployments.routes import router as job_router
from deployments.tasks import run_job, timeouts
from jobs.quota import Quota
from jobs.store import JobStore
from jobs.uploads import UploadLimits
from paleon import context, logs

log = logging.getLogger("paleon.ingress")


def _body_limit() -> int:
    # Whole multipart body: every photo at its limit plus room for the form framing.
    limits = context.current().upload_limits
    return limits.max_files * limits.max_file_bytes + 2**20

app = FastAPI(
    title="Paleon",
    summary="Fossil identification: upload photos, get the most likely taxon.",
    version="0.1.0",
)
app.include_router(auth_router)
app.include_router(key_router)
app.include_router(job_router)
app.include_router(knowledge_router)
app.include_router(metrics_router)
http_errors.install(app)
# Outermost last: CORS headers go on every answer, even a 401 or 413 from the checks inside.
app.add_middleware(BodyLimit, max_bytes=_body_limit)
app.add_middleware(PreAuth, paths={"/classify-async/"}, check=precheck)
app.add_middleware(SettingsCORS, origins=lambda: context.current().settings.cors_origins)


def _supabase(config: Settings) -> SupabaseVerifier | None:
    if not config.supabase_url:
        return None
    anon = config.supabase_anon_key.get_secret_value() if config.supabase_anon_key else None
    return SupabaseVerifier(config.supabase_url, anon, config.supabase_jwt_algorithms,
                            config.supabase_jwks_refresh_cooldown_s)


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=200)
@serve.ingress(app)
class Ingress:
    def __init__(self, classifier: DeploymentHandle, retriever: DeploymentHandle,
                 settings: dict):
        logs.configure_replica()
        self.settings_overrides = settings
        config = Settings(**settings)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.app_name = serve.get_replica_context().app_name
        self.task_cpus = config.job_task_cpus
        self.grace_s = config.shutdown_grace_s
        self.in_flight: dict[asyncio.Future, tuple[str, int]] = {}
        self.stopping = False
        self.reaper_interval_s = config.reaper_interval_s
        self.retriever = retriever
        self.redis = Redis.from_url(config.redis_url, health_check_interval=30)
        limits = UploadLimits(config.max_files, config.max_file_bytes, config.max_image_pixels,
                              config.stored_long_side)
        self.jobs = JobStore(self.redis, timeouts(config))
        engine = make_engine(config.sql_url)
        context.install(context.Services(
            settings=config,
            upload_limits=limits,
            users=UserStore(engine),
            keys=KeyStore(engine),
            jobs=self.jobs,
            quota=Quota(self.redis, config.tier_limits),
            login_throttle=LoginThrottle(self.redis, LoginLimits(
                config.login_failures_per_account, config.login_failures_per_address,
                config.login_window_s)),
            sessions=Sessions(self.redis, config.refresh_ttl_s),
            identities=IdentityStore(engine),
            supabase=_supabase(config),
            launch=self.launch,
            health_checks=self.health_checks,
            knowledge_search=self.knowledge_search,
        ))
        self.reaper = asyncio.get_event_loop().create_task(self._reap_forever(config))

    async def knowledge_search(self, text: str, k: int) -> list[dict]:
        return await self.retriever.knowledge_search.remote(text, k)

    def launch(self, job_id: str, attempt: int) -> None:
        ref = run_job.options(num_cpus=self.task_cpus).remote(
            job_id, attempt, self.app_name, self.settings_overrides
        )
        # Tasks share their owner's fate: kept so a replica going away can hand them back.
        future = asyncio.wrap_future(ref.future())
        self.in_flight[future] = (job_id, attempt)
        future.add_done_callback(self._landed)

    def _landed(self, done: asyncio.Future) -> None:
        self.in_flight.pop(done, None)
        if not done.cancelled() and done.exception() is not None:
            # The job's own record says what failed; the task's error is only logged.
            log.warning("a job task ended with %s", type(done.exception()).__name__)

    async def __del__(self) -> None:
        """Serve's graceful shutdown (downscale, redeploy): no job may go with this replica.

        Jobs launched here get `SHUTDOWN_GRACE_S` to finish; the rest are handed back, made
        overdue at once, so a remaining replica's reaper retries them without waiting out
        their deadline."""
        if not hasattr(self, "reaper"):
            return  # __init__ failed: nothing was started
        self.stopping = True  # the reaper ends after its current pass, never mid-way
        await asyncio.wait([self.reaper], timeout=self.reaper_interval_s + 5)
        if self.in_flight:
            log.info("shutting down with %d job(s) in flight", len(self.in_flight))
            await asyncio.wait(list(self.in_flight), timeout=self.grace_s)
        for job_id, attempt in list(self.in_flight.values()):
            try:
                if await self.jobs.hand_back(job_id, attempt):
                    log.warning("job %s attempt %d handed back at shutdown", job_id, attempt,
                                extra=logs.fields(job_id=job_id))
            except Exception:  # one Redis error must not skip the others
                log.exception("could not hand back job %s", job_id,
                              extra=logs.fields(job_id=job_id))

    async def _reap_forever(self, config: Settings) -> None:
        while not self.stopping:
            await asyncio.sleep(config.reaper_interval_s)
            try:
                for job_id, attempt in await self.jobs.reap(self.launch):
                    log.warning("job %s overdue: launched attempt %d", job_id, attempt,
                                extra=logs.fields(job_id=job_id))
            except Exception:
                log.exception("reaper pass failed; trying again")

    async def health_checks(self) -> dict[str, str]:
        async def redis() -> None:
            await self.redis.ping()

        async def milvus() -> None:
            await self.retriever.ping.remote()

        checks = {}
        for name, probe in (("redis", redis), ("milvus", milvus)):
            try:
                await asyncio.wait_for(probe(), timeout=5)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unavailable ({type(exc).__name__})"
        return checks

    def check_health(self) -> None:
        # Only what a restart can fix: a Redis or Milvus outage is reported by /health
        # instead, since restarting replicas would take the whole API down with it.
        if self.reaper.done() and not self.stopping:
            raise RuntimeError("the overdue-job reaper stopped")
