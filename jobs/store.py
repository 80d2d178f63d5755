"""Job records, their images and the per-user index, in Redis (the source of truth)."""

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from jobs import lua
from paleon.keyspace import PREFIX  # noqa: E402

DEADLINES = f"{PREFIX}:jobs:deadlines"  # every unfinished job → when it is overdue
QUEUED = f"{PREFIX}:jobs:queued"  # pending jobs → since when (for queue depth and age)
TOTALS = f"{PREFIX}:jobs:totals"  # submitted / completed / failed, since Redis began
TERMINAL = ("completed", "failed")


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def images_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:images"


def user_jobs_key(user_id: str) -> str:
    return f"{PREFIX}:user:{user_id}:jobs"


@dataclass(frozen=True)
class Timeouts:
    pending_s: float
    processing_s: float
    max_attempts: int
    result_ttl_s: int


class JobStore:
    def __init__(self, redis: Redis, timeouts: Timeouts):
        self.redis = redis
        self.timeouts = timeouts
        self._claim = redis.register_script(lua.CLAIM)
        self._finish = redis.register_script(lua.FINISH)
        self._give_up = redis.register_script(lua.GIVE_UP)
        self._reap = redis.register_script(lua.REAP)
        self._hand_back = redis.register_script(lua.HAND_BACK)

    async def create(self, user_id: str, images: list[bytes], request_id: str) -> dict:
        job_id = uuid.uuid4().hex
        now = time.time()
        record = {
            "job_id": job_id,
            "user_id": user_id,
            "status": "pending",
            "attempt": 1,
            "image_count": len(images),
            "request_id": request_id,
            "created_at": now,
            "updated_at": now,
        }
        ttl = self.timeouts.result_ttl_s
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(job_key(job_id), mapping=record)
            pipe.rpush(images_key(job_id), *images)
            # Safety net: nothing outlives the retention even if every worker vanished.
            pipe.expire(images_key(job_id), ttl)
            pipe.zadd(user_jobs_key(user_id), {job_id: now})
            pipe.zremrangebyscore(user_jobs_key(user_id), "-inf", now - ttl)
            pipe.expire(user_jobs_key(user_id), ttl)
            pipe.zadd(DEADLINES, {job_id: now + self.timeouts.pending_s})
            pipe.zadd(QUEUED, {job_id: now})
            pipe.hincrby(TOTALS, "submitted", 1)
            await pipe.execute()
        return _decode({k: str(v) for k, v in record.items()})

    async def get(self, job_id: str) -> dict | None:
        raw = await self.redis.hgetall(job_key(job_id))
        return _decode(raw) if raw else None

    async def list_for_user(self, user_id: str, limit: int) -> list[dict]:
        ids = await self.redis.zrevrange(user_jobs_key(user_id), 0, limit * 2 + 10)
        async with self.redis.pipeline(transaction=False) as pipe:
            for raw_id in ids:
                pipe.hgetall(job_key(raw_id.decode()))
            records = await pipe.execute()
        jobs: list[dict] = []
        gone: list[bytes] = []
        for raw_id, raw in zip(ids, records, strict=True):
            if not raw:
                gone.append(raw_id)
            elif len(jobs) < limit:
                jobs.append(_decode(raw))
        if gone:
            await self.redis.zrem(user_jobs_key(user_id), *gone)
        return jobs

    async def images(self, job_id: str) -> list[bytes]:
        return await self.redis.lrange(images_key(job_id), 0, -1)

    async def claim(self, job_id: str, attempt: int, worker_pid: int) -> float | None:
        """Start this attempt; returns when the job was submitted, or None when it is not
        this attempt's to run (finished, failed or retried meanwhile)."""
        now = time.time()
        args = [job_id, attempt, now, now + self.timeouts.processing_s, worker_pid]
        created = await self._claim(keys=[job_key(job_id), DEADLINES, QUEUED], args=args)
        return float(created) if created else None

    async def complete(self, job_id: str, attempt: int, result: dict, seconds: float) -> bool:
        return await self._end(job_id, attempt, "completed", "result", json.dumps(result), seconds)

    async def give_up(self, job_id: str, attempt: int, error: str) -> bool:
        args = [job_id, attempt, time.time(), error[:500]]
        return bool(await self._give_up(keys=[job_key(job_id), DEADLINES], args=args))

    async def hand_back(self, job_id: str, attempt: int) -> bool:
        """Make an unfinished attempt overdue now, so any replica's reaper retries it."""
        args = [job_id, attempt, time.time()]
        return bool(await self._hand_back(keys=[job_key(job_id), DEADLINES], args=args))

    async def snapshot(self) -> dict:
        """The global view for /metrics: the same numbers whichever replica asks."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(QUEUED)
            pipe.zcard(DEADLINES)
            pipe.zrange(QUEUED, 0, 0, withscores=True)
            pipe.hgetall(TOTALS)
            queued, unfinished, oldest, totals = await pipe.execute()
        return {
            "pending": queued,
            "processing": max(unfinished - queued, 0),
            "oldest_pending_age_s": max(time.time() - oldest[0][1], 0.0) if oldest else 0.0,
            "totals": {k.decode(): int(v) for k, v in totals.items()},
        }

    async def _end(self, job_id, attempt, status, field, value, seconds) -> bool:
        keys = [job_key(job_id), DEADLINES, images_key(job_id), QUEUED, TOTALS]
        args = [job_id, attempt, time.time(), status, field, value,
                self.timeouts.result_ttl_s, round(seconds, 4)]
        return bool(await self._finish(keys=keys, args=args))

    async def reap(self, launch: Callable[[str, int], None] | None = None
                   ) -> list[tuple[str, int]]:
        """Retry or fail every job past its deadline; returns (job_id, attempt) retried.

        `launch` is called at once for each retry, so a pass cut short (cancelled, Redis
        gone mid-way) never leaves a job retried in Redis but not launched."""
        now = time.time()
        due = await self.redis.zrangebyscore(DEADLINES, "-inf", now, start=0, num=100)
        relaunch = []
        for raw_id in due:
            job_id = raw_id.decode()
            keys = [job_key(job_id), DEADLINES, images_key(job_id), QUEUED, TOTALS]
            args = [job_id, now, self.timeouts.max_attempts, now + self.timeouts.pending_s,
                    self.timeouts.result_ttl_s]
            attempt = int(await self._reap(keys=keys, args=args))
            if attempt > 0:
                if launch is not None:
                    launch(job_id, attempt)
                relaunch.append((job_id, attempt))
        return relaunch


_FLOATS = ("created_at", "updated_at", "started_at", "completed_at", "processing_time")
_INTS = ("attempt", "image_count", "worker_pid", "handed_back")


def _decode(raw: dict) -> dict:
    job = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
    for field in _FLOATS:
        if field in job:
            job[field] = float(job[field])
    for field in _INTS:
        if field in job:
            job[field] = int(job[field])
    if "result" in job:
        job["result"] = json.loads(job["result"])
    return job
