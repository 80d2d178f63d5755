"""A short-lived, per-replica memory of checked credentials.

Checking a caller costs a token decode, a Redis revocation lookup and a SQL read of the user
on a worker thread; a client polling a job every second would pay that on every poll. A
credential seen in the last few seconds is trusted again without those. What that trades:
a logout, a revoked key or a new tier reaches another replica up to `ttl_s` later (the
replica that handles the logout or revocation forgets at once).
"""

import time
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class PrincipalCache(Generic[T]):
    def __init__(self, ttl_s: float, max_entries: int = 10_000):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str, T]] = OrderedDict()
        # Bumped by forget_user: a check that began before a logout or revocation must not
        # store what it found (put compares the generation it started with).
        self.generation = 0

    def get(self, credential: str) -> T | None:
        entry = self._entries.get(credential)
        if entry is None:
            return None
        expires, _, principal = entry
        if time.monotonic() >= expires:
            del self._entries[credential]
            return None
        return principal

    def put(self, credential: str, user_id: str, principal: T, *, checked_at: int,
            not_after: float | None = None) -> None:
        """Remember for ttl_s, and never past `not_after` (Unix seconds: a token's expiry);
        not at all when anything was forgotten since `checked_at` (a generation)."""
        if self.ttl_s <= 0 or checked_at != self.generation:
            return
        lifetime = self.ttl_s if not_after is None else min(self.ttl_s, not_after - time.time())
        if lifetime <= 0:
            return
        self._entries[credential] = (time.monotonic() + lifetime, user_id, principal)
        self._entries.move_to_end(credential)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_user(self, user_id: str) -> None:
        """Every credential of one user: their key was revoked or they logged out."""
        self.generation += 1
        for credential in [c for c, (_, owner, _) in self._entries.items() if owner == user_id]:
            del self._entries[credential]
