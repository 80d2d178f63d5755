"""Failed-login throttling in Redis, per account and per client address."""

from redis.asyncio import Redis

from configs import LoginSettings
from paleon import keyspace
from paleon.errors import QuotaExceeded


class LoginThrottle:
    def __init__(self, redis: Redis, limits: LoginSettings):
        self.redis = redis
        self.limits = limits

    def _keys(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (keyspace.key("login", "account", email.lower()), self.limits.failures_per_account),
            (keyspace.key("login", "address", address), self.limits.failures_per_address),
        ]

    async def attempt(self, email: str, address: str) -> None:
        """Count this attempt before the password is checked, so parallel guesses can't all
        pass a read-only check; 429 once either counter is over its limit. The same for
        unknown emails, so the answer tells nothing about which accounts exist."""
        keys = self._keys(email, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, _ in keys:
                pipe.incr(key)
                pipe.expire(key, self.limits.window_s, nx=True)
            counts = (await pipe.execute())[::2]
        for (key, limit), count in zip(keys, counts, strict=True):
            if count > limit:
                wait = max(await self.redis.ttl(key), 1)
                raise QuotaExceeded(
                    f"Too many failed logins; try again in {wait} s."
                ).with_headers({"Retry-After": str(wait)})

    async def succeeded(self, email: str, address: str) -> None:
        """A right password: the account starts afresh and the attempt is not held against
        the address."""
        account, address_key = (key for key, _ in self._keys(email, address))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(account)
            pipe.decr(address_key)
            await pipe.execute()
