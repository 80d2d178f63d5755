"""`Idempotency-Key` on submissions (the IETF httpapi draft): the same user and key within
24 h get the first answer again, and are charged once.

Per user and key, Redis holds what the first request made of it: "accepting" while it runs
(a minute at most, so a request that died before making a job frees the key), "created"
with the job id, written in the same transaction as the job itself (so a request that dies
after that still has its job found, never a second one made), then "done" with the answer
it gave. Each holds a fingerprint of what was sent, so the key cannot be reused for other
photos.
"""

import hashlib
import secrets
from typing import Literal

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from paleon.keyspace import key

KEEP_S = 24 * 3600
ACCEPTING_S = 60

# Frees the key only while it still holds this request's "accepting": never a job made.
_ABANDON = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local held = cjson.decode(raw)
if held['state'] ~= 'accepting' or held['token'] ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class Replay(BaseModel):
    state: Literal["accepting", "created", "done"]
    fingerprint: str
    token: str | None = None  # the request holding "accepting"
    job_id: str | None = None  # once "created"
    request_id: str | None = None
    image_count: int | None = None
    body: dict | None = None  # once "done"
    headers: dict[str, str] | None = None


def fingerprint(parts: list[tuple[str, str | None, bytes]]) -> str:
    """What a submission sent: each photo's name, type and bytes, in order."""
    digest = hashlib.sha256()
    for name, content_type, data in parts:
        for piece in (name.encode(), (content_type or "").encode(), data):
            digest.update(len(piece).to_bytes(8, "big"))
            digest.update(piece)
    return digest.hexdigest()


class Claim:
    """One request's hold on a key, from `IdempotentSubmits.begin`."""

    def __init__(self, where: str, sent: str, token: str):
        self.where, self.sent, self.token = where, sent, token

    def record_job(self, pipe: Pipeline, job_id: str, request_id: str,
                   image_count: int) -> None:
        """Queued into the transaction that creates the job (JobStore.create)."""
        made = Replay(state="created", fingerprint=self.sent, job_id=job_id,
                      request_id=request_id, image_count=image_count)
        pipe.set(self.where, made.model_dump_json(), ex=KEEP_S)


class IdempotentSubmits:
    def __init__(self, redis: Redis):
        self.redis = redis
        self._abandon = redis.register_script(_ABANDON)

    @staticmethod
    def _key(user_id: str, idempotency_key: str) -> str:
        return key("idempotency", user_id,
                   hashlib.sha256(idempotency_key.encode()).hexdigest())

    async def seen(self, user_id: str, idempotency_key: str) -> Replay | None:
        raw = await self.redis.get(self._key(user_id, idempotency_key))
        return Replay.model_validate_json(raw) if raw else None

    async def begin(self, user_id: str, idempotency_key: str,
                    sent: str) -> Claim | Replay:
        """A Claim when this request is the first with the key (it goes ahead); else what
        the first one made of it."""
        where = self._key(user_id, idempotency_key)
        token = secrets.token_hex(16)
        while True:
            mine = Replay(state="accepting", fingerprint=sent, token=token).model_dump_json()
            if await self.redis.set(where, mine, nx=True, ex=ACCEPTING_S):
                return Claim(where, sent, token)
            raw = await self.redis.get(where)
            if raw:  # else it expired between the two calls: try again
                return Replay.model_validate_json(raw)

    async def finish(self, claim: Claim, body: dict, headers: dict[str, str]) -> None:
        done = Replay(state="done", fingerprint=claim.sent, body=body, headers=headers)
        await self.redis.set(claim.where, done.model_dump_json(), ex=KEEP_S)

    async def abandon(self, claim: Claim) -> None:
        """The request failed before its job was made: the key is free for a corrected
        retry. A no-op once the job exists, or when another request holds the key."""
        await self._abandon(keys=[claim.where], args=[claim.token])
