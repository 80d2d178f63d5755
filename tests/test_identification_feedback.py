"""Identification in context over HTTP: the stated age, corrections reviewed into the
reference collection, reference counts. Runs after test_identification.py (name order) on
the same ingested gallery, which lacks crinoids."""

import pytest

from auth.store import UserStore, make_engine
from paleon.tools import gallery
from rag.calibrate.store import CalibrationStore
from rag.specimens import connect
from tests.support import photo, register, run_cli, wait_for

CLASSES = gallery.CLASSES[:5]  # the gallery test_identification.py ingests
MISSING = "crinoids"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, settings, serve_app):
    assert MISSING not in CLASSES
    root = tmp_path_factory.mktemp("gallery")
    gallery.write_gallery(root, per_class=20, classes=CLASSES)
    env = {"MILVUS_URI": settings["milvus_uri"], "REDIS_URL": settings["redis_url"]}
    done = run_cli("ingest", str(root), env=env)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def reviewer(api, settings) -> dict:
    account = register(api)
    UserStore(make_engine(settings["database_url"])).set_role(account["email"], "reviewer")
    return account


def submit(client, user, photos, **fields):
    response = client.post("/classify-async/", headers=user["headers"],
                           files=[photo(f"{i}.jpg", data) for i, data in enumerate(photos)],
                           data=fields)
    assert response.status_code == 200, response.text
    return wait_for(client, response.json()["job_id"], user["headers"])


def test_an_unreadable_age_is_a_400_naming_the_field(client, pro_user):
    response = client.post("/classify-async/", headers=pro_user["headers"],
                           files=[photo()], data={"age": "the dawn of time"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("age:") and "Late Cretaceous" in detail and "145-100" in detail
    assert client.post("/classify-async/", headers=pro_user["headers"], files=[photo()],
                       data={"locality": "a\x00b"}).status_code == 400


def test_the_stated_age_and_locality_are_used_and_echoed(client, pro_user, ingested):
    ammonite = gallery.held_out("ammonoids", 1, seed=31_000)
    plain = submit(client, pro_user, ammonite)["result"]
    assert plain["context"] == {"age": None, "locality": None}
    job = submit(client, pro_user, ammonite, age="  Late   Cretaceous ",
                 locality="Lyme Regis, Charmouth Mudstone")
    result = job["result"]
    assert result["context"] == {
        "age": {"input": "Late Cretaceous", "first_ma": 100.5, "last_ma": 66.0,
                "unit": "Upper Cretaceous"},
        "locality": "Lyme Regis, Charmouth Mudstone"}
    top = result["candidates"][0]
    assert top["taxon_id"] == "ammonoids" and top["range_consistent"] is True
    assert top["confidence_before_prior"] is not None
    assert result["identification"]["links"]["pbdb"].endswith("taxon_name=Ammonoidea")
    assert result["identification"]["reference_count"] == 20
    late = submit(client, pro_user, ammonite, age="Pleistocene")["result"]
    assert "out_of_range" in [n["code"] for n in late["notices"]]
    assert any("Ammonoids are not known after 66 Ma" in w for w in late["warnings"])


def test_a_correction_reviewed_in_identifies_the_next_photo(client, pro_user, reviewer,
                                                           ingested, settings):
    photos = gallery.held_out(MISSING, 4, seed=32_000)
    job = submit(client, pro_user, photos[:3])
    assert job["result"]["identification"]["status"] == "unidentified", job["result"]
    job_id = job["job_id"]
    url = f"/result/{job_id}/feedback"
    # The taxon must be a knowledge-base group; a near miss gets suggestions.
    wrong = client.post(url, headers=pro_user["headers"], json={"taxon": "crinoid stems!"})
    assert wrong.status_code == 400 and "crinoids" in wrong.json()["detail"]
    assert client.post(url, headers=pro_user["headers"], json={}).status_code == 400
    first = client.post(url, headers=pro_user["headers"],
                        json={"taxon": "sea lilies", "comment": "stem ossicles"})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["taxon_id"] == MISSING and body["status"] == "pending"
    # Someone else's job: 403; a second correction replaces the first while pending.
    other = register(client)
    assert client.post(url, headers=other["headers"],
                       json={"taxon": "crinoids"}).status_code == 403
    again = client.post(url, headers=pro_user["headers"], json={"taxon": "crinoids"})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    # Reviewers only.
    assert client.get("/feedback", headers=pro_user["headers"]).status_code == 403
    assert client.post(f"/feedback/{body['id']}/accept",
                       headers=pro_user["headers"]).status_code == 403
    queue = client.get("/feedback?status=pending&limit=100", headers=reviewer["headers"])
    assert queue.status_code == 200
    item = next(i for i in queue.json()["items"] if i["id"] == body["id"])
    assert item["thumbnail"].startswith("data:image/webp;base64,")
    assert item["result"]["identification"]["status"] == "unidentified"
    assert item["comment"] is None and item["job_id"] == job_id
    accepted = client.post(f"/feedback/{body['id']}/accept", headers=reviewer["headers"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["specimens_added"] == 3
    # The collection changed: its calibration says it is stale until a refit.
    fit = CalibrationStore(connect(settings["milvus_uri"])).current()
    assert fit is not None and fit.stale and "paleon calibrate" in str(fit.stale_reason)
    # Accepting again adds nothing; rejecting an accepted one is refused; the user can
    # no longer change it.
    assert client.post(f"/feedback/{body['id']}/accept",
                       headers=reviewer["headers"]).json()["specimens_added"] == 3
    assert client.post(f"/feedback/{body['id']}/reject",
                       headers=reviewer["headers"]).status_code == 409
    assert client.post(url, headers=pro_user["headers"],
                       json={"taxon": "ammonoids"}).status_code == 409
    # The next photo of the group is identified by the accepted references.
    nxt = submit(client, pro_user, photos[3:])["result"]
    assert nxt["identification"]["taxon_id"] == MISSING, nxt["identification"]
    sources = [s["source"] for s in nxt["similar_specimens"]]
    assert f"feedback:{body['id']}" in sources
    assert "few_references" in [n["code"] for n in nxt["notices"]]
    entry = client.get(f"/knowledge/{MISSING}", headers=pro_user["headers"]).json()
    assert entry["reference_count"] == 3 and entry["few_references"] is True


def test_rejecting_and_not_a_fossil(client, pro_user, reviewer, ingested):
    job = submit(client, pro_user, gallery.not_fossils(1))
    created = client.post(f"/result/{job['job_id']}/feedback", headers=pro_user["headers"],
                          json={"taxon": "not a fossil"})
    assert created.status_code == 201 and created.json()["taxon_id"] == "not_a_fossil"
    feedback_id = created.json()["id"]
    rejected = client.post(f"/feedback/{feedback_id}/reject", headers=reviewer["headers"])
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    listed = client.get("/feedback?status=rejected", headers=reviewer["headers"]).json()
    assert feedback_id in [i["id"] for i in listed["items"]]
    # Accepted after all: no specimen is added for "no fossil".
    accepted = client.post(f"/feedback/{feedback_id}/accept", headers=reviewer["headers"])
    assert accepted.json()["specimens_added"] == 0
    assert client.post("/feedback/nope/accept", headers=reviewer["headers"]).status_code == 404


def test_only_a_completed_job_can_be_corrected(client, pro_user):
    response = client.post("/classify-async/", headers=pro_user["headers"], files=[photo()])
    job_id = response.json()["job_id"]
    canceled = client.post(f"/jobs/{job_id}/cancel", headers=pro_user["headers"])
    answer = client.post(f"/result/{job_id}/feedback", headers=pro_user["headers"],
                         json={"taxon": "ammonoids"})
    if canceled.status_code == 200:  # else it had completed already (the machine was quick)
        assert answer.status_code == 409 and "only a completed" in answer.json()["detail"]
    assert client.post("/result/unknown/feedback", headers=pro_user["headers"],
                       json={"taxon": "ammonoids"}).status_code == 404


def test_deleting_a_job_deletes_its_pending_correction(client, pro_user, reviewer, ingested):
    job = submit(client, pro_user, gallery.held_out("trilobites", 1, seed=34_000))
    made = client.post(f"/result/{job['job_id']}/feedback", headers=pro_user["headers"],
                       json={"taxon": "trilobites"}).json()
    assert client.delete(f"/jobs/{job['job_id']}", headers=pro_user["headers"]).status_code \
        == 204
    assert client.post(f"/feedback/{made['id']}/reject",
                       headers=reviewer["headers"]).status_code == 404


def test_review_queue_pages(client, reviewer, ingested):
    # Runs after the two corrections above were accepted.
    assert client.get("/feedback?status=maybe", headers=reviewer["headers"]).status_code == 400
    first = client.get("/feedback?limit=1&status=accepted", headers=reviewer["headers"]).json()
    assert len(first["items"]) == 1 and first["next_cursor"] == first["items"][0]["id"]
    second = client.get(f"/feedback?limit=1&status=accepted&cursor={first['next_cursor']}",
                        headers=reviewer["headers"]).json()
    assert len(second["items"]) == 1 and second["items"][0]["id"] != first["items"][0]["id"]
    assert client.get("/feedback?cursor=nope", headers=reviewer["headers"]).status_code == 400


def test_calibrate_refits_a_stale_collection(settings, ingested):
    # Runs after the corrections above were accepted, which marked the fit stale.
    store = CalibrationStore(connect(settings["milvus_uri"]))
    before = store.current()
    assert before is not None and before.stale
    env = {"MILVUS_URI": settings["milvus_uri"], "REDIS_URL": settings["redis_url"]}
    done = run_cli("calibrate", env=env)
    assert done.returncode == 0, done.stderr
    after = store.current()
    assert after is not None and not after.stale and after.version == (before.version or 0) + 1
    assert f"calibration version {after.version}: fitted on" in done.stdout
    assert after.figures["references"] == before.figures["references"] + 3
