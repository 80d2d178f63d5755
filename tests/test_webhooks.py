"""Webhooks: where they may go, how they are signed, and deliveries that retry, stop on 410
and are recorded on the job; in-process and through the real Serve app."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from configs import WebhookSettings
from jobs.webhook_targets import Targets
from jobs.webhooks import signature
from paleon.errors import InvalidRequest
from tests.support import Receiver, photo, run_cli, wait_for


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def check(targets: Targets, url: str):
    return asyncio.run(targets.subscription(url, []))


PRODUCTION = Targets(WebhookSettings(), development=False)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook",
    "https://192.168.0.10/hook", "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook", "https://[fd00::1]/hook",
    "https://100.64.0.1/hook", "https://0.0.0.0/hook",
    # IPv4 inside IPv6: NAT64 (RFC 6052 and RFC 8215's local prefix) and 6to4 relays reach
    # the IPv4 address they carry.
    "https://[64:ff9b::7f00:1]/hook", "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[64:ff9b:1::a00:1]/hook", "https://[2002:7f00:1::1]/hook",
    "https://[2002:a00:1::1]/hook",
])
def test_private_and_metadata_addresses_are_refused_outside_development(url):
    with pytest.raises(InvalidRequest, match="loopback, private, link-local or reserved"):
        check(PRODUCTION, url)


def test_a_refusal_never_says_what_a_name_resolved_to():
    with pytest.raises(InvalidRequest) as refused:
        check(PRODUCTION, "https://localhost/hook")
    assert "127.0.0.1" not in str(refused.value) and "::1" not in str(refused.value)
    assert "localhost resolves to a loopback" in str(refused.value)


def test_public_addresses_inside_ipv6_are_accepted():
    for url in ("https://[64:ff9b::5db8:d822]/hook", "https://[2002:5db8:d822::1]/hook"):
        assert check(PRODUCTION, url)  # 93.184.216.34, through NAT64 and 6to4


@pytest.mark.parametrize("url,reason", [
    ("http://93.184.216.34/hook", "https:// URL is needed"),
    ("ftp://93.184.216.34/hook", "https:// URL is needed"),
    ("https://user:pw@93.184.216.34/hook", "credentials"),
    ("https://", "https:// URL is needed"),
    ("https://93.184.216.34:99999/", "not a valid URL"),
    ("https://no-such-host.invalid/hook", "does not resolve"),
])
def test_what_is_not_a_usable_url_is_refused(url, reason):
    with pytest.raises(InvalidRequest, match=reason):
        check(PRODUCTION, url)


def test_public_https_is_accepted_and_listed_networks_and_development_are_allowed():
    accepted = check(PRODUCTION, "https://93.184.216.34/hook")
    assert accepted.events == ("completed",)  # the default filter
    inside = Targets(WebhookSettings(allowed_networks=("127.0.0.0/8",)), development=False)
    assert check(inside, "http://127.0.0.1:9/hook")
    assert check(Targets(WebhookSettings(), development=True), "http://localhost/hook")


def test_the_events_filter_is_checked():
    with pytest.raises(InvalidRequest, match="takes start and completed"):
        asyncio.run(PRODUCTION.subscription("https://93.184.216.34/", ["finished"]))
    with pytest.raises(InvalidRequest, match="needs a `webhook`"):
        asyncio.run(PRODUCTION.subscription(None, ["start"]))
    both = asyncio.run(PRODUCTION.subscription("https://93.184.216.34/",
                                               ["completed", "start"]))
    assert both.events == ("start", "completed")


def test_the_signature_is_the_standard_webhooks_one_for_each_secret():
    old, new = "whsec_" + base64.b64encode(b"a" * 32).decode(), \
        "whsec_" + base64.b64encode(b"b" * 32).decode()
    moment = datetime.now(UTC)
    body = b'{"job_id": "j1", "status": "completed"}'
    header = signature((new, old), "msg_j1_completed", moment, body)
    assert len(header.split(" ")) == 2
    signed = f"msg_j1_completed.{int(moment.timestamp())}.".encode() + body
    expected = base64.b64encode(hmac.new(b"b" * 32, signed, hashlib.sha256).digest()).decode()
    assert header.split(" ")[0] == f"v1,{expected}"
    headers = {"webhook-id": "msg_j1_completed",
               "webhook-timestamp": str(int(moment.timestamp())), "webhook-signature": header}
    for secret in (old, new):  # a receiver with either secret verifies it
        assert Webhook(secret).verify(body, headers)["status"] == "completed"


@pytest.fixture(scope="module")
def courier(api):
    """The in-process app's webhook courier, running on the app's loop."""
    services = api.app.state.services

    async def start():
        if services.courier._loop_task is None:
            services.courier.start()

    api.portal.call(start)
    return services.courier


def _submit(http, user, url, events=()):
    data = {"webhook": url, "webhook_events_filter": list(events)}
    answer = http.post("/classify-async/", files=[photo()], data=data,
                       headers=user["headers"])
    assert answer.status_code == 200, answer.text
    return answer.json()["job_id"]


def _verified(deliveries, secret):
    for delivery in deliveries:
        headers = {k.lower(): v for k, v in delivery["headers"].items()}
        delivery["job"] = Webhook(secret).verify(delivery["body"], headers)
        delivery["id"] = headers["webhook-id"]
    return deliveries


def test_deliveries_are_signed_retried_and_recorded(api, user, courier):
    receiver = Receiver(answers=[500])  # the first delivery fails
    try:
        job_id = _submit(api, user, receiver.url, ["start", "completed"])
        wait_for(api, job_id, user["headers"])
        secret = api.get("/auth/webhook-secret", headers=user["headers"]).json()["secret"]
        assert secret.startswith("whsec_")
        deliveries = _verified(receiver.wait_for(3), secret)
    finally:
        receiver.close()
    by_id: dict[str, list[dict]] = {}
    for delivery in deliveries:
        by_id.setdefault(delivery["id"], []).append(delivery)
    assert set(by_id) == {f"msg_{job_id}_start", f"msg_{job_id}_completed"}
    # Either event may be the one that failed first (the job takes milliseconds here), so
    # the order of arrival says nothing; the completed event says completed.
    assert {d["job"]["status"] for d in by_id[f"msg_{job_id}_completed"]} == {"completed"}
    failed_first = next(group for group in by_id.values() if len(group) == 2)
    assert failed_first[0]["body"] == failed_first[1]["body"]  # a retry sends the same
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = api.get(f"/result/{job_id}", headers=user["headers"]).json()
        if len(job["webhook"]["deliveries"]) == 3:
            break
        time.sleep(0.1)
    assert job["webhook"]["url"] == receiver.url
    assert job["webhook"]["events"] == ["start", "completed"]
    assert sorted((d["attempt"], d["status_code"]) for d in job["webhook"]["deliveries"]) \
        == [(1, 200), (1, 500), (2, 200)]


def test_a_410_stops_the_retries_and_a_canceled_job_still_says_so(api, user, courier,
                                                                  monkeypatch):
    monkeypatch.setattr(api.app.state.services.reaper, "launch", lambda job_id, attempt: None)
    receiver = Receiver(answers=[410])
    try:
        job_id = _submit(api, user, receiver.url)
        api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])
        first = receiver.wait_for(1)
        time.sleep(2.5)  # past the 1 s retry of the tests' schedule
        assert len(receiver.deliveries) == 1
    finally:
        receiver.close()
    assert json.loads(first[0]["body"])["status"] == "canceled"
    job = api.get(f"/result/{job_id}", headers=user["headers"]).json()
    assert [(d["event"], d["status_code"]) for d in job["webhook"]["deliveries"]] == [
        ("completed", 410)]


def test_after_a_rotation_both_secrets_sign_for_a_day(api, user, courier, receiver):
    before = api.get("/auth/webhook-secret", headers=user["headers"]).json()
    rotated = api.post("/auth/webhook-secret/rotate", headers=user["headers"]).json()
    assert rotated["secret"] != before["secret"]
    until = datetime.fromisoformat(rotated["previous_valid_until"])
    assert 23.9 * 3600 < (until - datetime.now(UTC)).total_seconds() <= 24 * 3600
    job_id = _submit(api, user, receiver.url)
    wait_for(api, job_id, user["headers"])
    delivery = receiver.wait_for(1)[0]
    assert len(delivery["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (before["secret"], rotated["secret"]):
        _verified([dict(delivery)], secret)


def test_webhook_fields_are_checked_on_submit(api, user):
    bad = api.post("/classify-async/", files=[photo()], headers=user["headers"],
                   data={"webhook": "https://127.0.0.1.nip.invalid/x"})
    assert bad.status_code == 400 and "`webhook`" in bad.json()["detail"]
    unknown = api.post("/classify-async/", files=[photo()], headers=user["headers"],
                       data={"webhook": "http://127.0.0.1:9/x",
                             "webhook_events_filter": "progress"})
    assert unknown.status_code == 400 and "webhook_events_filter" in unknown.json()["detail"]
    key = api.post("/auth/api-keys", json={"name": "hooks"}, headers=user["headers"]).json()
    rotate = api.post("/auth/webhook-secret/rotate", headers={"X-API-Key": key["key"]})
    assert rotate.status_code == 403  # a key reads the secret, only a signed-in user rotates
    assert api.get("/auth/webhook-secret", headers={"X-API-Key": key["key"]}).status_code == 200


def test_a_job_through_serve_is_delivered(client, user, receiver):
    """The real stack: the Ingress replica's courier delivers the `completed` event."""
    job_id = _submit(client, user, receiver.url)
    wait_for(client, job_id, user["headers"], timeout=120)
    secret = client.get("/auth/webhook-secret", headers=user["headers"]).json()["secret"]
    delivery = _verified(receiver.wait_for(1), secret)[0]
    assert delivery["job"]["job_id"] == job_id and delivery["job"]["status"] == "completed"
    assert isinstance(httpx.Headers(delivery["headers"])["webhook-timestamp"], str)


def test_paleon_classify_passes_a_webhook(serve_app, user, receiver, tmp_path):
    photo_path = tmp_path / "specimen.jpg"
    photo_path.write_bytes(photo()[1][1])
    token = user["headers"]["Authorization"].removeprefix("Bearer ")
    done = run_cli("classify", str(photo_path), "--url", serve_app, "--webhook", receiver.url,
                   "--webhook-events", "start", "completed", env={"PALEON_TOKEN": token})
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["webhook"]["events"] == ["start", "completed"]
    ids = {d["headers"]["webhook-id"] for d in receiver.wait_for(2)}
    assert ids == {f"msg_{job['job_id']}_start", f"msg_{job['job_id']}_completed"}


def test_a_failure_on_our_side_makes_the_event_due_again_soon(unit_redis_url):
    """The user store or Redis failing mid-delivery: due again after the first retry
    delay, not only when the 60 s lease runs out."""
    from redis.asyncio import Redis

    from configs import JobSettings
    from jobs.keys import WEBHOOKS_DUE
    from jobs.store import JobStore
    from jobs.webhook_targets import Subscription
    from jobs.webhooks import Courier

    async def secrets_down(user_id):
        raise ConnectionError("the user store is away")

    async def scenario():
        redis = Redis.from_url(unit_redis_url)
        store = JobStore(redis, JobSettings())
        settings = WebhookSettings(retry_schedule_s=(2,))
        courier = Courier(redis, store, Targets(settings, development=True), secrets_down,
                          lambda job: b"{}", settings)
        job = await store.create("erin", [b"1"], "r",
                                 webhook=Subscription("http://127.0.0.1:9/x", ("completed",)))
        member = f"{job.job_id}:completed"
        await redis.zadd(WEBHOOKS_DUE, {member: time.time()})
        await courier.deliver(member)
        due = await redis.zscore(WEBHOOKS_DUE, member)
        await redis.zrem(WEBHOOKS_DUE, member)
        await courier.stop()
        await redis.aclose()
        return due - time.time()

    assert 1 < asyncio.run(scenario()) < 3
