"""Ingress: the HTTP API (FastAPI, built on the replica from its services), the reaper, the
webhook courier and the replica's job workers."""

import logging

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from configs import Settings
from deployments.api import build_api
from deployments.handles import RetrieverHandle
from deployments.job_workers import JobWiring, JobWorkers
from deployments.services import Services
from paleon import logs

log = logging.getLogger("paleon.ingress")


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=200)
@serve.ingress()
class Ingress:
    # Serve awaits an async constructor before the replica takes requests.
    async def __init__(self, classifier: DeploymentHandle,  # type: ignore[misc]
                       retriever: DeploymentHandle, settings: dict):
        logs.configure_replica()
        config = Settings(**settings)
        workers = JobWorkers(JobWiring(settings=config.job_task(), classifier=classifier,
                                       retriever=retriever))
        self.services = Services.build(config, RetrieverHandle(retriever), workers.launch)
        self.services.start()
        # Ready only with the job workers up: no cold start for the first jobs.
        warmed = await workers.warm()
        log.info("%d of %d job worker(s) ready", warmed, len(workers.workers))

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_api(self.services)

    async def __del__(self) -> None:
        """Serve's graceful shutdown (downscale, redeploy): no job may go with this replica."""
        if hasattr(self, "services"):  # else __init__ failed and nothing was started
            await self.services.reaper.stop()
            await self.services.aclose()

    def check_health(self) -> None:
        # Only what a restart can fix: a Redis or Milvus outage is reported by /health
        # instead, since restarting replicas would take the whole API down with it.
        if self.services.reaper.stopped_unexpectedly:
            raise RuntimeError("the overdue-job reaper stopped")
        if self.services.courier.stopped_unexpectedly:
            raise RuntimeError("the webhook courier stopped")
