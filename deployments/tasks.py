"""The job as a Ray task: photos from Redis → classifier → retriever → result in Redis.

Redis holds the job, not the task: a task that dies (its worker killed, its launching
replica gone) leaves the job past its deadline, and an ingress replica's reaper retries it.
"""

import asyncio
import json
import logging
import os
import threading
import time
from functools import cache

import ray
from ray import serve
from redis.asyncio import Redis

from configs import Settings
from deployments import metrics
from jobs.store import JobStore, Timeouts
from paleon import logs
from rag import pipeline
from rag.knowledge import load_knowledge
from rag.vision_model import VisionModel

log = logging.getLogger("paleon.jobs")


def timeouts(settings: Settings) -> Timeouts:
    return Timeouts(
        pending_s=settings.job_pending_timeout_s,
        processing_s=settings.job_processing_timeout_s,
        max_attempts=settings.job_max_attempts,
        result_ttl_s=settings.result_ttl_s,
    )


@cache
def _handles(app_name: str):
    return (
        serve.get_deployment_handle("VisionClassifier", app_name),
        serve.get_deployment_handle("Retriever", app_name),
    )


@ray.remote(num_cpus=0, max_retries=0)
def run_job(job_id: str, attempt: int, app_name: str, settings: dict) -> None:
    # Block this task's thread on the worker's loop: one job at a time per worker, as before.
    future = asyncio.run_coroutine_threadsafe(
        _run(job_id, attempt, app_name, _settings(json.dumps(settings, sort_keys=True))),
        _loop())
    future.result()


@cache
def _settings(overrides: str) -> Settings:
    # Once per worker process: reading the environment on every job is wasted work.
    return Settings(**json.loads(overrides))


@cache
def _loop() -> asyncio.AbstractEventLoop:
    """The worker process's event loop, kept across tasks on a daemon thread.

    Ray reuses a worker process for many tasks: a fresh loop per task (asyncio.run) would
    also mean a fresh Redis connection per task, since redis.asyncio binds it to its loop.
    """
    logs.configure_worker("job")  # once per worker process, like this loop
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="paleon-jobs-loop", daemon=True).start()
    return loop


@cache
def _store(redis_url: str, limits: Timeouts) -> JobStore:
    # Only ever called on _loop(), so the client's pooled connections stay on that loop.
    return JobStore(Redis.from_url(redis_url, health_check_interval=30), limits)


async def _run(job_id: str, attempt: int, app_name: str, settings: Settings) -> None:
    store = _store(settings.redis_url, timeouts(settings))
    created = await store.claim(job_id, attempt, os.getpid())
    if created is None:
        return  # finished, failed or retried by someone else meanwhile
    context = logs.fields(job_id=job_id, attempt=attempt)
    metrics.jobs()["queue_wait"].observe(max(time.time() - created, 0.0))
    log.info("job %s attempt %d started", job_id, attempt, extra=context)
    started = time.perf_counter()
    try:
        # Bounded like the claim's deadline: a stuck attempt frees its worker and cancels
        # its queued deployment requests instead of adding load when the reaper retries.
        result = await asyncio.wait_for(
            _identify(store, job_id, app_name, settings, started),
            settings.job_processing_timeout_s)
    except Exception as exc:
        log.exception("job %s attempt %d failed", job_id, attempt, extra=context)
        # The user sees this: the kind of failure, never remote tracebacks or paths.
        reason = ("classification timed out" if isinstance(exc, TimeoutError)
                  else f"classification failed ({type(exc).__name__})")
        await store.give_up(job_id, attempt, reason)
        metrics.jobs()["finished"].inc(tags={"status": "failed"})
        return
    seconds = time.perf_counter() - started
    if await store.complete(job_id, attempt, result, seconds):
        metrics.jobs()["finished"].inc(tags={"status": "completed"})
        metrics.jobs()["duration"].observe(seconds)
        log.info("job %s attempt %d completed in %.2f s", job_id, attempt, seconds,
                 extra=context)


async def _identify(store: JobStore, job_id: str, app_name: str, settings: Settings,
                    started: float) -> dict:
    images = await store.images(job_id)
    if not images:
        raise RuntimeError("the job's photos are no longer stored")
    classifier, retriever = _handles(app_name)
    encoded = await asyncio.gather(*(classifier.embed.remote(image) for image in images))
    hits = await retriever.search.remote([e["embedding"] for e in encoded], settings.top_k)
    return await pipeline.identify(
        images, hits, [e["top_classes"] for e in encoded], encoder=encoded[0]["encoder"],
        kb=load_knowledge(), cal=settings.calibration,
        documents=lambda ids: retriever.knowledge_documents.remote(ids),
        vision=_vision_model(settings),
        # What is left of the attempt, less a margin to store the result.
        vision_budget_s=max(0.1, settings.job_processing_timeout_s - 1.0
                            - (time.perf_counter() - started)))


def _vision_model(settings: Settings) -> VisionModel | None:
    if settings.openai_api_key is None:
        return None
    return _cached_vision_model(settings.openai_api_key.get_secret_value(),
                                settings.openai_base_url, settings.openai_model,
                                settings.openai_timeout_s, settings.openai_max_retries,
                                settings.openai_image_side)


# One client (and its connection pool) per worker, made on _loop() like the Redis client.
_cached_vision_model = cache(VisionModel)
