"""`Idempotency-Key` on submissions (the IETF httpapi draft): the same user and key within
24 h get the first answer again, and are charged once.

Per user and key, Redis holds what the first request made of it: "accepting" while it runs
(a minute at most, so a request that died frees the key), then the answer it gave, with a
fingerprint of what was sent so that the key cannot be reused for other photos.
"""

import hashlib
from typing import Literal

from pydantic import BaseModel
from redis.asyncio import Redis

from paleon.keyspace import key

KEEP_S = 24 * 3600
ACCEPTING_S = 60


class Replay(BaseModel):
    state: Literal["accepting", "done"]
    fingerprint: str
    body: dict | None = None
    headers: dict[str, str] | None = None


def fingerprint(parts: list[tuple[str, str | None, bytes]]) -> str:
    """What a submission sent: each photo's name, type and bytes, in order."""
    digest = hashlib.sha256()
    for name, content_type, data in parts:
        for piece in (name.encode(), (content_type or "").encode(), data):
            digest.update(len(piece).to_bytes(8, "big"))
            digest.update(piece)
    return digest.hexdigest()


class IdempotentSubmits:
    def __init__(self, redis: Redis):
        self.redis = redis

    @staticmethod
    def _key(user_id: str, idempotency_key: str) -> str:
        return key("idempotency", user_id,
                   hashlib.sha256(idempotency_key.encode()).hexdigest())

    async def seen(self, user_id: str, idempotency_key: str) -> Replay | None:
        raw = await self.redis.get(self._key(user_id, idempotency_key))
        return Replay.model_validate_json(raw) if raw else None

    async def begin(self, user_id: str, idempotency_key: str, sent: str) -> Replay | None:
        """None when this request is the first with the key (it goes ahead); else what the
        first one made of it."""
        where = self._key(user_id, idempotency_key)
        for _ in range(3):
            mine = Replay(state="accepting", fingerprint=sent).model_dump_json()
            if await self.redis.set(where, mine, nx=True, ex=ACCEPTING_S):
                return None
            raw = await self.redis.get(where)
            if raw:  # else it expired between the two calls: try again
                return Replay.model_validate_json(raw)
        return None

    async def finish(self, user_id: str, idempotency_key: str, sent: str, body: dict,
                     headers: dict[str, str]) -> None:
        done = Replay(state="done", fingerprint=sent, body=body, headers=headers)
        await self.redis.set(self._key(user_id, idempotency_key), done.model_dump_json(),
                             ex=KEEP_S)

    async def abandon(self, user_id: str, idempotency_key: str) -> None:
        """The first request failed: the key is free for a corrected retry."""
        await self.redis.delete(self._key(user_id, idempotency_key))
