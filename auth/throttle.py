"""Failed-login throttling in Redis, per account and per client address."""

from dataclasses import dataclass

from redis.asyncio import Redis

from jobs.store import PREFIX
from paleon.errors import QuotaExceeded


@dataclass(frozen=True)
class LoginLimits:
    per_account: int
    per_address: int
    window_s: int


class LoginThrottle:
    def __init__(self, redis: Redis, limits: LoginLimits):
        self.redis = redis
        self.limits = limits

    def _keys(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (f"{PREFIX}:login:account:{email.lower()}", self.limits.per_account),
            (f"{PREFIX}:login:address:{address}", self.limits.per_address),
        ]

    async def check(self, email: str, address: str) -> None:
        """429 while either counter is at its limit; the same for unknown emails."""
        for key, limit in self._keys(email, address):
            failures = int(await self.redis.get(key) or 0)
            if failures >= limit:
                wait = max(await self.redis.ttl(key), 1)
                raise QuotaExceeded(
                    f"Too many failed logins; try again in {wait} s."
                ).with_headers({"Retry-After": str(wait)})

    async def failed(self, email: str, address: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, _ in self._keys(email, address):
                pipe.incr(key)
                pipe.expire(key, self.limits.window_s, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str) -> None:
        await self.redis.delete(self._keys(email, "")[0][0])
