"""The job as a Ray task: a thin adapter that runs jobs.runner.JobRunner in a worker.

Redis holds the job, not the task: a task that dies (its worker killed, its launching
replica gone) leaves the job past its deadline, and an ingress replica's reaper retries it.
"""

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import cast

import ray
from ray.serve.handle import DeploymentHandle
from redis.asyncio import Redis

from configs import JobTaskSettings
from deployments.handles import ClassifierHandle, RetrieverHandle
from deployments.metrics import JobAttemptMetrics
from jobs.reaper import Launcher
from jobs.runner import JobRunner
from jobs.store import JobStore
from paleon import logs
from rag.knowledge import load_knowledge

log = logging.getLogger("paleon.jobs")


@dataclass(frozen=True)
class JobWiring:
    """What a job task needs, from the ingress replica that launches it. `key` names this
    wiring in a worker's cache: a worker builds one runner per wiring, not one per job."""

    key: str
    settings: JobTaskSettings
    classifier: DeploymentHandle
    retriever: DeploymentHandle


@dataclass(frozen=True)
class SharedWiring:
    """A JobWiring put into Ray's object store once per ingress replica: a task carries this
    key and reference (Ray passes a reference nested in an argument as it is, unresolved),
    and a worker fetches the wiring only the first time it meets the key, instead of every
    task pickling and unpickling the settings and two deployment handles."""

    key: str
    ref: ray.ObjectRef
    task_cpus: float  # the logical CPUs each job task reserves


def share(wiring: JobWiring) -> SharedWiring:
    return SharedWiring(wiring.key, ray.put(wiring), wiring.settings.jobs.task_cpus)


@dataclass
class _Worker:
    """A task worker process: one event loop on a daemon thread, kept across tasks (a loop
    per task would also mean a Redis connection per task, since redis.asyncio binds its
    connections to a loop), and one runner per wiring."""

    loop: asyncio.AbstractEventLoop
    runners: dict[str, JobRunner] = field(default_factory=dict)

    def runner(self, key: str, wiring: JobWiring | None) -> JobRunner:
        # Called on the worker's loop only, so the clients stay on that loop.
        if key not in self.runners:
            if wiring is None:
                raise RuntimeError(f"no wiring for {key!r} in this worker")
            redis = Redis.from_url(wiring.settings.redis_url, health_check_interval=30)
            self.runners[key] = JobRunner(
                JobStore(redis, wiring.settings.jobs), ClassifierHandle(wiring.classifier),
                RetrieverHandle(wiring.retriever), wiring.settings, load_knowledge(),
                JobAttemptMetrics())
        return self.runners[key]


@cache
def _worker() -> _Worker:
    logs.configure_worker("job")
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="paleon-jobs-loop", daemon=True).start()
    return _Worker(loop)


def _on_worker_loop(shared: SharedWiring,
                    work: Callable[[JobRunner], Awaitable[None]]) -> None:
    """Block the task's thread on the worker's loop: one task at a time per worker."""
    worker = _worker()
    wiring = None if shared.key in worker.runners else cast(JobWiring, ray.get(shared.ref))

    async def run() -> None:
        await work(worker.runner(shared.key, wiring))

    asyncio.run_coroutine_threadsafe(run(), worker.loop).result()


@ray.remote(num_cpus=0, max_retries=0)
def run_job(job_id: str, attempt: int, wiring: SharedWiring) -> None:
    _on_worker_loop(wiring, lambda runner: runner.run(job_id, attempt))


@ray.remote(num_cpus=0, max_retries=0)
def warm_up(wiring: SharedWiring, hold_s: float) -> int:
    """Start a worker and its runner (imports, Redis client), then hold it a moment so that
    the warm-up tasks land on workers of their own."""
    _on_worker_loop(wiring, lambda runner: asyncio.sleep(hold_s))
    return os.getpid()


async def warm(shared: SharedWiring, count: int, timeout_s: float = 60.0) -> int:
    """Warm `count` task workers (same resources as a job's task, so jobs reuse them);
    returns how many distinct workers answered in time."""
    if count <= 0:
        return 0
    task = warm_up.options(num_cpus=shared.task_cpus)
    refs = [task.remote(shared, 1.0) for _ in range(count)]
    futures = [asyncio.wrap_future(ref.future()) for ref in refs]
    done, pending = await asyncio.wait(futures, timeout=timeout_s)
    for late in pending:  # still starting: they become ordinary idle workers
        late.add_done_callback(lambda f: f.cancelled() or f.exception())
    failed = [f.exception() for f in done if f.exception() is not None]
    if failed:
        log.error("%d of %d warm-up task(s) failed: %r", len(failed), count, failed[0])
    return len({f.result() for f in done if f.exception() is None})


def launcher(shared: SharedWiring) -> Launcher:
    """Launches one attempt as a task; the future ends with it (the reaper tracks it)."""
    task = run_job.options(num_cpus=shared.task_cpus)

    def launch(job_id: str, attempt: int) -> "asyncio.Future[object]":
        ref = task.remote(job_id, attempt, shared)
        # The task returns None; the reaper only waits for its end, never reads a value.
        return asyncio.wrap_future(cast("concurrent.futures.Future[object]", ref.future()))

    return launch
