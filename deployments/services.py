"""What an ingress replica serves with: its clients and stores, built once, typed, and
handed to routes from `app.state.services`."""

import asyncio
from dataclasses import dataclass
from typing import Annotated, Protocol

import orjson
from fastapi import Depends, Request
from redis.asyncio import Redis

from auth.services import AuthServices
from configs import Settings
from deployments.schemas import job_body
from feedback.store import FeedbackStore
from jobs.events import JobEvents
from jobs.idempotency import IdempotentSubmits
from jobs.quota import Quota, RefusedUploads
from jobs.reaper import Launcher, Reaper
from jobs.record import JobRecord
from jobs.store import JobStore
from jobs.webhook_targets import Targets
from jobs.webhooks import Courier
from paleon.private import private_dir


class Retrieval(Protocol):
    """What the routes ask of the Retriever deployment."""

    async def knowledge_search(self, text: str, k: int) -> list[dict]: ...

    async def ping(self) -> dict: ...

    async def reference_counts(self) -> dict[str, int]: ...

    async def add_references(self, specimens: list[dict]) -> int: ...

    async def thumbnail(self, specimen_id: str) -> bytes | None: ...


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: Redis
    auth: AuthServices
    jobs: JobStore
    events: JobEvents  # one pub/sub subscription, fanned out to waiting requests
    idempotency: IdempotentSubmits
    quota: Quota
    refused_uploads: RefusedUploads
    reaper: Reaper  # launches jobs and keeps track of them
    webhook_targets: Targets  # where a webhook may go
    courier: Courier  # delivers webhooks (started with the reaper)
    feedback: FeedbackStore  # users' corrections, for review
    retrieval: Retrieval
    # How many submissions write their photos to Redis at once (the bytes received are
    # bounded by middleware.UploadBudget). No photo is decoded here: the job does.
    upload_slots: asyncio.Semaphore

    @classmethod
    def build(cls, settings: Settings, retrieval: Retrieval, launcher: Launcher) -> "Services":
        private_dir(settings.data_dir)
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        jobs = JobStore(redis, settings.jobs)
        auth = AuthServices.build(settings, redis)
        targets = Targets(settings.webhooks, settings.environment == "development")

        async def signing_secrets(user_id: str) -> tuple[str, ...]:
            found = await asyncio.to_thread(auth.webhook_secrets.get, user_id)
            return found.signing

        def render(job: JobRecord) -> bytes:
            return orjson.dumps(job_body(job))

        return cls(
            settings=settings,
            redis=redis,
            auth=auth,
            jobs=jobs,
            events=JobEvents(redis, settings.jobs.waiting_requests_per_user),
            idempotency=IdempotentSubmits(redis),
            quota=Quota(redis, settings.tier_limits, settings.jobs.canceled_refunds_per_day),
            refused_uploads=RefusedUploads(redis, settings.uploads.refused_per_day),
            reaper=Reaper(jobs, launcher, settings.jobs),
            webhook_targets=targets,
            courier=Courier(redis, jobs, targets, signing_secrets, render, settings.webhooks),
            feedback=FeedbackStore(auth.users.engine),
            retrieval=retrieval,
            upload_slots=asyncio.Semaphore(settings.uploads.concurrent_uploads),
        )

    def start(self) -> None:
        """The replica's background work: overdue jobs and webhook deliveries."""
        self.reaper.start()
        self.courier.start()

    async def aclose(self) -> None:
        """After the reaper has stopped: the clients this replica opened."""
        await self.courier.stop()
        await self.events.aclose()
        await self.redis.aclose()

    async def health(self) -> dict[str, str]:
        """"ok" or what is wrong, for each service a request needs."""
        probes = {"redis": self.redis.ping(), "milvus": self.retrieval.ping()}
        checks = {}
        for name, probe in probes.items():
            try:
                await asyncio.wait_for(probe, timeout=5)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unavailable ({type(exc).__name__})"
        return checks


async def services(request: Request) -> Services:
    # async: FastAPI runs a plain function dependency in its thread pool, a thread hop on
    # every request.
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
