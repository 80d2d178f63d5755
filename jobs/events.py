"""Job changes as they happen: every transition script publishes the job's id on one Redis
channel, and each replica holds one subscription, fanned out to the requests waiting on a
job (long-polls, live streams). A waiting request holds neither a thread nor a Redis
connection; it holds an asyncio.Event."""

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis

from paleon.keyspace import key

CHANNEL = key("jobs", "events")
log = logging.getLogger("paleon.jobs")


class WaitSlot:
    """One request's place among its user's waiting requests; given back once."""

    def __init__(self, slots: "WaitSlots", user_id: str):
        self._slots, self._user_id = slots, user_id
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.give_back(self._user_id)


class WaitSlots:
    """How many requests each user may hold waiting on jobs at once (long-polls, live
    streams) in one replica, so one client cannot fill a replica's request slots."""

    def __init__(self, per_user: int):
        self.per_user = per_user
        self.held: Counter[str] = Counter()

    def take(self, user_id: str) -> WaitSlot | None:
        if self.held[user_id] >= self.per_user:
            return None
        self.held[user_id] += 1
        return WaitSlot(self, user_id)

    def give_back(self, user_id: str) -> None:
        self.held[user_id] -= 1
        if self.held[user_id] <= 0:
            del self.held[user_id]


class JobEvents:
    def __init__(self, redis: Redis, waits_per_user: int = 20):
        self.redis = redis
        self.slots = WaitSlots(waits_per_user)
        self.waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncio.Task | None = None

    @asynccontextmanager
    async def watching(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `job_id` changes, while the block runs. Register before
        reading the job, and clear it before each read, so no change falls in between."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="paleon-job-events")
        changed = asyncio.Event()
        self.waiters[job_id].add(changed)
        try:
            yield changed
        finally:
            waiting = self.waiters.get(job_id)
            if waiting is not None:
                waiting.discard(changed)
                if not waiting:
                    del self.waiters[job_id]

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._wake(message["data"].decode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: waiters fall back on their re-checks
                log.warning("job events unavailable (%s); subscribing again in 1 s",
                            type(exc).__name__)
                self._wake_all()
                await asyncio.sleep(1)

    def _wake(self, job_id: str) -> None:
        for changed in self.waiters.get(job_id, ()):
            changed.set()

    def _wake_all(self) -> None:
        for waiting in self.waiters.values():
            for changed in waiting:
                changed.set()

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._listener
