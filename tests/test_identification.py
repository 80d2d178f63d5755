"""End to end over HTTP: ingest a synthetic gallery with the CLI, identify held-out photos."""

import time

import pytest

from paleon.tools import gallery
from rag.knowledge import load_knowledge
from rag.result import IdentificationResult
from tests.support import photo, run_cli, wait_for

CLASSES = gallery.CLASSES[:5]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, settings, serve_app):
    root = tmp_path_factory.mktemp("gallery")
    gallery.write_gallery(root, per_class=20, classes=CLASSES)
    env = {"MILVUS_URI": settings["milvus_uri"], "REDIS_URL": settings["redis_url"]}
    first = run_cli("ingest", str(root), env=env)
    assert first.returncode == 0, first.stderr
    again = run_cli("ingest", str(root), env=env)
    return first.stdout, again.stdout, root  # the gallery folder last


def test_ingest_is_idempotent(ingested):
    first, again, _ = ingested
    assert "found 100 photos in 5 labels; added 100, already present 0" in first
    assert "added 0, already present 100; index holds 100" in again


def test_ingest_right_after_a_restart_loads_the_collection_first(settings, ingested, client,
                                                                  pro_user):
    from rag.specimens import COLLECTION, connect

    # A restarted Milvus holds the collection released; ingest and search must load it.
    milvus = connect(settings["milvus_uri"])
    milvus.release_collection(COLLECTION)
    env = {"MILVUS_URI": settings["milvus_uri"], "REDIS_URL": settings["redis_url"]}
    again = run_cli("ingest", str(ingested[2]), env=env)
    assert again.returncode == 0, again.stderr
    assert "already present 100" in again.stdout
    milvus.release_collection(COLLECTION)
    milvus.close()
    coral = gallery.held_out("tabulate_corals", 1)[0]
    job_id = client.post("/classify-async/", headers=pro_user["headers"],
                         files=[photo(data=coral)]).json()["job_id"]
    assert wait_for(client, job_id, pro_user["headers"])["status"] == "completed"


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
        result = IdentificationResult.model_validate(job["result"])
        assert len(result.per_image[0].similar_specimens) == 10  # TOP_K
        # The collection's fit may leave a close call unnamed; it never names a wrong group.
        if result.identification.status == "identified":
            assert result.identification.taxon_id == label, result.identification
            assert result.notices == [] and result.warnings == []
        else:
            assert [n.code for n in result.notices] == ["unidentified"], result.notices
        assert result.candidates[0].taxon_id == label
        correct += result.identification.taxon_id == label
    assert correct / len(submitted) >= 0.9, f"identified {correct}/{len(submitted)}"


def test_several_views_of_one_specimen_give_one_identification(client, pro_user, ingested):
    views = [photo(f"view-{i}.jpg", data) for i, data in enumerate(gallery.held_out("ferns", 3))]
    response = client.post("/classify-async/", headers=pro_user["headers"], files=views)
    job = wait_for(client, response.json()["job_id"], pro_user["headers"])
    result = job["result"]
    assert len(result["per_image"]) == 3
    ident = result["identification"]
    assert ident["status"] == "identified" and ident["taxon_id"] == "ferns"
    assert ident["taxon"] == "Ferns" and ident["rank"] and ident["lineage"][0]["name"] == "Plantae"
    assert ident["geologic_range"]["periods"] and ident["geologic_range"]["first_ma"] > 300
    assert ident["description"] and ident["diagnostic_features"] and ident["look_alikes"]
    assert ident["references"] and 0.6 <= ident["confidence"] <= 1
    assert result["candidates"][0]["taxon_id"] == "ferns" and len(result["candidates"]) <= 5
    top = result["similar_specimens"][0]
    assert top["label"] == "ferns" and top["source"].startswith("ferns/") and 0 < top["score"] <= 1
    assert result["model"]["generator"] == "local"
    assert result["model"]["encoder"] == "efficientnet-lite0"
    assert result["model"]["knowledge"].startswith(f"{len(load_knowledge())} entries")


def test_the_collection_s_fit_answers_without_a_restart(client, pro_user, ingested):
    # `paleon ingest` fitted the calibration and stored it with the collection; the served
    # pipeline reads it within its TTL (the job workers' and the Retriever's, 15 s each).
    deadline = time.monotonic() + 60
    while True:
        job_id = client.post("/classify-async/", headers=pro_user["headers"],
                             files=[photo(data=gallery.held_out(CLASSES[0], 1)[0])]
                             ).json()["job_id"]
        calibration = wait_for(client, job_id, pro_user["headers"])["result"]["model"][
            "calibration"]
        if calibration["source"] == "fitted" or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert calibration["source"] == "fitted" and calibration["version"] >= 1
    assert calibration["figures"]["references"] == 100
    assert calibration["parameters"]["threshold"] >= 0.5
    assert "fitted on" in ingested[0]


def test_cli_classify_prints_the_result(serve_app, pro_user, ingested, tmp_path):
    import json

    photo_path = tmp_path / "echinoid.jpg"
    photo_path.write_bytes(gallery.held_out("echinoids", 1)[0])
    token = pro_user["headers"]["Authorization"].removeprefix("Bearer ")
    done = run_cli("classify", str(photo_path), "--url", serve_app,
                   env={"PALEON_TOKEN": token})
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "completed"
    assert job["result"]["identification"]["taxon_id"] == "echinoids"


def test_cli_classify_logs_in_with_email(serve_app, pro_user, ingested, tmp_path):
    photo_path = tmp_path / "notes.txt"
    photo_path.write_text("not a photo")
    refused = run_cli("classify", str(photo_path), "--url", serve_app,
                      "--email", pro_user["email"], env={"PALEON_PASSWORD": "wrong-password"})
    assert refused.returncode != 0 and ".jpg" in refused.stderr
    photo_path = tmp_path / "fern.jpg"
    photo_path.write_bytes(gallery.held_out("ferns", 1)[0])
    wrong = run_cli("classify", str(photo_path), "--url", serve_app,
                    "--email", pro_user["email"], env={"PALEON_PASSWORD": "wrong-password"})
    assert wrong.returncode != 0 and "login failed" in wrong.stderr
    right = run_cli("classify", str(photo_path), "--url", serve_app,
                    "--email", pro_user["email"], env={"PALEON_PASSWORD": pro_user["password"]})
    assert right.returncode == 0, right.stderr


def test_the_result_schema_is_in_the_openapi_document(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    fields = schemas["IdentificationResult"]["properties"]
    assert {"identification", "candidates", "similar_specimens", "per_image", "model",
            "notices", "warnings"} <= set(fields)
    assert {"taxon", "rank", "lineage", "confidence", "geologic_range", "description",
            "diagnostic_features", "look_alikes", "references"} <= set(
        schemas["Identification"]["properties"])


def test_knowledge_entries_and_search(client, user, ingested):  # ingest syncs the knowledge
    headers = user["headers"]
    entry = client.get("/knowledge/ammonite", headers=headers)  # an alias
    assert entry.status_code == 200 and entry.json()["id"] == "ammonoids"
    missing = client.get("/knowledge/unicorns", headers=headers)
    assert missing.status_code == 404 and "unicorns" in missing.json()["detail"]
    found = client.get("/knowledge/search", headers=headers,
                       params={"q": "insect preserved in fossil resin", "limit": 3})
    assert found.status_code == 200, found.text
    assert "insects_in_amber" in [hit["id"] for hit in found.json()]
    assert found.json()[0]["entry"]["range"]["periods"]
    for params in ({"q": "x"}, {"q": "shell", "limit": 0}, {"q": "a" * 501}, {}):
        assert client.get("/knowledge/search", headers=headers, params=params).status_code == 400
    assert client.get("/knowledge/search", params={"q": "shell"}).status_code == 401


def test_photos_of_no_fossil_are_unidentified(client, pro_user, ingested):
    # Unlike every reference is no evidence of a pseudofossil (a fossil the collection lacks
    # is too): nothing is named, and nobody is told their photo may not be a fossil.
    for index, data in enumerate(gallery.not_fossils(2)):  # bare stone, then a toy-like image
        response = client.post("/classify-async/", headers=pro_user["headers"],
                               files=[photo(f"nothing-{index}.jpg", data)])
        job = wait_for(client, response.json()["job_id"], pro_user["headers"])
        result = job["result"]
        assert result["identification"]["status"] == "unidentified", result["identification"]
        assert result["identification"]["taxon"] is None
        codes = [notice["code"] for notice in result["notices"]]
        assert codes == ["unidentified"], result["notices"]
        assert "unlike every reference" in result["identification"]["explanation"]
        assert result["warnings"] == [notice["message"] for notice in result["notices"]]
        assert len(result["candidates"]) >= 1  # the closest groups are still listed
