"""POST /jobs/{id}/cancel in each state, with the quota given back before a job starts."""

import pytest

from jobs.keys import DEADLINES, JobKeys
from tests.support import photo, register, wait_for


@pytest.fixture
def held(api, monkeypatch):
    """Jobs submitted while this is in use stay pending: nothing launches them."""
    reaper = api.app.state.services.reaper
    monkeypatch.setattr(reaper, "launch", lambda job_id, attempt: None)


def test_a_pending_job_never_starts_and_its_quota_comes_back(api, user, held):
    submitted = api.post("/classify-async/", files=[photo()], headers=user["headers"])
    assert submitted.headers["X-RateLimit-Remaining"] == "9"
    job_id = submitted.json()["job_id"]
    canceled = api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled" and canceled.json()["completed_at"]
    assert canceled.headers["X-RateLimit-Remaining"] == "10"  # given back
    assert api.get(f"/result/{job_id}", headers=user["headers"]).json()["status"] == "canceled"
    again = api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])
    assert again.status_code == 409 and again.json()["status"] == "canceled"


def test_a_processing_job_is_canceled_and_its_result_discarded(api, user, held):
    services = api.app.state.services
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]

    async def claim():
        return await services.jobs.claim(job_id, 1, 4321)

    portal = api.portal  # the app's own loop: its Redis client lives there
    assert portal.call(claim) is not None
    canceled = api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])
    assert canceled.json()["status"] == "canceled"
    assert "X-RateLimit-Remaining" not in canceled.headers  # it had started: no refund

    async def finish():
        return await services.jobs.complete(job_id, 1, '{"late": true}', 1.0)

    assert portal.call(finish) is False  # the attempt's result finds the job not its own
    job = api.get(f"/result/{job_id}", headers=user["headers"]).json()
    assert job["status"] == "canceled" and job["result"] is None


def test_finished_others_and_unknown_jobs(api, user):
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]
    done = wait_for(api, job_id, user["headers"])
    finished = api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])
    assert finished.status_code == 409 and finished.json()["status"] == done["status"]
    other = register(api)
    assert api.post(f"/jobs/{job_id}/cancel", headers=other["headers"]).status_code == 403
    assert api.post("/jobs/nope/cancel", headers=user["headers"]).status_code == 404
    assert api.post(f"/jobs/{job_id}/cancel").status_code == 401


def test_the_reaper_leaves_a_canceled_job_alone(api, user, held):
    services = api.app.state.services
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]
    api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])

    async def reap():  # even overdue (a deadline left behind by a race), it is not retried
        await services.jobs.redis.zadd(DEADLINES, {job_id: 0})
        return await services.jobs.retry_or_fail(job_id)

    assert api.portal.call(reap) == -1
    assert api.get(f"/result/{job_id}", headers=user["headers"]).json()["status"] == "canceled"


def test_a_deleted_job_is_gone_at_once(api, user, held):
    services = api.app.state.services
    job_id = api.post("/classify-async/", files=[photo()],
                      headers=user["headers"]).json()["job_id"]
    other = register(api)
    assert api.delete(f"/jobs/{job_id}", headers=other["headers"]).status_code == 403
    assert api.delete(f"/jobs/{job_id}", headers=user["headers"]).status_code == 204
    assert api.get(f"/result/{job_id}", headers=user["headers"]).status_code == 404
    assert job_id not in [job["job_id"] for job in
                          api.get("/jobs", headers=user["headers"]).json()]
    assert api.delete(f"/jobs/{job_id}", headers=user["headers"]).status_code == 404

    async def leftovers():
        keys = JobKeys.of(job_id)
        return (await services.redis.exists(keys.job, keys.images),
                await services.redis.zscore(DEADLINES, job_id))

    assert api.portal.call(leftovers) == (0, None)


def test_paging_through_jobs_loses_and_repeats_none(api, pro_user, held):
    headers = pro_user["headers"]

    def submit():
        return api.post("/classify-async/", files=[photo()], headers=headers).json()["job_id"]

    first = [submit() for _ in range(25)]
    seen, url, pages = [], "/jobs?limit=10", 0
    while url:
        page = api.get(url, headers=headers)
        assert page.status_code == 200 and isinstance(page.json(), list)
        seen += [job["job_id"] for job in page.json()]
        submit()  # new jobs arrive between pages: they are newer than every cursor
        link = page.headers.get("Link")
        url = link.split(";")[0].strip("<>") if link else None
        pages += 1
    assert seen == first[::-1] and pages == 3
    canceled = first[3]
    api.post(f"/jobs/{canceled}/cancel", headers=headers)
    only = api.get("/jobs?status=canceled&limit=100", headers=headers).json()
    assert [job["job_id"] for job in only] == [canceled]
    bad = api.get("/jobs?cursor=not-a-cursor", headers=headers)
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


def test_refunds_for_canceled_jobs_are_bounded_per_day(api, user, held):
    """Submit-and-cancel cannot go on without limit: CANCELED_REFUNDS_PER_DAY (10) a day."""
    remaining = []
    for _ in range(11):
        job_id = api.post("/classify-async/", files=[photo()],
                          headers=user["headers"]).json()["job_id"]
        canceled = api.post(f"/jobs/{job_id}/cancel", headers=user["headers"])
        assert canceled.json()["status"] == "canceled"
        remaining.append(canceled.headers["X-RateLimit-Remaining"])
    assert remaining == ["10"] * 10 + ["9"]  # the eleventh stays counted
