"""End to end over HTTP: ingest a synthetic gallery with the CLI, identify held-out photos."""

import pytest

from tests import gallery
from tests.conftest import run_cli
from tests.test_api_jobs import photo, wait_for

CLASSES = gallery.CLASSES[:5]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, settings, serve_app):
    root = tmp_path_factory.mktemp("gallery")
    gallery.write_gallery(root, per_class=20, classes=CLASSES)
    env = {"MILVUS_URI": settings["milvus_uri"], "REDIS_URL": settings["redis_url"]}
    first = run_cli("ingest", str(root), env=env)
    assert first.returncode == 0, first.stderr
    again = run_cli("ingest", str(root), env=env)
    return first.stdout, again.stdout


def test_ingest_is_idempotent(ingested):
    first, again = ingested
    assert "found 100 photos in 5 labels; added 100, already present 0" in first
    assert "added 0, already present 100; index holds 100" in again


def test_held_out_photos_are_identified(client, pro_user, ingested):
    submitted = {}
    for label in CLASSES:
        for index, data in enumerate(gallery.held_out(label, 4)):
            response = client.post("/classify-async/", headers=pro_user["headers"],
                                   files=[photo(f"{label}-{index}.jpg", data)])
            assert response.status_code == 200, response.text
            submitted[response.json()["job_id"]] = label
    correct = 0
    for job_id, label in submitted.items():
        job = wait_for(client, job_id, pro_user["headers"], timeout=120)
        assert job["status"] == "completed", job
        result = job["result"]
        assert len(result["per_image"][0]["similar_specimens"]) == 5
        assert result["warnings"] == []
        correct += result["identification"]["taxon"] == label
    assert correct / len(submitted) >= 0.9, f"top-1 {correct}/{len(submitted)}"


def test_several_views_of_one_specimen_give_one_identification(client, pro_user, ingested):
    views = [photo(f"view-{i}.jpg", data) for i, data in enumerate(gallery.held_out("fern", 3))]
    response = client.post("/classify-async/", headers=pro_user["headers"], files=views)
    job = wait_for(client, response.json()["job_id"], pro_user["headers"])
    result = job["result"]
    assert len(result["per_image"]) == 3
    assert result["identification"]["taxon"] == "fern"
    assert result["candidates"][0]["label"] == "fern"
    top = result["similar_specimens"][0]
    assert top["label"] == "fern" and top["source"].startswith("fern/") and 0 < top["score"] <= 1
