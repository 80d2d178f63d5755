"""Tiered per-user daily quotas: one atomic check-and-increment in Redis per submission."""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from configs import TierLimits
from paleon.keyspace import key


@dataclass(frozen=True)
class QuotaState:
    limit: int
    current: int
    reset_epoch: int  # the next UTC midnight, in Unix seconds

    @property
    def day(self) -> str:
        return (datetime.fromtimestamp(self.reset_epoch, UTC) - timedelta(days=1)).strftime(
            "%Y%m%d")

    @property
    def remaining(self) -> int:
        return max(self.limit - self.current, 0)

    def retry_after(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        return max(int(self.reset_epoch - now.timestamp()), 1)

    def body(self) -> dict:
        data = asdict(self)
        data.pop("reset_epoch")
        reset = datetime.fromtimestamp(self.reset_epoch, UTC)
        return {**data, "remaining": self.remaining, "reset_at": reset.isoformat()}

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Current": str(self.current),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }


def _day_window(now: datetime) -> tuple[str, int]:
    day = now.astimezone(UTC).date()
    reset = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    return day.strftime("%Y%m%d"), int(reset.timestamp())


_TAKE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return {0, count} end
count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return {1, count}
"""

# Decrements only an existing, positive counter (never creates a key).
_REFUND = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return count
"""


# A canceled job given back (KEYS[1]: its day's counter), at most ARGV[1] a day per user
# (KEYS[2]: today's refunds, expiring at ARGV[2]); 1 when given back.
_REFUND_CANCELED = """
local refunds = tonumber(redis.call('GET', KEYS[2]) or '0')
if refunds >= tonumber(ARGV[1]) then return 0 end
if tonumber(redis.call('GET', KEYS[1]) or '0') <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('INCR', KEYS[2])
redis.call('EXPIREAT', KEYS[2], ARGV[2])
return 1
"""


class Quota:
    def __init__(self, redis: Redis, limits: TierLimits, canceled_refunds_per_day: int = 10):
        self.redis = redis
        self.limits = limits
        self.canceled_refunds_per_day = canceled_refunds_per_day
        self._take_script = redis.register_script(_TAKE)
        self._refund_script = redis.register_script(_REFUND)
        self._refund_canceled = redis.register_script(_REFUND_CANCELED)

    async def _take(self, counter: str, *, limit: int, expire_at: int) -> tuple[bool, int]:
        accepted, count = await self._take_script(keys=[counter], args=[limit, expire_at])
        return bool(accepted), int(count)

    async def _refund(self, counter: str) -> None:
        await self._refund_script(keys=[counter])

    def _key(self, user_id: str, day: str) -> str:
        return key("quota", user_id, day)

    async def take(self, user_id: str, tier: str) -> tuple[bool, QuotaState]:
        day, reset = _day_window(datetime.now(UTC))
        limit = self.limits.for_tier(tier)
        # The key outlives midnight by an hour, so a refund just after midnight still finds it.
        accepted, count = await self._take(self._key(user_id, day), limit=limit,
                                           expire_at=reset + 3600)
        return accepted, QuotaState(limit=limit, current=count, reset_epoch=reset)

    async def peek(self, user_id: str, tier: str) -> QuotaState:
        day, reset = _day_window(datetime.now(UTC))
        count = int(await self.redis.get(self._key(user_id, day)) or 0)
        return QuotaState(limit=self.limits.for_tier(tier), current=count, reset_epoch=reset)

    async def refund_canceled(self, user_id: str, tier: str,
                              created_at: float) -> tuple[bool, QuotaState]:
        """Give back a job canceled before it started, submitted at `created_at` (its day's
        counter), up to `canceled_refunds_per_day` a day, so submitting and canceling cannot
        go on without limit; whether it was given back, and today's quota after it."""
        day, _ = _day_window(datetime.fromtimestamp(created_at, UTC))
        today, reset = _day_window(datetime.now(UTC))
        given = await self._refund_canceled(
            keys=[self._key(user_id, day), key("canceled-refunds", user_id, today)],
            args=[self.canceled_refunds_per_day, reset])
        return bool(given), await self.peek(user_id, tier)

    async def refund(self, user_id: str, taken: QuotaState) -> None:
        """Give back a job taken on `taken.day`, even after midnight, and never below 0."""
        await self._refund(self._key(user_id, taken.day))


class RefusedUploads:
    """A small daily budget of refused uploads per user (wrong type, damaged, too many
    pixels, too large): a refusal spends no job quota, but once the budget is spent the
    next upload is refused with 429 before its photos are looked at, so refusals cost the
    caller too and cannot be repeated without limit."""

    def __init__(self, redis: Redis, per_day: int):
        self.redis = redis
        self.per_day = per_day

    def _key(self, user_id: str) -> tuple[str, int]:
        day, reset = _day_window(datetime.now(UTC))
        return key("refused-uploads", user_id, day), reset

    async def exhausted(self, user_id: str) -> QuotaState | None:
        """The budget's state when it is spent, else None."""
        counter, reset = self._key(user_id)
        count = int(await self.redis.get(counter) or 0)
        if count < self.per_day:
            return None
        return QuotaState(limit=self.per_day, current=count, reset_epoch=reset)

    async def spend(self, user_id: str) -> None:
        counter, reset = self._key(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.expireat(counter, reset)
            await pipe.execute()
