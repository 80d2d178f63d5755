import time

from auth.principal_cache import PrincipalCache


def test_entries_expire_and_never_outlive_their_token():
    cache = PrincipalCache[str](ttl_s=0.05)
    cache.put("token-a", "alice", "principal-a", checked_at=0)
    expired = time.time() - 1
    cache.put("token-b", "bob", "principal-b", checked_at=0, not_after=expired)
    assert cache.get("token-a") == "principal-a" and cache.get("token-b") is None
    time.sleep(0.06)
    assert cache.get("token-a") is None


def test_forgetting_a_user_drops_all_their_credentials_only():
    cache = PrincipalCache[str](ttl_s=60)
    cache.put("key-1", "alice", "a1", checked_at=0)
    cache.put("token-1", "alice", "a2", checked_at=0)
    cache.put("token-2", "bob", "b1", checked_at=0)
    cache.forget_user("alice")
    assert (cache.get("key-1"), cache.get("token-1"), cache.get("token-2")) == (None, None, "b1")


def test_size_is_bounded_and_zero_ttl_caches_nothing():
    cache = PrincipalCache[int](ttl_s=60, max_entries=3)
    for i in range(5):
        cache.put(f"t{i}", "u", i, checked_at=0)
    assert [cache.get(f"t{i}") for i in range(5)] == [None, None, 2, 3, 4]
    off = PrincipalCache[int](ttl_s=0)
    off.put("t", "u", 1, checked_at=0)
    assert off.get("t") is None


def test_a_check_that_began_before_a_logout_stores_nothing():
    cache = PrincipalCache[str](ttl_s=60)
    began = cache.generation  # a request starts checking alice's token...
    cache.forget_user("alice")  # ...while she logs out on this replica
    cache.put("token", "alice", "stale", checked_at=began)
    assert cache.get("token") is None


def test_a_logged_out_token_is_refused_at_once_by_the_replica_that_logged_it_out(api, user):
    assert api.get("/auth/me", headers=user["headers"]).status_code == 200  # now cached
    assert api.post("/auth/logout", headers=user["headers"]).status_code == 204
    assert api.get("/auth/me", headers=user["headers"]).status_code == 401
