import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from auth.throttle import LoginThrottle, RegistrationThrottle
from configs import LoginSettings
from paleon.errors import QuotaExceeded
from tests.support import register


def test_per_address_limit_counts_every_account(unit_redis_url):
    async def scenario():
        redis = Redis.from_url(unit_redis_url)
        throttle = LoginThrottle(redis, LoginSettings(
            failures_per_account_address=100, failures_per_address=3, window_s=60))
        address = f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
        for i in range(3):
            await throttle.attempt(f"victim{i}@example.com", address)  # each one fails
        try:
            await throttle.attempt("someone-else@example.com", address)
        except QuotaExceeded as exc:
            refused = exc
        else:
            refused = None
        await throttle.attempt("someone-else@example.com", "198.51.100.7")  # other address
        await redis.aclose()
        return refused

    refused = asyncio.run(scenario())
    assert refused is not None and 0 < int(refused.headers["Retry-After"]) <= 60


def test_failed_logins_lock_the_account_for_that_address_only(api, unit_redis_url):
    account = register(api)
    wrong = {"email": account["email"], "password": "not-it-at-all"}
    for _ in range(5):
        assert api.post("/auth/login", json=wrong).status_code == 401
    right = {"email": account["email"], "password": account["password"]}
    locked = api.post("/auth/login", json=right)  # the same address: refused
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert "Too many failed logins" in locked.json()["detail"]
    other = register(api)  # another account from the same address is not locked
    assert api.post("/auth/login", json={"email": other["email"],
                                            "password": other["password"]}).status_code == 200

    async def from_elsewhere():  # the owner, from an address with no failures, gets in
        redis = Redis.from_url(unit_redis_url)
        throttle = LoginThrottle(redis, LoginSettings())
        try:
            await throttle.attempt(account["email"], "198.51.100.23")
        finally:
            await redis.aclose()

    asyncio.run(from_elsewhere())


def test_failures_from_everywhere_only_slow_an_account_down(unit_redis_url):
    limits = LoginSettings(failures_per_account_address=50, failures_per_address=50,
                           slow_down_after=3, max_delay_s=2, window_s=60)

    async def scenario():
        redis = Redis.from_url(unit_redis_url)
        throttle = LoginThrottle(redis, limits)
        email = f"target-{uuid.uuid4().hex[:8]}@example.com"
        for i in range(6):  # a botnet: one guess per address, never refused
            address = f"203.0.113.{i}"
            await throttle.attempt(email, address)
            await throttle.failed(email, address)
        # Audit round 3: the slow-down was a sleep per request, so parallel guesses from
        # one address all got through at once. Now one passes the account's gate per delay.
        attacker = "203.0.113.0"
        outcomes = await asyncio.gather(
            *(throttle.attempt(email, attacker) for _ in range(10)), return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
        assert len(refused) == 9, outcomes
        assert 1 <= int(refused[0].headers["Retry-After"]) <= 2
        assert "for this account" in str(refused[0])
        # The owner, from an address with no recent tries, is never held at the gate.
        await throttle.attempt(email, "198.51.100.1")
        await redis.aclose()

    asyncio.run(scenario())
    throttle = LoginThrottle(None, limits)  # type: ignore[arg-type]
    assert [throttle.delay_s(n) for n in (0, 2, 3, 4, 9)] == [0, 0, 0.25, 0.5, 2]


def test_registrations_are_throttled_per_address(unit_redis_url):
    limits = LoginSettings(registrations_per_address=3, registration_window_s=60)

    async def scenario():
        redis = Redis.from_url(unit_redis_url)
        throttle = RegistrationThrottle(redis, limits)
        address = f"203.0.113.77-{uuid.uuid4().hex[:6]}"
        for _ in range(3):
            await throttle.attempt(address)
        try:
            await throttle.attempt(address)
        except QuotaExceeded as exc:
            refused = exc
        else:
            refused = None
        await throttle.attempt("198.51.100.8")  # another address
        await redis.aclose()
        return refused

    refused = asyncio.run(scenario())
    assert refused is not None and 0 < int(refused.headers["Retry-After"]) <= 60


def test_a_taken_email_is_refused_before_any_hashing(api, monkeypatch):
    from auth import passwords

    account = register(api)
    monkeypatch.setattr(passwords, "hash_password",
                        lambda password: pytest.fail("hashed for a taken email"))
    again = api.post("/auth/register", json={"email": account["email"], "username": "fresh1",
                                             "password": "fossil-hunter-42"})
    assert again.status_code == 400 and "already registered" in again.json()["detail"]


def test_a_success_resets_the_account_counter(api):
    account = register(api)
    wrong = {"email": account["email"], "password": "not-it-at-all"}
    right = {"email": account["email"], "password": account["password"]}
    for _ in range(4):
        api.post("/auth/login", json=wrong)
    assert api.post("/auth/login", json=right).status_code == 200
    for _ in range(4):
        assert api.post("/auth/login", json=wrong).status_code == 401
    assert api.post("/auth/login", json=right).status_code == 200


def test_parallel_guesses_cannot_outrun_the_limit(client):
    import concurrent.futures

    import httpx

    account = register(client)
    wrong = {"email": account["email"], "password": "not-it-at-all"}

    def guess(_):
        with httpx.Client(base_url=str(client.base_url), timeout=60) as http:
            return http.post("/auth/login", json=wrong).status_code

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(guess, range(12)))
    assert codes.count(401) == 5 and codes.count(429) == 7, codes


def test_an_ipv6_client_counts_by_its_64_not_each_address(unit_redis_url):
    """One subscriber holds a whole /64: a fresh address per guess must not be a fresh
    bucket."""
    from auth.throttle import bucket

    assert bucket("2001:db8:1:2:aaaa::1", 64) == bucket("2001:db8:1:2:ffff::9", 64) == \
        "2001:db8:1:2::/64"
    assert bucket("2001:db8:1:3::1", 64) != bucket("2001:db8:1:2::1", 64)
    assert bucket("::ffff:198.51.100.7", 64) == "198.51.100.7"
    assert bucket("198.51.100.7", 64) == "198.51.100.7"

    async def scenario():
        redis = Redis.from_url(unit_redis_url)
        throttle = RegistrationThrottle(redis, LoginSettings(registrations_per_address=3))
        net = f"2001:db8:{uuid.uuid4().int % 65535:x}:1"
        try:
            for i in range(3):
                await throttle.attempt(f"{net}::{i + 1:x}")
            with pytest.raises(QuotaExceeded, match="Too many registrations"):
                await throttle.attempt(f"{net}:ffff::7")  # another address, the same /64
            await throttle.attempt(f"{net[:-1]}2::1")  # the next /64 is someone else
        finally:
            await redis.aclose()

    asyncio.run(scenario())
