"""Throttles in Redis for the anonymous routes: failed logins (per account and address, per
address, and an account-wide slow-down) and registrations (per address).

Failed logins follow OWASP's advice against lockouts anyone can trigger: guesses are
refused per (account, address) and per address, so an attacker locks out only themselves;
across all addresses an account is only slowed down: after `slow_down_after` failures, an
attempt from an address that already tried this account passes a gate in Redis that opens
once per delay (growing with the failures), whatever the number of parallel requests; the
first attempt from an address with no recent tries always passes, so its owner can still
sign in.
An IPv6 client counts by its /64 network (`LOGIN__IPV6_PREFIX`), not each address.
"""

import ipaddress
import math

from redis.asyncio import Redis

from configs import LoginSettings
from paleon import keyspace
from paleon.errors import QuotaExceeded


def bucket(address: str, ipv6_prefix: int) -> str:
    """The throttle bucket of a client address: an IPv6 client by its /`ipv6_prefix`
    network (one subscriber is usually handed a whole /64, so each of its addresses would
    otherwise be a fresh bucket), an IPv4 one (IPv4-mapped included) by its address."""
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address  # "unknown", a test client's name
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{ipv6_prefix}", strict=False))
    return str(parsed)


class LoginThrottle:
    def __init__(self, redis: Redis, limits: LoginSettings):
        self.redis = redis
        self.limits = limits

    def _keys(self, email: str, address: str) -> tuple[str, str, str]:
        account = email.lower()
        address = bucket(address, self.limits.ipv6_prefix)
        return (keyspace.key("login", "pair", account, address),
                keyspace.key("login", "address", address),
                keyspace.key("login", "account", account))

    async def attempt(self, email: str, address: str) -> None:
        """Count this attempt before the password is checked, so parallel guesses can't all
        pass a read-only check; 429 once the (account, address) or the address counter is
        over its limit, then the account-wide delay. The same for unknown emails, so the
        answer tells nothing about which accounts exist."""
        pair, by_address, account = self._keys(email, address)
        window = self.limits.window_s
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in (pair, by_address):
                pipe.incr(key)
                pipe.expire(key, window, nx=True)
            pipe.get(account)
            answers = await pipe.execute()
        limits = ((pair, answers[0], self.limits.failures_per_account_address),
                  (by_address, answers[2], self.limits.failures_per_address))
        for key, count, limit in limits:
            if count > limit:
                wait = max(await self.redis.ttl(key), 1)
                raise QuotaExceeded(
                    f"Too many failed logins; try again in {wait} s."
                ).with_headers({"Retry-After": str(wait)})
        # The first attempt from an address with no recent tries for this account always
        # goes through (the owner can sign in); any other waits its turn at the account's
        # gate, which opens once per delay: parallel guesses are slowed like serial ones.
        delay_s = self.delay_s(int(answers[4] or 0))
        if delay_s > 0 and answers[0] > 1:
            gate = keyspace.key("login", "gate", email.lower())
            if not await self.redis.set(gate, 1, px=int(delay_s * 1000), nx=True):
                wait = max(math.ceil(max(await self.redis.pttl(gate), 1) / 1000), 1)
                raise QuotaExceeded(
                    f"Too many failed logins for this account; try again in {wait} s."
                ).with_headers({"Retry-After": str(wait)})

    def delay_s(self, account_failures: int) -> float:
        """The account-wide gate's interval: none up to `slow_down_after` failures in the
        window, then doubling from 0.25 s up to `max_delay_s`."""
        over = account_failures - self.limits.slow_down_after
        return 0.0 if over < 0 else min(0.25 * 2 ** over, self.limits.max_delay_s)

    async def failed(self, email: str, address: str) -> None:
        """A wrong password: counted against the account across every address."""
        account = self._keys(email, address)[2]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(account)
            pipe.expire(account, self.limits.window_s, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str, address: str) -> None:
        """A right password: this (account, address) starts afresh and the attempt is not
        held against the address. The account-wide count stays: it is what other addresses
        did."""
        pair, by_address, _ = self._keys(email, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(pair)
            pipe.decr(by_address)
            await pipe.execute()


class RegistrationThrottle:
    """Registrations per client address and window, successful or not."""

    def __init__(self, redis: Redis, limits: LoginSettings):
        self.redis = redis
        self.limits = limits

    async def attempt(self, address: str) -> None:
        key = keyspace.key("register", "address", bucket(address, self.limits.ipv6_prefix))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.limits.registration_window_s, nx=True)
            count = (await pipe.execute())[0]
        if count > self.limits.registrations_per_address:
            wait = max(await self.redis.ttl(key), 1)
            raise QuotaExceeded(
                f"Too many registrations from this address; try again in {wait} s."
            ).with_headers({"Retry-After": str(wait)})
