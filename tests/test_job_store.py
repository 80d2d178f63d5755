import asyncio
import time

from redis.asyncio import Redis

from configs import JobSettings
from jobs.keys import DEADLINES, JobKeys
from jobs.reaper import Reaper
from jobs.store import JobStore


def job_key(job_id):
    return JobKeys.of(job_id).job


def images_key(job_id):
    return JobKeys.of(job_id).images


def store_for(unit_redis_url, **overrides):
    settings = JobSettings(**{"pending_timeout_s": 30, "processing_timeout_s": 30,
                              "max_attempts": 2, "result_ttl_s": 3600, **overrides})
    redis = Redis.from_url(unit_redis_url)
    return redis, JobStore(redis, settings)


def finished(job_id, attempt):
    """A launcher whose attempts end at once (the retry itself is not under test here)."""
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


async def reap(store, launcher=finished):
    return await Reaper(store, launcher, store.settings).reap_once()


def test_lifecycle_and_retention(unit_redis_url):
    async def scenario():
        redis, store = store_for(unit_redis_url)
        job = await store.create("alice", [b"one", b"two"], "req-1")
        job_id = job.job_id
        assert job.status == "pending" and job.attempt == 1
        assert await store.images(job_id) == [b"one", b"two"]
        assert await store.claim(job_id, 1, 4242) == job.created_at  # for queue wait
        assert not await store.claim(job_id, 1, 4243)  # a duplicate task does nothing
        assert (await store.get(job_id)).status == "processing"
        assert await store.complete(job_id, 1, '{"label": "x"}', 0.5)
        done = await store.get(job_id)
        ttl = await redis.ttl(job_key(job_id))
        images_left = await redis.exists(images_key(job_id))
        in_deadlines = await redis.zscore(DEADLINES, job_id)
        listed, _ = await store.list_for_user("alice", 10)
        await redis.aclose()
        return done, ttl, images_left, in_deadlines, listed

    done, ttl, images_left, in_deadlines, listed = asyncio.run(scenario())
    assert done.status == "completed" and done.result == '{"label": "x"}'
    assert done.processing_time == 0.5
    assert 0 < ttl <= 3600 and images_left == 0 and in_deadlines is None
    assert listed[0].job_id == done.job_id


def test_overdue_job_is_retried_then_failed_with_a_reason(unit_redis_url):
    async def scenario():
        redis, store = store_for(unit_redis_url, processing_timeout_s=0.01)
        job_id = (await store.create("bob", [b"img"], "req-2")).job_id
        assert await store.claim(job_id, 1, 1)  # then the worker "dies"
        await asyncio.sleep(0.05)
        first = await reap(store)
        stale_complete = await store.complete(job_id, 1, '{"late": true}', 1.0)
        assert await store.claim(job_id, 2, 2)
        await asyncio.sleep(0.05)
        second = await reap(store)
        failed = await store.get(job_id)
        images_left = await redis.exists(images_key(job_id))
        await redis.aclose()
        return job_id, first, stale_complete, second, failed, images_left

    job_id, first, stale_complete, second, failed, images_left = asyncio.run(scenario())
    assert (job_id, 2) in first
    assert stale_complete is False  # the first attempt's late answer is ignored
    assert all(entry[0] != job_id for entry in second)
    assert failed.status == "failed"
    assert "stopped responding" in failed.error and "2 attempt" in failed.error
    assert images_left == 0


def test_an_error_is_reported_as_the_failure_reason(unit_redis_url):
    async def scenario():
        redis, store = store_for(unit_redis_url, max_attempts=1)
        job_id = (await store.create("carol", [b"img"], "req-3")).job_id
        await store.claim(job_id, 1, 1)
        await store.give_up(job_id, 1, "ValueError: cannot decode")
        await reap(store)
        job = await store.get(job_id)
        await redis.aclose()
        return job

    job = asyncio.run(scenario())
    assert job.status == "failed" and job.error.startswith("ValueError: cannot decode")


def test_list_is_newest_first_and_drops_expired(unit_redis_url):
    async def scenario():
        redis, store = store_for(unit_redis_url)
        user = f"dave-{time.time()}"
        ids = [(await store.create(user, [b"i"], "r")).job_id for _ in range(3)]
        await redis.delete(job_key(ids[1]))  # expired meanwhile
        listed, _ = await store.list_for_user(user, 10)
        await redis.aclose()
        return ids, [job.job_id for job in listed]

    ids, listed = asyncio.run(scenario())
    assert listed == [ids[2], ids[0]]


def test_snapshot_counts_the_queue_and_outcomes(unit_redis_url):
    async def scenario():
        redis, store = store_for(unit_redis_url, max_attempts=1)
        await redis.flushdb()
        first = (await store.create("alice", [b"1"], "r1")).job_id
        await asyncio.sleep(0.05)
        second = (await store.create("alice", [b"2"], "r2")).job_id
        third = (await store.create("bob", [b"3"], "r3")).job_id
        queued = await store.snapshot()
        await store.claim(first, 1, 1)
        await store.claim(second, 1, 2)
        working = await store.snapshot()
        await store.complete(first, 1, "{}", 0.1)
        await redis.zadd(DEADLINES, {second: 0})  # overdue on its last attempt: it fails
        await reap(store)
        done = await store.snapshot()
        await redis.flushdb()
        await redis.aclose()
        return queued, working, done, third

    queued, working, done, third = asyncio.run(scenario())
    assert (queued["pending"], queued["processing"]) == (3, 0)
    assert queued["oldest_pending_age_s"] >= 0.05
    assert queued["totals"] == {"submitted": 3}
    assert (working["pending"], working["processing"]) == (1, 2)
    assert (done["pending"], done["processing"]) == (1, 0)
    assert done["totals"] == {"submitted": 3, "completed": 1, "failed": 1}


def test_a_handed_back_attempt_is_retried_at_once(unit_redis_url):
    async def scenario():
        # One attempt allowed: a handed-back attempt must not use it up.
        redis, store = store_for(unit_redis_url, max_attempts=1)
        job_id = (await store.create("alice", [b"1"], "r1")).job_id
        await store.claim(job_id, 1, 1)
        nothing_due = await reap(store)
        stale = await store.hand_back(job_id, 2)  # not its attempt: nothing happens
        handed = await store.hand_back(job_id, 1)
        launched = []

        def launcher(job_id, attempt):
            launched.append((job_id, attempt))
            return finished(job_id, attempt)

        retried = await reap(store, launcher)
        assert launched == retried  # launched as reaped, not after the pass
        job = await store.get(job_id)
        await redis.delete(job_key(job_id), images_key(job_id))
        await redis.zrem(DEADLINES, job_id)
        await redis.aclose()
        return nothing_due, stale, handed, retried, job

    nothing_due, stale, handed, retried, job = asyncio.run(scenario())
    assert nothing_due == [] and not stale and handed
    assert retried == [(job.job_id, 2)] and job.status == "pending"
    assert job.last_error == "the replica running it shut down"
    assert job.handed_back == 1


def test_queue_positions_and_estimates(redis_server):
    from jobs.keys import COMPLETIONS, PROCESSING_MEAN, QUEUED

    async def scenario():
        # A database of its own: positions count every pending job in the shared queue.
        redis = Redis.from_url(redis_server.rsplit("/", 1)[0] + "/7")
        await redis.flushdb()
        store = JobStore(redis, JobSettings())
        jobs = [await store.create("queue", [b"1"], "r") for _ in range(10)]
        before = [await store.queue_view(job) for job in jobs]
        await store.claim(jobs[0].job_id, 1, 1234)  # the first one starts
        running = await store.get(jobs[0].job_id)
        after = [await store.queue_view(job) for job in jobs[1:]]
        now = time.time()  # two completions in the window, 10 s each on average
        await redis.zadd(COMPLETIONS, {"done-1": now - 5, "done-2": now - 1})
        await redis.set(PROCESSING_MEAN, 10)
        estimated = await store.queue_view(jobs[4])
        during = await store.queue_view(running)
        assert await redis.zcard(QUEUED) == 9
        await redis.flushdb()
        await redis.aclose()
        return before, after, estimated, during

    before, after, estimated, during = asyncio.run(scenario())
    assert [view.queue_position for view in before] == list(range(10))
    assert all(view.estimated_start_s is None for view in before)  # no completions yet
    assert [view.queue_position for view in after] == list(range(9))
    # 2 completions in 120 s: one every 60 s; the 4th in line starts in about 4 minutes.
    assert estimated.queue_position == 3 and estimated.estimated_start_s == 240.0
    assert estimated.estimated_completion_s == 250.0
    assert during.queue_position is None and 0 < during.estimated_completion_s <= 10
