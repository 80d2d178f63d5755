"""The job as a Ray task: photos from Redis → classifier → retriever → result in Redis.

Redis holds the job, not the task: a task that dies (its worker killed, its launching
replica gone) leaves the job past its deadline, and an ingress replica's reaper retries it.
"""

import asyncio
import logging
import os
import time
from functools import cache

import ray
from ray import serve
from redis.asyncio import Redis

from configs import Settings
from jobs.store import JobStore, Timeouts
from rag.fusion import identify

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
    asyncio.run(_run(job_id, attempt, app_name, Settings(**settings)))


async def _run(job_id: str, attempt: int, app_name: str, settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    try:
        store = JobStore(redis, timeouts(settings))
        if not await store.claim(job_id, attempt, os.getpid()):
            return  # finished, failed or retried by someone else meanwhile
        started = time.perf_counter()
        try:
            result = await _identify(store, job_id, app_name, settings)
        except Exception as exc:
            log.exception("job %s attempt %d failed", job_id, attempt)
            await store.give_up(job_id, attempt, f"{type(exc).__name__}: {exc}")
            return
        await store.complete(job_id, attempt, result, time.perf_counter() - started)
    finally:
        await redis.aclose()


async def _identify(store: JobStore, job_id: str, app_name: str, settings: Settings) -> dict:
    images = await store.images(job_id)
    if not images:
        raise RuntimeError("the job's photos are no longer stored")
    classifier, retriever = _handles(app_name)
    encoded = await asyncio.gather(*(classifier.embed.remote(image) for image in images))
    hits = await retriever.search.remote([e["embedding"] for e in encoded], settings.top_k)
    result = identify(hits, [e["top_classes"] for e in encoded])
    result["model"] = {"encoder": encoded[0]["encoder"], "index": "specimens",
                       "generator": "local-vote"}
    return result
