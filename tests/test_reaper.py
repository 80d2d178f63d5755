"""The reaper without Ray: real Redis and job store; launches are plain asyncio futures."""

import asyncio

from redis.asyncio import Redis

from configs import JobSettings
from jobs.keys import DEADLINES
from jobs.reaper import Reaper
from jobs.store import JobStore


class Launches:
    """Records launches; each attempt runs until `finish` is called for it."""

    def __init__(self):
        self.launched = []
        self.futures = {}

    def __call__(self, job_id, attempt):
        self.launched.append((job_id, attempt))
        future = asyncio.get_running_loop().create_future()
        self.futures[(job_id, attempt)] = future
        return future

    def finish(self, job_id, attempt):
        self.futures[(job_id, attempt)].set_result(None)


def parts(unit_redis_url, **settings):
    config = JobSettings(**{"reaper_interval_s": 0.05, "shutdown_grace_s": 0.2, **settings})
    redis = Redis.from_url(unit_redis_url)
    store = JobStore(redis, config)
    launches = Launches()
    return redis, store, launches, Reaper(store, launches, config)


def test_launched_jobs_are_in_flight_until_they_end(unit_redis_url):
    async def scenario():
        redis, store, launches, reaper = parts(unit_redis_url)
        job = await store.create("alice", [b"1"], "r")
        reaper.launch(job.job_id, 1)
        during = dict(reaper.in_flight)
        launches.finish(job.job_id, 1)
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
        await redis.aclose()
        return during, dict(reaper.in_flight)

    during, after = asyncio.run(scenario())
    assert list(during.values()) == [(list(during.values())[0][0], 1)] and after == {}


def test_the_loop_retries_overdue_jobs_and_outlives_a_failed_pass(unit_redis_url):
    async def scenario():
        redis, store, launches, reaper = parts(unit_redis_url)
        job = await store.create("bob", [b"1"], "r")
        await store.claim(job.job_id, 1, 1)
        await redis.zadd(DEADLINES, {job.job_id: 0})  # its worker vanished
        real_overdue, failures = store.overdue, []

        async def flaky(limit=100):
            if not failures:
                failures.append(1)
                raise ConnectionError("redis went away for a moment")
            return await real_overdue(limit)

        store.overdue = flaky
        reaper.start()
        for _ in range(100):
            if (job.job_id, 2) in launches.launched:
                break
            await asyncio.sleep(0.05)
        running = not reaper.stopped_unexpectedly
        await reaper.stop()
        record = await store.get(job.job_id)
        await redis.aclose()
        return job.job_id, launches.launched, running, record

    job_id, launched, running, record = asyncio.run(scenario())
    # Other tests' overdue jobs in this database may be retried too.
    assert (job_id, 2) in launched and running
    assert record.status == "pending" and record.attempt == 2


def test_stopping_waits_for_running_jobs_then_hands_back_the_rest(unit_redis_url):
    async def scenario():
        redis, store, launches, reaper = parts(unit_redis_url, max_attempts=1)
        quick = await store.create("carol", [b"1"], "r")
        slow = await store.create("carol", [b"2"], "r")
        for job in (quick, slow):
            await store.claim(job.job_id, 1, 1)
            reaper.launch(job.job_id, 1)
        asyncio.get_running_loop().call_later(0.05, launches.finish, quick.job_id, 1)
        await store.complete(quick.job_id, 1, "{}", 0.01)
        await reaper.stop()
        due = await redis.zscore(DEADLINES, slow.job_id)
        handed = await store.get(slow.job_id)
        # One attempt allowed, but a handed-back attempt does not use it up.
        retried = await store.retry_or_fail(slow.job_id)
        await redis.aclose()
        return due, handed, retried

    due, handed, retried = asyncio.run(scenario())
    assert due is not None and handed.handed_back == 1
    assert handed.last_error == "the replica running it shut down"
    assert retried == 2


def test_an_attempt_whose_worker_went_away_is_handed_back_soon(unit_redis_url):
    async def scenario():
        redis, store, launches, reaper = parts(unit_redis_url, unavailable_retry_s=1.0)
        job = await store.create("dana", [b"1"], "r")
        reaper.launch(job.job_id, 1)
        launches.futures[(job.job_id, 1)].set_exception(RuntimeError("worker died"))
        for _ in range(50):
            await asyncio.sleep(0.02)
            record = await store.get(job.job_id)
            if record.handed_back:
                break
        due = await redis.zscore(DEADLINES, job.job_id)
        await redis.aclose()
        return record, due

    record, due = asyncio.run(scenario())
    assert record.handed_back == 1 and record.status == "pending"
    assert "job worker" in record.last_error
    assert due - record.updated_at < 1.5  # due again in about a second, not the deadline
