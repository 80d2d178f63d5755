import asyncio
import uuid

from redis.asyncio import Redis

from auth.throttle import LoginThrottle
from configs import LoginSettings
from paleon.errors import QuotaExceeded
from tests.support import register


def test_per_address_limit_counts_every_account(unit_redis_url):
    async def scenario():
        redis = Redis.from_url(unit_redis_url)
        throttle = LoginThrottle(redis, LoginSettings(
            failures_per_account=100, failures_per_address=3, window_s=60))
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


def test_failed_logins_lock_the_account_then_429(api):
    account = register(api)
    wrong = {"email": account["email"], "password": "not-it-at-all"}
    for _ in range(5):
        assert api.post("/auth/login", json=wrong).status_code == 401
    right = {"email": account["email"], "password": account["password"]}
    locked = api.post("/auth/login", json=right)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert "Too many failed logins" in locked.json()["detail"]
    other = register(api)  # another account from the same address is not locked
    assert api.post("/auth/login", json={"email": other["email"],
                                            "password": other["password"]}).status_code == 200


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
