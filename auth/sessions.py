"""Sign-in sessions in Redis: rotating refresh tokens and revoked access tokens.

A refresh token is `<family>.<secret>`. Each use rotates the secret; presenting any secret
of the family other than the current one means a copy was stolen and replayed, so the
whole family (every token descended from that sign-in) is revoked.
"""

import hashlib
import secrets
import time

from redis.asyncio import Redis

from paleon import keyspace
from paleon.errors import InvalidCredentials

_ROTATE = """
local current = redis.call('HGET', KEYS[1], 'current')
if not current then return {'unknown', ''} end
local user = redis.call('HGET', KEYS[1], 'user_id')
if current ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'reused', user}
end
redis.call('HSET', KEYS[1], 'current', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'ok', user}
"""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Sessions:
    def __init__(self, redis: Redis, refresh_ttl_s: int):
        self.redis = redis
        self.refresh_ttl_s = refresh_ttl_s
        self._rotate_script = redis.register_script(_ROTATE)

    async def _rotate(self, family: str, *, presented: str, following: str
                      ) -> tuple[bytes, bytes]:
        """(status, user_id): ok (rotated), reused (the family is revoked) or unknown."""
        status, user_id = await self._rotate_script(
            keys=[self._family_key(family)], args=[presented, following, self.refresh_ttl_s])
        return status, user_id

    def _family_key(self, family: str) -> str:
        return keyspace.key("refresh", family)

    async def start(self, user_id: str) -> str:
        family, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
        key = self._family_key(family)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"user_id": user_id, "current": _hash(secret)})
            pipe.expire(key, self.refresh_ttl_s)
            await pipe.execute()
        return f"{family}.{secret}"

    async def rotate(self, token: str) -> tuple[str, str]:
        """(user_id, the next refresh token); InvalidCredentials when unknown or replayed."""
        family, _, secret = token.partition(".")
        if not family.isalnum() or not secret:
            raise InvalidCredentials("Invalid refresh token.")
        following = secrets.token_urlsafe(32)
        status, user_id = await self._rotate(family, presented=_hash(secret),
                                             following=_hash(following))
        if status == b"reused":
            raise InvalidCredentials(
                "This refresh token was already used; every session of that sign-in is "
                "revoked. Log in again."
            )
        if status != b"ok":
            raise InvalidCredentials("Unknown or expired refresh token; log in again.")
        return user_id.decode(), f"{family}.{following}"

    async def end(self, token: str) -> None:
        family, _, _ = token.partition(".")
        if family.isalnum():
            await self.redis.delete(self._family_key(family))

    async def revoke_access(self, jti: str, expires_at: int) -> None:
        ttl = max(int(expires_at - time.time()), 1)
        await self.redis.set(keyspace.key("revoked", jti), 1, ex=ttl)

    async def access_revoked(self, jti: str) -> bool:
        return bool(await self.redis.exists(keyspace.key("revoked", jti)))
