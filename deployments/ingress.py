"""Ingress: the HTTP API (FastAPI, built on the replica from its services) and the reaper."""

import hashlib
import json
import logging

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from configs import Settings
from deployments import tasks
from deployments.api import build_api
from deployments.handles import RetrieverHandle
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
        # The same app and arguments give the same key, so a task worker that outlives this
        # replica goes on with the runner it has.
        app_name = serve.get_replica_context().app_name
        key = hashlib.sha256(json.dumps([app_name, settings], sort_keys=True, default=str)
                             .encode()).hexdigest()
        wiring = tasks.share(tasks.JobWiring(key=key, settings=config.job_task(),
                                             classifier=classifier, retriever=retriever))
        self.services = Services.build(config, RetrieverHandle(retriever),
                                       tasks.launcher(wiring))
        self.services.start()
        # Ready only with warm task workers: no cold start for the first jobs.
        warmed = await tasks.warm(wiring, config.jobs.warm_workers)
        log.info("%d job task worker(s) warm", warmed)

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
