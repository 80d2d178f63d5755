"""Job records, their photos and the per-user index in Redis, the source of truth."""

import base64
import math
import time
import uuid
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from configs import JobSettings
from jobs.idempotency import Claim
from jobs.keys import (
    COMPLETIONS,
    DEADLINES,
    PROCESSING_MEAN,
    QUEUED,
    RATE_WINDOW_S,
    TOTALS,
    JobKeys,
    user_jobs_key,
)
from jobs.lua import JobScripts
from jobs.record import JobRecord, Kept, QueueView, StatedContext
from jobs.webhook_targets import Subscription


# The clients are made without decode_responses, so Redis answers bytes; redis-py types its
# answers for either mode (bytes | str, scored pairs), so these say which they are here.
def _bytes_list(answer: object) -> list[bytes]:
    return cast(list[bytes], answer)


def _bytes_hash(answer: object) -> dict[bytes, bytes]:
    return cast(dict[bytes, bytes], answer)


@dataclass(frozen=True)
class Cursor:
    """Where a page of a user's jobs ended: opaque to clients (`encode`)."""

    created_at: float
    job_id: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.created_at!r}:{self.job_id}".encode()
                                        ).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        """ValueError when `text` is not a cursor this store made."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            moment, job_id = raw.split(":", 1)
            cursor = cls(float(moment), job_id)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("not a cursor") from exc
        if not job_id or len(job_id) > 64 or not math.isfinite(cursor.created_at):
            raise ValueError("not a cursor")
        return cursor


class JobStore:
    def __init__(self, redis: Redis, settings: JobSettings):
        self.redis = redis
        self.settings = settings
        self.scripts = JobScripts(redis)

    async def create(self, user_id: str, images: list[bytes], request_id: str,
                     claim: Claim | None = None,
                     webhook: Subscription | None = None,
                     context: StatedContext | None = None) -> JobRecord:
        """A pending job, written in one transaction with, when given, the idempotency
        claim's record of it."""
        now = time.time()
        job = JobRecord(job_id=uuid.uuid4().hex, user_id=user_id, status="pending", attempt=1,
                        image_count=len(images), request_id=request_id, created_at=now,
                        updated_at=now, webhook_url=webhook.url if webhook else None,
                        webhook_events=" ".join(webhook.events) if webhook else None,
                        age=context.age if context else None,
                        locality=context.locality if context else None)
        keys, ttl = JobKeys.of(job.job_id), self.settings.result_ttl_s
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.job, mapping=job.to_redis())  # type: ignore[arg-type]
            pipe.rpush(keys.images, *images)
            # Safety net: nothing outlives the retention even if every worker vanished.
            pipe.expire(keys.images, ttl)
            pipe.zadd(user_jobs_key(user_id), {job.job_id: now})
            pipe.zremrangebyscore(user_jobs_key(user_id), "-inf", now - ttl)
            pipe.expire(user_jobs_key(user_id), ttl)
            pipe.zadd(DEADLINES, {job.job_id: now + self.settings.pending_timeout_s})
            pipe.zadd(QUEUED, {job.job_id: now})
            pipe.hincrby(TOTALS, "submitted", 1)
            if claim is not None:
                claim.record_job(pipe, job.job_id, request_id, job.image_count)
            await pipe.execute()
        return job

    async def get(self, job_id: str) -> JobRecord | None:
        raw = _bytes_hash(await self.redis.hgetall(JobKeys.of(job_id).job))
        return JobRecord.from_redis(raw) if raw else None

    async def list_for_user(self, user_id: str, limit: int, after: Cursor | None = None,
                            status: str | None = None) -> tuple[list[JobRecord], Cursor | None]:
        """The user's jobs, newest first: up to `limit` after `after` (a page's last job),
        only those in `status` when given; and the cursor of the next page, None at the end.
        Paging walks the user's index by (created_at, job_id), so jobs that arrive between
        pages neither shift nor repeat what follows."""
        index = user_jobs_key(user_id)
        jobs: list[JobRecord] = []
        top: float | str = "+inf" if after is None else after.created_at
        skip_through = None if after is None else after.job_id
        more = True
        while len(jobs) <= limit and more:
            batch = 2 * limit + 10
            scored = cast(list[tuple[bytes, float]], await self.redis.zrevrangebyscore(
                index, top, "-inf", start=0, num=batch, withscores=True))
            more = len(scored) == batch
            if skip_through is not None:  # the cursor's own job and those tied before it
                scored = [(raw, score) for raw, score in scored
                          if score < float(top) or raw.decode() < skip_through]
            if not scored:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for raw_id, _ in scored:
                    pipe.hgetall(JobKeys.of(raw_id.decode()).job)
                records = await pipe.execute()
            gone = [raw_id for (raw_id, _), raw in zip(scored, records, strict=True) if not raw]
            if gone:  # expired records: tidy the index as we pass
                await self.redis.zrem(index, *gone)
            jobs += [JobRecord.from_redis(raw) for raw in records
                     if raw and (status is None or raw.get(b"status") == status.encode())]
            last_id, last_score = scored[-1]
            top, skip_through = last_score, last_id.decode()
        page = jobs[:limit]
        following = Cursor(page[-1].created_at, page[-1].job_id) if len(jobs) > limit else None
        return page, following

    async def queue_view(self, job: JobRecord) -> QueueView:
        """Its place in the queue (ZRANK on the queued set) and estimates from the jobs
        completed in the last RATE_WINDOW_S: three O(log n) reads, no scan."""
        if job.status not in ("pending", "processing"):
            return QueueView()
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrank(QUEUED, job.job_id)
            pipe.zcount(COMPLETIONS, now - RATE_WINDOW_S, now)
            pipe.get(PROCESSING_MEAN)
            rank, completed, mean = await pipe.execute()
        rate = completed / RATE_WINDOW_S  # jobs per second, across every worker
        mean_s = float(mean) if mean is not None else None
        if job.status == "processing":
            elapsed = now - (job.started_at or now)
            return QueueView(estimated_completion_s=None if mean_s is None
                             else round(max(mean_s - elapsed, 0.0), 1))
        position = int(rank) if rank is not None else 0
        start = round((position + 1) / rate, 1) if rate > 0 else None
        return QueueView(queue_position=position, estimated_start_s=start,
                         estimated_completion_s=None if start is None or mean_s is None
                         else round(start + mean_s, 1))

    async def images(self, job_id: str) -> list[bytes]:
        return _bytes_list(await self.redis.lrange(JobKeys.of(job_id).images, 0, -1))

    async def photos(self, job_id: str) -> tuple[list[bytes], bool, StatedContext]:
        """The job's photos, whether they are normalised yet (else as uploaded), and what
        the user said about them."""
        keys = JobKeys.of(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(keys.images, 0, -1)
            pipe.hmget(keys.job, ["normalised", "age", "locality"])
            images, (normalised, age, locality) = await pipe.execute()
        context = StatedContext(age.decode() if age else None,
                                locality.decode() if locality else None)
        return _bytes_list(images), normalised == b"1", context

    async def normalised(self, job_id: str, attempt: int, images: list[bytes]) -> bool:
        return await self.scripts.normalised(job_id, attempt=attempt, images=images,
                                             ttl_s=self.settings.result_ttl_s)

    async def refuse(self, job_id: str, attempt: int, error: str) -> bool:
        return await self.scripts.refuse(job_id, attempt=attempt, now=time.time(), error=error,
                                         ttl_s=self.settings.result_ttl_s)

    async def claim(self, job_id: str, attempt: int, worker_pid: int) -> float | None:
        """Start this attempt; returns when the job was submitted, or None when it is not
        this attempt's to run (finished, failed or retried meanwhile)."""
        now = time.time()
        return await self.scripts.claim(job_id, attempt=attempt, now=now,
                                        deadline=now + self.settings.processing_timeout_s,
                                        worker_pid=worker_pid)

    async def complete(self, job_id: str, attempt: int, result: str, seconds: float) -> bool:
        """Store the result (JSON text) of this attempt; False when it is no longer its."""
        return await self.scripts.finish(job_id, attempt=attempt, now=time.time(),
                                         result=result, ttl_s=self.settings.result_ttl_s,
                                         processing_time=round(seconds, 4))

    async def cancel(self, job_id: str) -> tuple[bool, str] | None:
        """(canceled now, the status it had before) or None for no such job."""
        return await self.scripts.cancel(job_id, now=time.time(),
                                         ttl_s=self.settings.result_ttl_s)

    async def delete(self, job: JobRecord) -> bool:
        deleted = await self.scripts.delete(job.job_id, user_jobs=user_jobs_key(job.user_id))
        await self.redis.delete(JobKeys.of(job.job_id).kept)
        return deleted

    async def keep(self, job_id: str, kept: Kept) -> None:
        """What a completed job keeps for the result's retention (for a correction): the
        photos' embeddings and a thumbnail, never the photos."""
        key, ttl = JobKeys.of(job_id).kept, self.settings.result_ttl_s
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=kept.to_redis())  # type: ignore[arg-type]
            pipe.expire(key, ttl)
            await pipe.execute()

    async def drop_kept_unless_completed(self, job_id: str) -> None:
        keys = JobKeys.of(job_id)
        if await self.redis.hget(keys.job, "status") != b"completed":
            await self.redis.delete(keys.kept)

    async def kept(self, job_id: str) -> Kept | None:
        raw = _bytes_hash(await self.redis.hgetall(JobKeys.of(job_id).kept))
        return Kept.from_redis(raw) if raw else None

    async def give_up(self, job_id: str, attempt: int, error: str) -> bool:
        return await self.scripts.give_up(job_id, attempt=attempt, now=time.time(),
                                          error=error[:500])

    async def hand_back(self, job_id: str, attempt: int,
                        reason: str = "the replica running it shut down",
                        delay_s: float = 0.0) -> bool:
        now = time.time()
        return await self.scripts.hand_back(job_id, attempt=attempt, now=now,
                                            reason=reason[:500], due=now + delay_s)

    async def overdue(self, limit: int = 100) -> list[str]:
        due = _bytes_list(await self.redis.zrangebyscore(DEADLINES, "-inf", time.time(),
                                                         start=0, num=limit))
        return [raw.decode() for raw in due]

    async def retry_or_fail(self, job_id: str) -> int:
        """An overdue job: its new attempt when retried, 0 when failed, -1 when not due."""
        now = time.time()
        return await self.scripts.reap(
            job_id, now=now, max_attempts=self.settings.max_attempts,
            pending_deadline=now + self.settings.pending_timeout_s,
            ttl_s=self.settings.result_ttl_s, max_hand_backs=self.settings.max_hand_backs)

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
