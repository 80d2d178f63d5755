"""Long-poll (`Prefer: wait=N`) and the live stream (`GET /result/{id}/events`)."""

import json
import threading
import time

import pytest

from tests.support import photo, register


@pytest.fixture
def held(api, monkeypatch):
    """Jobs submitted while this is in use stay pending until the test moves them on."""
    monkeypatch.setattr(api.app.state.services.reaper, "launch", lambda job_id, attempt: None)


def _later(seconds, action):
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_a_long_poll_answers_as_soon_as_the_job_ends(api, user, held):
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]
    _later(1.0, lambda: api.post(f"/jobs/{job_id}/cancel", headers=user["headers"]))
    started = time.monotonic()
    answer = api.get(f"/result/{job_id}", headers={**user["headers"], "Prefer": "wait=20"})
    took = time.monotonic() - started
    assert answer.json()["status"] == "canceled"
    assert answer.headers["Preference-Applied"] == "wait=20"
    assert 0.9 < took < 10  # when it ended, not after the 20 s


def test_a_long_poll_is_capped_and_times_out_with_the_job_as_it_is(api, user, held):
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]
    started = time.monotonic()
    answer = api.get(f"/result/{job_id}", headers={**user["headers"], "Prefer": "wait=1"})
    assert 0.9 < time.monotonic() - started < 5
    assert answer.json()["status"] == "pending" and answer.json()["queue_position"] >= 0
    capped = api.get("/result/nope", headers={**user["headers"], "Prefer": "wait=600"})
    assert capped.status_code == 404  # ownership first, no waiting on someone else's id
    huge = api.get("/result/nope", headers={**user["headers"], "Prefer": "wait=" + "9" * 5000})
    assert huge.status_code == 404  # a number too long to read is capped, never a 500


def test_the_stream_sends_each_change_and_ends(api, user, held):
    services = api.app.state.services
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]

    async def claim():
        await services.jobs.claim(job_id, 1, 99)

    def move_on():
        api.portal.call(claim)
        time.sleep(0.5)
        api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])

    _later(0.5, move_on)
    events, ids = [], []
    with api.stream("GET", f"/result/{job_id}/events", headers=user["headers"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:])["status"])
            elif line.startswith("id: "):
                ids.append(line[4:])
    assert events == ["pending", "processing", "canceled"]
    # Resumed after the last event: nothing more to send, the job has ended.
    with api.stream("GET", f"/result/{job_id}/events",
                    headers={**user["headers"], "Last-Event-ID": ids[-1]}) as again:
        assert "".join(again.iter_lines()) == ""


def test_a_user_holds_a_bounded_number_of_waiting_requests(api, user, held, monkeypatch):
    slots = api.app.state.services.events.slots
    monkeypatch.setattr(slots, "per_user", 1)
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]
    first: list[str] = []

    def watch():
        with api.stream("GET", f"/result/{job_id}/events", headers=user["headers"]) as stream:
            first.extend(line for line in stream.iter_lines() if line.startswith("data: "))

    watcher = threading.Thread(target=watch)
    watcher.start()
    deadline = time.monotonic() + 10
    while not slots.held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slots.held[user["id"]] == 1
    refused = api.get(f"/result/{job_id}/events", headers=user["headers"])
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    started = time.monotonic()
    declined = api.get(f"/result/{job_id}", headers={**user["headers"], "Prefer": "wait=20"})
    assert time.monotonic() - started < 5  # answered at once, the preference declined
    assert declined.status_code == 200 and "Preference-Applied" not in declined.headers
    other = register(api)  # other users are not held back
    mine = api.post("/classify-async/", files=[photo()], headers=other["headers"]).json()
    waited = api.get(f"/result/{mine['job_id']}", headers={**other["headers"],
                                                          "Prefer": "wait=1"})
    assert waited.headers["Preference-Applied"] == "wait=1"
    api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])
    watcher.join(10)
    assert not watcher.is_alive() and len(first) == 2  # pending, canceled
    assert user["id"] not in slots.held  # given back


def test_ten_queued_jobs_stand_one_behind_the_other(api, pro_user, held):
    """Nothing runs them (a paused classifier): each is one place behind the one before."""
    jobs = [api.post("/classify-async/", files=[photo()], headers=pro_user["headers"])
            .json()["job_id"] for _ in range(10)]
    positions = [api.get(f"/result/{job_id}", headers=pro_user["headers"])
                 .json()["queue_position"] for job_id in jobs]
    first = positions[0]
    assert positions == list(range(first, first + 10))
    api.post(f"/jobs/{jobs[0]}/cancel", headers=pro_user["headers"])  # the queue moves up
    assert api.get(f"/result/{jobs[1]}", headers=pro_user["headers"]).json()[
        "queue_position"] == first
    for job_id in jobs[1:]:
        api.post(f"/jobs/{job_id}/cancel", headers=pro_user["headers"])


def test_through_serve_a_long_poll_and_a_stream_follow_a_real_job(client, user):
    """The real stack: the Ingress behind Serve's proxy, the job run by a Ray task."""
    job_id = client.post("/classify-async/", files=[photo()],
                         headers=user["headers"]).json()["job_id"]
    started = time.monotonic()
    answer = client.get(f"/result/{job_id}", headers={**user["headers"], "Prefer": "wait=50"},
                        timeout=90)
    assert answer.json()["status"] == "completed", answer.text
    assert time.monotonic() - started < 45  # when it completed, not after the 50 s
    job_id = client.post("/classify-async/", files=[photo()],
                         headers=user["headers"]).json()["job_id"]
    statuses = []
    with client.stream("GET", f"/result/{job_id}/events", headers=user["headers"],
                       timeout=90) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                statuses.append(json.loads(line[6:])["status"])
    assert statuses[-1] == "completed"  # and the stream ended after it
    order = ["pending", "processing", "completed"]
    assert statuses == sorted(set(statuses), key=order.index)  # each once, in order
