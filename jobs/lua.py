"""The job state machine: each transition one atomic Lua script in Redis, with a wrapper
that builds its KEYS and ARGV by name."""

from redis.asyncio import Redis

from jobs.events import CHANNEL
from jobs.keys import RATE_WINDOW_S, WEBHOOKS_DUE, JobKeys

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local attempt = redis.call('HGET', KEYS[1], 'attempt')
local status = redis.call('HGET', KEYS[1], 'status')
if attempt ~= ARGV[2] or status ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[3],
           'updated_at', ARGV[3], 'worker_pid', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
webhook(KEYS[1], ARGV[1], 'start', ARGV[3])
redis.call('PUBLISH', '{CHANNEL}', ARGV[1])
return redis.call('HGET', KEYS[1], 'created_at')
"""

_FINISH = """
local attempt = redis.call('HGET', KEYS[1], 'attempt')
local status = redis.call('HGET', KEYS[1], 'status')
if attempt ~= ARGV[2] or status ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'completed', 'result', ARGV[4], 'completed_at', ARGV[3],
           'updated_at', ARGV[3], 'processing_time', ARGV[6])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HINCRBY', KEYS[5], 'completed', 1)
-- The recent rate and a moving average of processing time, for queue estimates.
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[7]))
local mean = tonumber(redis.call('GET', KEYS[7]) or ARGV[6])
redis.call('SET', KEYS[7], 0.9 * mean + 0.1 * tonumber(ARGV[6]))
webhook(KEYS[1], ARGV[1], 'completed', ARGV[3])
redis.call('PUBLISH', '{CHANNEL}', ARGV[1])
return 1
"""

_GIVE_UP = """
local attempt = redis.call('HGET', KEYS[1], 'attempt')
if attempt ~= ARGV[2] or redis.call('HGET', KEYS[1], 'status') ~= 'processing' then
  return 0
end
redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

_NORMALISED = """
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[2]
   or redis.call('HGET', KEYS[1], 'status') ~= 'processing' then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'normalised', 1)
return 1
"""

_REFUSE = """
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[2]
   or redis.call('HGET', KEYS[1], 'status') ~= 'processing' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[4], 'completed_at', ARGV[3],
           'updated_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HINCRBY', KEYS[5], 'failed', 1)
webhook(KEYS[1], ARGV[1], 'completed', ARGV[3])
redis.call('PUBLISH', '{CHANNEL}', ARGV[1])
return 1
"""

_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status ~= 'pending' and status ~= 'processing' then return {0, status} end
redis.call('HSET', KEYS[1], 'status', 'canceled', 'completed_at', ARGV[2],
           'updated_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[5], 'canceled', 1)
webhook(KEYS[1], ARGV[1], 'completed', ARGV[2])
redis.call('PUBLISH', '{CHANNEL}', ARGV[1])
return {1, status}
"""

_DELETE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'pending' or status == 'processing' then
  redis.call('HINCRBY', KEYS[5], 'canceled', 1)
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('PUBLISH', '{CHANNEL}', ARGV[1])
return 1
"""

_REAP = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return -1 end
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'completed' or status == 'failed' or status == 'canceled' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  return -1
end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt'))
-- Attempts handed back by a replica going away are not the job's fault: they don't count.
local handed_back = tonumber(redis.call('HGET', KEYS[1], 'handed_back') or '0')
-- ... up to a bound (ARGV[6]), so a deployment that never comes back fails the job.
if attempt - handed_back >= tonumber(ARGV[3]) or handed_back >= tonumber(ARGV[6]) then
  local reason = redis.call('HGET', KEYS[1], 'last_error')
  if not reason then
    reason = 'the worker running this job stopped responding'
  end
  reason = reason .. ' (gave up after ' .. attempt .. ' attempt(s))'
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', reason,
             'completed_at', ARGV[2], 'updated_at', ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('DEL', KEYS[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('HINCRBY', KEYS[5], 'failed', 1)
  webhook(KEYS[1], ARGV[1], 'completed', ARGV[2])
  redis.call('PUBLISH', '{CHANNEL}', ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'pending', 'attempt', attempt + 1, 'updated_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'worker_pid')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
-- Pending again: back in the queue (claimed jobs left it).
redis.call('ZADD', KEYS[4], 'NX', ARGV[2], ARGV[1])
redis.call('PUBLISH', '{CHANNEL}', ARGV[1])
return attempt + 1
"""

_HAND_BACK = """
local status = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[2] then return 0 end
if status ~= 'pending' and status ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'updated_at', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'handed_back', 1)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return 1
"""


# Queues a webhook event of a job (jobs/webhooks.py) once, if the job asked for it.
_WEBHOOK = """
local function webhook(job, id, event, now)
  local events = redis.call('HGET', job, 'webhook_events')
  if not events or not string.find(' ' .. events .. ' ', ' ' .. event .. ' ', 1, true) then
    return
  end
  if redis.call('HSETNX', job, 'webhook_queued_' .. event, now) == 1 then
    redis.call('ZADD', '{WEBHOOKS}', now, id .. ':' .. event)
  end
end
"""


def _published(script: str) -> str:
    """The script with the job events channel (jobs/events.py) and the webhook queue in
    place."""
    return (_WEBHOOK + script).replace("{CHANNEL}", CHANNEL).replace("{WEBHOOKS}",
                                                                      WEBHOOKS_DUE)


class JobScripts:
    """The transitions of one job: pending → processing → completed, or back to pending
    (retry) or failed when overdue. Every step checks the attempt, so a late or duplicate
    worker changes nothing."""

    def __init__(self, redis: Redis):
        self._claim = redis.register_script(_published(_CLAIM))
        self._finish = redis.register_script(_published(_FINISH))
        self._give_up = redis.register_script(_published(_GIVE_UP))
        self._reap = redis.register_script(_published(_REAP))
        self._normalised = redis.register_script(_published(_NORMALISED))
        self._refuse = redis.register_script(_published(_REFUSE))
        self._cancel = redis.register_script(_published(_CANCEL))
        self._delete = redis.register_script(_published(_DELETE))
        self._hand_back = redis.register_script(_published(_HAND_BACK))

    async def claim(self, job_id: str, *, attempt: int, now: float, deadline: float,
                    worker_pid: int) -> float | None:
        """pending → processing; the job's created_at when claimed, else None."""
        k = JobKeys.of(job_id)
        created = await self._claim(keys=[k.job, k.deadlines, k.queued],
                                    args=[job_id, attempt, now, deadline, worker_pid])
        return float(created) if created else None

    async def finish(self, job_id: str, *, attempt: int, now: float, result: bytes | str,
                     ttl_s: int, processing_time: float) -> bool:
        """processing → completed with its result; the photos are deleted."""
        k = JobKeys.of(job_id)
        done = await self._finish(
            keys=[k.job, k.deadlines, k.images, k.queued, k.totals, k.completions,
                  k.processing_mean],
            args=[job_id, attempt, now, result, ttl_s, processing_time, RATE_WINDOW_S])
        return bool(done)

    async def give_up(self, job_id: str, *, attempt: int, now: float, error: str) -> bool:
        """This attempt failed: record why and make the job due for the reaper now."""
        k = JobKeys.of(job_id)
        return bool(await self._give_up(keys=[k.job, k.deadlines],
                                        args=[job_id, attempt, now, error]))

    async def normalised(self, job_id: str, *, attempt: int, images: list[bytes],
                         ttl_s: int) -> bool:
        """The photos as uploaded, replaced by their normalised copies (processing only)."""
        k = JobKeys.of(job_id)
        return bool(await self._normalised(keys=[k.job, k.images],
                                           args=[job_id, attempt, ttl_s, *images]))

    async def refuse(self, job_id: str, *, attempt: int, now: float, error: str,
                     ttl_s: int) -> bool:
        """processing → failed at once, no retry (the photos cannot be used); they are
        deleted."""
        k = JobKeys.of(job_id)
        return bool(await self._refuse(
            keys=[k.job, k.deadlines, k.images, k.queued, k.totals],
            args=[job_id, attempt, now, error, ttl_s]))

    async def cancel(self, job_id: str, *, now: float, ttl_s: int) -> tuple[bool, str] | None:
        """pending or processing → canceled (the photos deleted; a running attempt's result
        will find the job no longer its own). (whether it was canceled now, the status it
        had), or None when there is no such job."""
        k = JobKeys.of(job_id)
        answer = await self._cancel(keys=[k.job, k.deadlines, k.images, k.queued, k.totals],
                                    args=[job_id, now, ttl_s])
        if answer is None:
            return None
        canceled, status = answer
        return bool(canceled), status.decode() if isinstance(status, bytes) else str(status)

    async def delete(self, job_id: str, *, user_jobs: str) -> bool:
        """The job gone now: its record, photos and result, its place in the user's index
        and the queues (a running attempt's result then finds nothing to write to)."""
        k = JobKeys.of(job_id)
        return bool(await self._delete(
            keys=[k.job, k.deadlines, k.images, k.queued, k.totals, user_jobs],
            args=[job_id]))

    async def reap(self, job_id: str, *, now: float, max_attempts: int,
                   pending_deadline: float, ttl_s: int, max_hand_backs: int) -> int:
        """An overdue job: the new attempt when retried, 0 when failed, -1 when there is
        nothing to do (not overdue, finished, or another replica got there first)."""
        k = JobKeys.of(job_id)
        return int(await self._reap(
            keys=[k.job, k.deadlines, k.images, k.queued, k.totals],
            args=[job_id, now, max_attempts, pending_deadline, ttl_s, max_hand_backs]))

    async def hand_back(self, job_id: str, *, attempt: int, now: float, reason: str,
                        due: float) -> bool:
        """An attempt that was not the job's fault (the replica that launched it going
        away, a deployment restarting) is handed back: due again at `due`, for any
        replica's reaper, and it does not count against max_attempts."""
        k = JobKeys.of(job_id)
        return bool(await self._hand_back(keys=[k.job, k.deadlines],
                                          args=[job_id, attempt, now, reason, due]))
