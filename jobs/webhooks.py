"""Webhook deliveries: durable in Redis, signed as the Standard Webhooks spec says, retried
for about a day.

A job's transitions queue its events (jobs/lua.py: `start` when claimed, `completed` at any
terminal status) in one sorted set, in the same script as the transition, so no event is
lost between the two. Every Ingress replica runs a Courier over that set: it leases what is
due (the lease runs out if the replica goes away, and another one delivers), POSTs the job
body, and records each attempt on the job, visible in its `webhook` field.
"""

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime

import httpx
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

import paleon
from configs import WebhookSettings
from jobs.keys import WEBHOOKS_DUE, JobKeys
from jobs.record import JobRecord
from jobs.store import JobStore
from jobs.webhook_targets import Refused, Targets
from paleon import logs

log = logging.getLogger("paleon.webhooks")

# Due members ("{job_id}:{event}") leased to the caller until ARGV[2].
_LEASE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
"""

# One attempt, appended to the job's log (a line of JSON each), only while the job exists.
_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local log = redis.call('HGET', KEYS[1], 'webhook_log') or ''
redis.call('HSET', KEYS[1], 'webhook_log', log .. ARGV[1] .. '\\n')
return 1
"""

# The body an event's attempts send (KEYS[1]: the job, ARGV[1]: the field): the first one
# stored, ARGV[2] if none yet; nil once the job is gone (nothing written then).
_PAYLOAD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])
"""

Secrets = Callable[[str], Awaitable[tuple[str, ...]]]  # a user's signing secrets
Render = Callable[[JobRecord], bytes]  # a job as its body


def message_id(job_id: str, event: str) -> str:
    """`webhook-id`: the same for every attempt at one event, the receiver's idempotency key."""
    return f"msg_{job_id}_{event}"


def signature(secrets: tuple[str, ...], msg_id: str, moment: datetime, body: bytes) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, moment, body) for secret in secrets)


class Courier:
    def __init__(self, redis: Redis, store: JobStore, targets: Targets, secrets: Secrets,
                 render: Render, settings: WebhookSettings):
        self.redis, self.store, self.targets = redis, store, targets
        self.secrets, self.render, self.settings = secrets, render, settings
        self._lease = redis.register_script(_LEASE)
        self._record = redis.register_script(_RECORD)
        self._payload = redis.register_script(_PAYLOAD)
        self._client = httpx.AsyncClient(timeout=settings.timeout_s, follow_redirects=False,
                                         headers={"User-Agent": f"Paleon/{paleon.__version__}"})
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._forever())

    @property
    def stopped_unexpectedly(self) -> bool:
        return self._loop_task is not None and self._loop_task.done()

    async def stop(self) -> None:
        """Deliveries under way are cut short; their leases run out and another replica
        makes them."""
        for task in [self._loop_task, *self._running]:
            if task is not None:
                task.cancel()
        for task in [self._loop_task, *self._running]:
            if task is not None:
                with suppress(asyncio.CancelledError, Exception):
                    await task
        await self._client.aclose()

    async def _forever(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook pass failed; trying again")
            await asyncio.sleep(self.settings.poll_s)

    async def deliver_due(self) -> int:
        """Lease what is due, as many as there are free slots, and deliver each in the
        background; how many were started."""
        free = self.settings.concurrency - len(self._running)
        if free <= 0:
            return 0
        now = time.time()
        due = await self._lease(keys=[WEBHOOKS_DUE],
                                args=[now, now + self.settings.lease_s, free])
        for raw in due:
            task = asyncio.get_running_loop().create_task(self.deliver(raw.decode()))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return len(due)

    async def deliver(self, member: str) -> None:
        """One attempt at one event. A failure of ours (Redis, the user store) makes it due
        again after the first retry delay, rather than when its lease runs out."""
        try:
            await self._attempt(member)
        except Exception:
            log.exception("webhook delivery %s failed on our side; trying again", member)
            with suppress(Exception):
                await self.redis.zadd(WEBHOOKS_DUE, {
                    member: time.time() + self.settings.retry_schedule_s[0]})

    async def _attempt(self, member: str) -> None:
        """Then done (2xx, 410, attempts spent) or due again."""
        job_id, _, event = member.rpartition(":")
        job = await self.store.get(job_id)
        if job is None or job.webhook_url is None:  # expired or deleted meanwhile
            await self.redis.zrem(WEBHOOKS_DUE, member)
            return
        attempt = 1 + sum(entry["event"] == event for entry in job.webhook_deliveries())
        payload_field = f"webhook_payload_{event}"
        # The first attempt's body, sent again by every retry (one message, one payload).
        body = await self._payload(keys=[JobKeys.of(job_id).job],
                                   args=[payload_field, self.render(job)])
        if body is None:  # the job went meanwhile
            await self.redis.zrem(WEBHOOKS_DUE, member)
            return
        status, error = await self._post(job, event, body)
        entry = {"event": event, "attempt": attempt, "status_code": status,
                 "at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        if error:
            entry["error"] = error
        await self._record(keys=[JobKeys.of(job_id).job], args=[json.dumps(entry)])
        context = logs.fields(job_id=job_id)
        schedule = self.settings.retry_schedule_s
        if (status is not None and 200 <= status < 300) or status == 410 \
                or attempt > len(schedule):
            if not (status is not None and 200 <= status < 300):
                log.warning("webhook %s of job %s given up after attempt %d (%s)", event,
                            job_id, attempt, error or status, extra=context)
            await self.redis.zrem(WEBHOOKS_DUE, member)
            await self.redis.hdel(JobKeys.of(job_id).job, payload_field)
            return
        delay = schedule[attempt - 1] * random.uniform(0.9, 1.1)  # noqa: S311 (jitter)
        log.info("webhook %s of job %s: attempt %d got %s; again in %.0f s", event, job_id,
                 attempt, error or status, delay, extra=context)
        await self.redis.zadd(WEBHOOKS_DUE, {member: time.time() + delay})

    async def _post(self, job: JobRecord, event: str,
                    body: bytes) -> tuple[int | None, str | None]:
        """The status code, or None and what went wrong before one came back."""
        assert job.webhook_url is not None
        url = httpx.URL(job.webhook_url)
        try:
            address = await self.targets.resolve(job.webhook_url)  # checked again now
        except Refused as exc:
            return None, f"refused: {exc}"
        msg_id = message_id(job.job_id, event)
        moment = datetime.now(UTC)
        headers = {
            "Content-Type": "application/json", "Host": url.netloc.decode("ascii"),
            "webhook-id": msg_id, "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature(await self.secrets(job.user_id), msg_id, moment,
                                           body),
        }
        try:
            # To the address just checked, with the URL's host for TLS and Host.
            response = await self._client.post(
                url.copy_with(host=str(address)), content=body, headers=headers,
                extensions={"sni_hostname": url.host})
        except httpx.TimeoutException:
            return None, "timed out"
        except httpx.HTTPError as exc:
            return None, f"network error ({type(exc).__name__})"
        return response.status_code, None
