"""The reaper of one ingress replica: the jobs it launched, overdue jobs, and hand-back.

A job worker shares its replica's fate (Ray ownership), so Redis, not the worker, is the
truth: any replica's reaper retries or fails a job whose deadline passed, and a replica
going away hands back what it still runs so that a surviving reaper retries it at once.
"""

import asyncio
import logging
from collections.abc import Callable

from configs import JobSettings
from jobs.store import JobStore
from paleon import logs

log = logging.getLogger("paleon.reaper")

# Starts one attempt of a job somewhere (a Ray task); the future ends with the attempt.
Launcher = Callable[[str, int], "asyncio.Future[object]"]


class Reaper:
    def __init__(self, store: JobStore, launcher: Launcher, settings: JobSettings):
        self.store = store
        self.launcher = launcher
        self.settings = settings
        self.in_flight: dict[asyncio.Future[object], tuple[str, int]] = {}
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._handing: set[asyncio.Future[bool]] = set()

    def launch(self, job_id: str, attempt: int) -> None:
        future = self.launcher(job_id, attempt)
        self.in_flight[future] = (job_id, attempt)
        future.add_done_callback(self._landed)

    def _landed(self, done: "asyncio.Future[object]") -> None:
        launched = self.in_flight.pop(done, None)
        if done.cancelled() or done.exception() is None or launched is None:
            return
        # The attempt itself records what failed in the job; an error here means its worker
        # went away (killed, restarting): handed back, due again shortly, not counted.
        job_id, attempt = launched
        log.warning("job %s attempt %d: its worker ended with %s; handing it back", job_id,
                    attempt, type(done.exception()).__name__, extra=logs.fields(job_id=job_id))
        handing = asyncio.ensure_future(self.store.hand_back(
            job_id, attempt, "the job worker running it went away",
            self.settings.unavailable_retry_s))
        self._handing.add(handing)
        handing.add_done_callback(self._handed)

    def _handed(self, done: "asyncio.Future[bool]") -> None:
        self._handing.discard(done)
        if not done.cancelled() and done.exception() is not None:  # then the deadline does
            log.warning("could not hand back an attempt (%s)", type(done.exception()).__name__)

    async def reap_once(self) -> list[tuple[str, int]]:
        """Retry or fail every job past its deadline; returns the (job_id, attempt) retried.

        Each retry is launched as soon as Redis records it, so a pass cut short (cancelled,
        Redis gone mid-way) never leaves a job retried in Redis but not launched."""
        retried = []
        for job_id in await self.store.overdue():
            attempt = await self.store.retry_or_fail(job_id)
            if attempt > 0:
                self.launch(job_id, attempt)
                retried.append((job_id, attempt))
                log.warning("job %s overdue: launched attempt %d", job_id, attempt,
                            extra=logs.fields(job_id=job_id))
        return retried

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._forever())

    @property
    def stopped_unexpectedly(self) -> bool:
        return (self._loop_task is not None and self._loop_task.done()
                and not self._stopping)

    async def _forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.settings.reaper_interval_s)
            try:
                await self.reap_once()
            except Exception:
                log.exception("reaper pass failed; trying again")

    async def stop(self) -> None:
        """No job may go with this replica: the ones launched here get `shutdown_grace_s`
        to finish, and the rest are handed back, overdue at once."""
        self._stopping = True  # the loop ends after its current pass, never mid-way
        if self._loop_task is not None:
            await asyncio.wait([self._loop_task], timeout=self.settings.reaper_interval_s + 5)
        if self.in_flight:
            log.info("shutting down with %d job(s) in flight", len(self.in_flight))
            await asyncio.wait(list(self.in_flight), timeout=self.settings.shutdown_grace_s)
        for job_id, attempt in list(self.in_flight.values()):
            try:
                if await self.store.hand_back(job_id, attempt):
                    log.warning("job %s attempt %d handed back at shutdown", job_id, attempt,
                                extra=logs.fields(job_id=job_id))
            except Exception:  # one Redis error must not skip the others
                log.exception("could not hand back job %s", job_id,
                              extra=logs.fields(job_id=job_id))
