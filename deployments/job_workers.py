"""Jobs on Ray: a small pool of async job-worker actors per Ingress replica, each running
many attempts at once on its event loop (jobs.runner.JobRunner); an attempt is one actor
task.

An attempt mostly waits (Redis, the classifier, the Retriever), so one process with an
event loop runs dozens side by side, where a plain Ray task per attempt would hold a worker
process each (≈ 165 MB and a raylet lease per task). Redis holds the job, not the actor: a
worker that dies (killed, its replica gone) leaves its jobs past their deadlines or handed
back, and a reaper retries them.
"""

import asyncio
import concurrent.futures
import itertools
import logging
import os
from dataclasses import dataclass
from typing import cast

import ray
from ray.actor import ActorHandle
from ray.serve.handle import DeploymentHandle
from redis.asyncio import Redis

from configs import JobTaskSettings
from deployments.handles import ClassifierHandle, RetrieverHandle
from deployments.metrics import JobAttemptMetrics
from jobs.runner import JobRunner
from jobs.store import JobStore
from paleon import logs
from paleon.priority import lower_priority
from rag.knowledge import load_knowledge

log = logging.getLogger("paleon.jobs")


@dataclass(frozen=True)
class JobWiring:
    """What a job worker needs from the Ingress replica that starts it (no signing
    secrets: JobTaskSettings holds none)."""

    settings: JobTaskSettings
    classifier: DeploymentHandle
    retriever: DeploymentHandle


class JobWorker:
    """One job-worker process. Its runner (and the runner's Redis client) is made on the
    actor's own event loop, on first use."""

    def __init__(self, wiring: JobWiring):
        logs.configure_worker("job")
        lower_priority(wiring.settings.jobs.work_priority)
        self._wiring = wiring
        self._runner: JobRunner | None = None

    def _runner_here(self) -> JobRunner:
        if self._runner is None:
            wiring = self._wiring
            redis = Redis.from_url(wiring.settings.redis_url, health_check_interval=30)
            self._runner = JobRunner(
                JobStore(redis, wiring.settings.jobs), ClassifierHandle(wiring.classifier),
                RetrieverHandle(wiring.retriever), wiring.settings, load_knowledge(),
                JobAttemptMetrics())
        return self._runner

    async def run(self, job_id: str, attempt: int) -> None:
        await self._runner_here().run(job_id, attempt)

    async def ready(self) -> int:
        """Built and answering: the worker's pid."""
        self._runner_here()
        return os.getpid()


class JobWorkers:
    """The pool of one Ingress replica, owned by it (they share its fate, like any Ray
    object it owns); attempts go round the pool."""

    def __init__(self, wiring: JobWiring):
        jobs = wiring.settings.jobs
        actor = ray.remote(JobWorker).options(
            num_cpus=jobs.task_cpus, max_concurrency=jobs.worker_concurrency,
            max_restarts=-1, max_task_retries=0)
        self.workers = [cast(ActorHandle, actor.remote(wiring)) for _ in range(jobs.workers)]
        self._turn = itertools.cycle(range(len(self.workers)))

    async def warm(self, timeout_s: float = 120.0) -> int:
        """Wait for every worker to be up (imports, model of the knowledge base, Redis
        client), so the first jobs find them; how many answered in time."""
        futures: list[asyncio.Future[int]] = [
            asyncio.wrap_future(worker.ready.remote().future()) for worker in self.workers]
        done, pending = await asyncio.wait(futures, timeout=timeout_s)
        for late in pending:
            late.add_done_callback(lambda f: f.cancelled() or f.exception())
        failed = [f.exception() for f in done if f.exception() is not None]
        if failed:
            log.error("%d of %d job worker(s) failed to start: %r", len(failed),
                      len(self.workers), failed[0])
        return len([f for f in done if f.exception() is None])

    def launch(self, job_id: str, attempt: int) -> "asyncio.Future[object]":
        """One attempt on the next worker; the future ends with it (the reaper tracks it)."""
        worker = self.workers[next(self._turn)]
        ref: ray.ObjectRef = worker.run.remote(job_id, attempt)
        return asyncio.wrap_future(cast("concurrent.futures.Future[object]", ref.future()))
