"""The job runner without Ray: real Redis and job store, stand-ins for the deployments."""

import asyncio
import json
import secrets

import orjson
from redis.asyncio import Redis

from configs import Settings
from deployments.schemas import JobResponse, job_body
from jobs.runner import JobRunner
from jobs.store import JobStore
from rag.knowledge import load_knowledge
from rag.records import Hit
from tests.standins import StandInClassifier, StandInRetrieval


class Recorded:
    def __init__(self):
        self.events = []

    def started(self, queue_wait_s):
        self.events.append(("started", queue_wait_s >= 0))

    def finished(self, status, seconds):
        self.events.append((status, seconds > 0))


def runner_for(unit_redis_url, retrieval, classifier=None, **jobs):
    settings = Settings(environment="test", redis_url=unit_redis_url,
                        jwt_secret=secrets.token_urlsafe(48),
                        api_key_pepper=secrets.token_urlsafe(48),
                        jobs={"processing_timeout_s": 5, **jobs})
    redis = Redis.from_url(unit_redis_url)
    store = JobStore(redis, settings.jobs)
    metrics = Recorded()
    runner = JobRunner(store, classifier or StandInClassifier(), retrieval,
                       settings.job_task(), load_knowledge(), metrics)
    return redis, store, runner, metrics


def test_an_attempt_identifies_and_stores_the_result(unit_redis_url):
    hits = [Hit(id=f"s{i}", label="ammonoids", source=f"a/{i}.jpg", score=0.95)
            for i in range(5)]

    async def scenario():
        redis, store, runner, metrics = runner_for(unit_redis_url, StandInRetrieval(hits))
        job = await store.create("alice", [b"photo-1", b"photo-22"], "req")
        await runner.run(job.job_id, 1)
        done = await store.get(job.job_id)
        images = await store.images(job.job_id)
        await redis.aclose()
        return done, images, metrics.events, runner.classifier.embedded

    done, images, events, embedded = asyncio.run(scenario())
    assert done.status == "completed" and done.processing_time > 0
    # A poll passes the stored result through; it reads as the validated response would.
    body = orjson.dumps(job_body(done))
    assert orjson.loads(body) == json.loads(JobResponse.model_validate_json(body)
                                            .model_dump_json())
    result = json.loads(done.result)
    assert result["identification"]["taxon_id"] == "ammonoids"
    assert len(result["per_image"]) == 2 and embedded == 2
    assert images == []  # the photos go with the result
    assert events == [("started", True), ("completed", True)]


def test_a_failed_step_gives_up_the_attempt_with_its_kind(unit_redis_url):
    async def scenario():
        retrieval = StandInRetrieval(fail=ConnectionError("milvus at 127.0.0.1:19530 refused"))
        redis, store, runner, metrics = runner_for(unit_redis_url, retrieval)
        job = await store.create("bob", [b"photo"], "req")
        await runner.run(job.job_id, 1)
        record = await store.get(job.job_id)
        await redis.aclose()
        return record, metrics.events

    record, events = asyncio.run(scenario())
    # Still "processing" until the reaper retries or fails it; the reason never has details.
    assert record.status == "processing"
    assert record.last_error == "classification failed (ConnectionError)"
    assert events[-1] == ("failed", True)


def test_a_stuck_attempt_times_out(unit_redis_url):
    class Stuck(StandInClassifier):
        async def embed(self, image):
            await asyncio.sleep(30)

    async def scenario():
        redis, store, runner, _ = runner_for(unit_redis_url, StandInRetrieval(), Stuck(),
                                             processing_timeout_s=0.2)
        job = await store.create("carol", [b"photo"], "req")
        await runner.run(job.job_id, 1)
        record = await store.get(job.job_id)
        await redis.aclose()
        return record

    assert asyncio.run(scenario()).last_error == "classification timed out"


def test_an_attempt_that_is_not_current_does_nothing(unit_redis_url):
    async def scenario():
        retrieval = StandInRetrieval()
        redis, store, runner, metrics = runner_for(unit_redis_url, retrieval)
        job = await store.create("dave", [b"photo"], "req")
        await runner.run(job.job_id, 2)  # a duplicate or late task of another attempt
        record = await store.get(job.job_id)
        await redis.aclose()
        return record, retrieval.searched, metrics.events

    record, searched, events = asyncio.run(scenario())
    assert record.status == "pending" and searched == 0 and events == []
