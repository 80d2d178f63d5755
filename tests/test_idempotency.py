"""`Idempotency-Key` on POST /classify-async/: replayed, refused when reused, one job when
two arrive at once."""

import concurrent.futures
import uuid

import pytest

from tests.support import JPEG, photo


def _submit(api, user, key, data=JPEG):
    return api.post("/classify-async/", files=[photo(data=data)],
                    headers={**user["headers"], "Idempotency-Key": key})


def test_the_same_key_gets_the_first_answer_and_is_charged_once(api, user):
    key = f"order-{uuid.uuid4()}"
    first = _submit(api, user, key)
    again = _submit(api, user, key)
    assert first.status_code == again.status_code == 200
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["X-RateLimit-Remaining"] == first.headers["X-RateLimit-Remaining"]
    other = api.post("/classify-async/", files=[photo()], headers=user["headers"])
    assert other.headers["X-RateLimit-Remaining"] == "8"  # two jobs charged, not three


def test_a_key_reused_for_other_photos_is_422(api, user):
    key = f"order-{uuid.uuid4()}"
    assert _submit(api, user, key).status_code == 200
    reused = _submit(api, user, key, data=JPEG[:-2] + b"\xff\xd9" + b"x")
    assert reused.status_code == 422 and "different submission" in reused.json()["detail"]


def test_two_at_once_make_one_job(api, user):
    key = f"order-{uuid.uuid4()}"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: _submit(api, user, key), range(2)))
    accepted = {answer.json()["job_id"] for answer in answers if answer.status_code == 200}
    assert len(accepted) == 1
    assert sorted(answer.status_code for answer in answers) in ([200, 200], [200, 409])
    jobs = api.get("/jobs?limit=100", headers=user["headers"]).json()
    assert [job["job_id"] for job in jobs] == list(accepted)


def test_keys_are_printable_and_bounded(api, user):
    assert _submit(api, user, "x" * 256).status_code == 400
    assert _submit(api, user, "tab\there").status_code == 400


def test_a_request_that_ends_after_making_its_job_leaves_it_found(api, user, monkeypatch):
    """The replica goes away between making the job and storing the answer: the retry gets
    that job, not a second one (nor a 409 until the key frees)."""
    services = api.app.state.services

    async def gone(*args, **kwargs):
        raise RuntimeError("the replica went away")

    key = f"order-{uuid.uuid4()}"
    monkeypatch.setattr(services.idempotency, "finish", gone)
    with pytest.raises(RuntimeError):
        _submit(api, user, key)
    monkeypatch.undo()
    again = _submit(api, user, key)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    jobs = api.get("/jobs?limit=100", headers=user["headers"]).json()
    assert [job["job_id"] for job in jobs] == [again.json()["job_id"]]
    assert again.headers["X-RateLimit-Remaining"] == "9"  # charged once


def test_a_used_key_does_not_lift_the_budget_of_refused_uploads(api, user):
    key = f"order-{uuid.uuid4()}"
    assert _submit(api, user, key).status_code == 200
    for _ in range(20):  # REFUSED_UPLOADS_PER_DAY
        assert _submit(api, user, key, data=b"not a photo").status_code == 400
    spent = _submit(api, user, key, data=b"not a photo")
    assert spent.status_code == 429 and "uploads were refused today" in spent.json()["detail"]
