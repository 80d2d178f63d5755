"""What an ingress replica serves with: its clients and stores, built once, typed, and
handed to routes from `app.state.services`."""

import asyncio
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from redis.asyncio import Redis

from auth.services import AuthServices
from configs import Settings
from jobs.events import JobEvents
from jobs.idempotency import IdempotentSubmits
from jobs.quota import Quota, RefusedUploads
from jobs.reaper import Launcher, Reaper
from jobs.store import JobStore
from paleon.private import private_dir


class Retrieval(Protocol):
    """What the routes ask of the Retriever deployment."""

    async def knowledge_search(self, text: str, k: int) -> list[dict]: ...

    async def ping(self) -> dict: ...


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
    retrieval: Retrieval
    # How many submissions hold their photos in memory at once, from reading them to
    # storing them (the rest wait on disk, spooled). No photo is decoded here: the job does.
    upload_slots: asyncio.Semaphore

    @classmethod
    def build(cls, settings: Settings, retrieval: Retrieval, launcher: Launcher) -> "Services":
        private_dir(settings.data_dir)
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        jobs = JobStore(redis, settings.jobs)
        return cls(
            settings=settings,
            redis=redis,
            auth=AuthServices.build(settings, redis),
            jobs=jobs,
            events=JobEvents(redis),
            idempotency=IdempotentSubmits(redis),
            quota=Quota(redis, settings.tier_limits),
            refused_uploads=RefusedUploads(redis, settings.uploads.refused_per_day),
            reaper=Reaper(jobs, launcher, settings.jobs),
            retrieval=retrieval,
            upload_slots=asyncio.Semaphore(settings.uploads.concurrent_uploads),
        )

    async def aclose(self) -> None:
        """After the reaper has stopped: the clients this replica opened."""
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


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
