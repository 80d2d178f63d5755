"""The job runner without Ray: real Redis and job store, stand-ins for the deployments."""

import asyncio
import io
import json
import secrets

import orjson
from PIL import Image
from redis.asyncio import Redis

from configs import Settings
from deployments.schemas import JobResponse, job_body
from jobs.runner import JobRunner
from jobs.store import JobStore
from rag.knowledge import load_knowledge
from rag.records import Hit
from tests.standins import StandInClassifier, StandInRetrieval
from tests.support import JPEG

PHOTO = JPEG  # a gallery photo, as uploaded


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
        job = await store.create("alice", [PHOTO, PHOTO], "req")
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
        job = await store.create("bob", [PHOTO], "req")
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
        job = await store.create("carol", [PHOTO], "req")
        await runner.run(job.job_id, 1)
        record = await store.get(job.job_id)
        await redis.aclose()
        return record

    assert asyncio.run(scenario()).last_error == "classification timed out"


def test_an_attempt_that_is_not_current_does_nothing(unit_redis_url):
    async def scenario():
        retrieval = StandInRetrieval()
        redis, store, runner, metrics = runner_for(unit_redis_url, retrieval)
        job = await store.create("dave", [PHOTO], "req")
        await runner.run(job.job_id, 2)  # a duplicate or late task of another attempt
        record = await store.get(job.job_id)
        await redis.aclose()
        return record, retrieval.searched, metrics.events

    record, searched, events = asyncio.run(scenario())
    assert record.status == "pending" and searched == 0 and events == []


def _upright_with_metadata() -> bytes:
    image = Image.new("RGB", (1600, 800), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"found near 51.5N 0.1W")
    return out.getvalue()


def test_the_job_normalises_the_uploaded_photos_once(unit_redis_url):
    class Seen(StandInClassifier):
        def __init__(self):
            super().__init__()
            self.images = []

        async def embed(self, image):
            self.images.append(image)
            return await super().embed(image)

    async def scenario():
        classifier = Seen()
        redis, store, runner, _ = runner_for(unit_redis_url, StandInRetrieval(fail=OSError()),
                                             classifier)
        job = await store.create("erin", [_upright_with_metadata()], "req")
        await runner.run(job.job_id, 1)  # fails after normalising (the search fails)
        stored, normalised, _ = await store.photos(job.job_id)
        await redis.aclose()
        return classifier.images, stored, normalised

    seen, stored, normalised = asyncio.run(scenario())
    assert normalised and stored == seen  # what the classifier saw replaced the upload
    with Image.open(io.BytesIO(stored[0])) as image:
        assert image.size == (512, 1024)  # upright, long side limited
        assert not image.getexif() and "comment" not in image.info


def test_a_photo_that_does_not_decode_fails_the_job_at_once(unit_redis_url):
    async def scenario():
        redis, store, runner, metrics = runner_for(unit_redis_url, StandInRetrieval())
        damaged = PHOTO[:600] + bytes(len(PHOTO) - 600)  # whole, but its data is zeros
        job = await store.create("frank", [PHOTO, damaged], "req")
        await runner.run(job.job_id, 1)
        record = await store.get(job.job_id)
        images = await store.images(job.job_id)
        await redis.aclose()
        return record, images, metrics.events

    record, images, events = asyncio.run(scenario())
    assert record.status == "failed" and images == []  # no retry, and the photos are gone
    assert record.error.startswith("File 'photo 2' is not a valid JPEG image")
    assert events[-1] == ("failed", True)


def test_a_deployment_restarting_postpones_the_attempt_without_counting_it(unit_redis_url):
    from jobs.keys import DEADLINES
    from paleon.errors import ServiceUnavailable

    class Restarting(StandInClassifier):
        async def embed(self, image):
            raise ServiceUnavailable("The classifier is unavailable (ActorDiedError).")

    async def scenario():
        redis, store, runner, metrics = runner_for(unit_redis_url, StandInRetrieval(),
                                                   Restarting(), max_attempts=1,
                                                   unavailable_retry_s=30)
        job = await store.create("gina", [PHOTO], "req")
        await runner.run(job.job_id, 1)
        record = await store.get(job.job_id)
        due = await redis.zscore(DEADLINES, job.job_id)
        retried = await store.retry_or_fail(job.job_id)  # not due yet: nothing happens
        await redis.zadd(DEADLINES, {job.job_id: 0})  # once due: attempt 2, not a failure
        again = await store.retry_or_fail(job.job_id)
        await redis.aclose()
        return record, due - record.updated_at, retried, again, metrics.events

    record, wait, retried, again, events = asyncio.run(scenario())
    assert record.status == "processing" and record.handed_back == 1
    assert record.last_error == "a deployment was unavailable"
    assert 29 < wait <= 30 and retried == -1
    assert again == 2  # with max_attempts=1: the postponed attempt did not count
    assert events[-1] == ("postponed", True)


def test_a_job_canceled_while_its_photos_decode_sends_nothing_to_the_deployments(
        unit_redis_url):
    async def scenario():
        redis, store, runner, metrics = runner_for(unit_redis_url, StandInRetrieval())
        job = await store.create("carol", [PHOTO], "req")
        photos = store.photos

        async def canceled_meanwhile(job_id):  # the cancel lands as the decoding runs
            found = await photos(job_id)
            await store.cancel(job_id)
            return found

        store.photos = canceled_meanwhile
        await runner.run(job.job_id, 1)
        record = await store.get(job.job_id)
        await redis.aclose()
        return record, metrics.events, runner.classifier.embedded

    record, events, embedded = asyncio.run(scenario())
    assert record.status == "canceled" and record.result is None
    assert embedded == 0 and events[-1] == ("superseded", True)


def test_a_completed_job_keeps_embeddings_a_thumbnail_and_its_context(unit_redis_url):
    from jobs.record import StatedContext

    hits = [Hit(id=f"s{i}", label="ammonoids", source=f"a/{i}.jpg", score=0.95)
            for i in range(3)]

    async def scenario():
        redis, store, runner, _ = runner_for(unit_redis_url, StandInRetrieval(hits))
        job = await store.create("dora", [PHOTO, PHOTO], "req",
                                 context=StatedContext("Miocene", "Calvert Cliffs"))
        await runner.run(job.job_id, 1)
        record, kept = await store.get(job.job_id), await store.kept(job.job_id)
        await store.delete(record)
        gone = await store.kept(job.job_id)
        await redis.aclose()
        return record, kept, gone

    record, kept, gone = asyncio.run(scenario())
    result = json.loads(record.result)
    assert result["context"]["age"]["input"] == "Miocene"
    assert result["context"]["locality"] == "Calvert Cliffs"
    assert result["candidates"][0]["range_consistent"] is False  # ammonoids: not after 66 Ma
    assert result["identification"]["reference_count"] == 3  # the stand-in's three hits
    assert kept.dim == 8 and len(kept.embeddings) == 2 * 8 * 4  # two photos, float32
    assert kept.thumbnail[:4] == b"RIFF" and kept.thumbnail[8:12] == b"WEBP"
    with Image.open(io.BytesIO(kept.thumbnail)) as small:
        assert max(small.size) <= 256 and not small.info.get("exif")
    assert gone is None  # deleting the job deletes what it kept
