import asyncio
import time
import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis

from configs import TierLimits
from jobs.quota import Quota


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submissions_take_exactly_the_limit(unit_redis_url):
    async def scenario():
        redis = Redis.from_url(unit_redis_url, max_connections=60)
        quota = Quota(redis, TierLimits(free=10))
        user = uuid.uuid4().hex
        outcomes = await asyncio.gather(*(quota.take(user, "free") for _ in range(50)))
        final = await quota.peek(user, "free")
        await redis.aclose()
        return outcomes, final

    outcomes, final = run(scenario())
    accepted = [state for ok, state in outcomes if ok]
    assert len(accepted) == 10
    assert sorted(state.current for state in accepted) == list(range(1, 11))
    assert final.current == 10 and final.remaining == 0


def test_tiers_reset_and_refund(unit_redis_url):
    async def scenario():
        redis = Redis.from_url(unit_redis_url)
        quota = Quota(redis, TierLimits(free=1, pro=3))
        user = uuid.uuid4().hex
        results = [await quota.take(user, "pro") for _ in range(4)]
        await quota.refund(user, results[0][1])
        await quota.refund(uuid.uuid4().hex, results[0][1])  # nothing taken: nothing created
        after_refund = await quota.take(user, "pro")
        ttl = await redis.ttl(quota._key(user, datetime.now(UTC).strftime("%Y%m%d")))
        await redis.aclose()
        return results, after_refund, ttl

    results, after_refund, ttl = run(scenario())
    assert [ok for ok, _ in results] == [True, True, True, False]
    refused = results[-1][1]
    assert refused.limit == 3 and refused.remaining == 0
    midnight = refused.reset_epoch
    assert midnight % 86400 == 0 and 0 < midnight - time.time() <= 86400
    assert refused.headers()["X-RateLimit-Reset"] == str(midnight)
    assert refused.body()["reset_at"].endswith("T00:00:00+00:00")
    assert 0 < refused.retry_after() <= 86400
    assert after_refund[0] is True
    assert 0 < ttl <= 86400 + 3600  # the counter disappears after the day
