import zlib

import pytest

from auth import api_keys
from paleon.tools import gallery
from tests.support import register

PHOTO = [("image_files", ("a.jpg", gallery.held_out("crinoids", 1)[0], "image/jpeg"))]


def test_key_format_carries_a_checksum():
    key = api_keys.generate()
    assert key.startswith("paleon_") and len(key) == api_keys.LENGTH
    assert api_keys.well_formed(key)
    body = key[len("paleon_"):-6]
    assert key[-6:] == api_keys._base62(zlib.crc32(body.encode()), 6)
    typo = key[:-7] + ("A" if key[-7] != "A" else "B") + key[-6:]
    assert not api_keys.well_formed(typo)
    assert not api_keys.well_formed(key + "x") and not api_keys.well_formed("ghp_" + key[7:])
    assert api_keys.digest(key, "pepper-1") != api_keys.digest(key, "pepper-2")
    assert api_keys.generate() != api_keys.generate()


def create(api, user, name="ci"):
    return api.post("/auth/api-keys", json={"name": name}, headers=user["headers"])


def test_create_use_list_and_revoke(api, user):
    created = create(api, user, "laptop script")
    assert created.status_code == 200, created.text
    body = created.json()
    key = body["key"]
    assert api_keys.well_formed(key) and body["prefix"] == key[: api_keys.SHOWN]
    assert body["name"] == "laptop script" and body["revoked_at"] is None

    for headers in ({"X-API-Key": key}, {"Authorization": f"ApiKey {key}"},
                    {"Authorization": f"Bearer {key}"}):
        me = api.get("/auth/me", headers=headers)
        assert me.status_code == 200 and me.json()["id"] == user["id"]
    submitted = api.post("/classify-async/", headers={"X-API-Key": key}, files=PHOTO)
    assert submitted.status_code == 200
    assert submitted.headers["X-RateLimit-Current"] == "1"  # the owner's quota
    job_id = submitted.json()["job_id"]
    assert api.get(f"/result/{job_id}", headers=user["headers"]).status_code == 200

    listed = api.get("/auth/api-keys", headers=user["headers"]).json()
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is not None

    revoked = api.delete(f"/auth/api-keys/{body['id']}", headers=user["headers"])
    assert revoked.status_code == 204
    refused = api.get("/auth/me", headers={"X-API-Key": key})
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    again = api.get("/auth/api-keys", headers=user["headers"]).json()
    assert again[0]["revoked_at"] is not None


def test_names_are_unique_and_live_keys_are_limited(api, user):
    assert create(api, user, "one").status_code == 200
    duplicate = create(api, user, "ONE")
    assert duplicate.status_code == 400 and "already have a key" in duplicate.json()["detail"]
    assert create(api, user, "two").status_code == 200
    assert create(api, user, "three").status_code == 200
    over = create(api, user, "four")  # the suite allows 3 live keys
    assert over.status_code == 400 and "revoke one" in over.json()["detail"]
    first = api.get("/auth/api-keys", headers=user["headers"]).json()[-1]
    api.delete(f"/auth/api-keys/{first['id']}", headers=user["headers"])
    assert create(api, user, "one").status_code == 200  # a revoked key's name is free


def test_keys_cannot_manage_keys_or_touch_other_users(api, user):
    key = create(api, user).json()
    as_key = {"X-API-Key": key["key"]}
    assert create(api, {"headers": as_key}).status_code == 403
    assert api.get("/auth/api-keys", headers=as_key).status_code == 403
    stranger = register(api)
    gone = api.delete(f"/auth/api-keys/{key['id']}", headers=stranger["headers"])
    assert gone.status_code == 404
    assert api.get("/auth/me", headers=as_key).status_code == 200  # still live


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": "paleon_" + "a" * 36}, {"X-API-Key": api_keys.generate()},
     {"Authorization": "ApiKey ' OR 1=1 --"}, {"X-API-Key": "x" * 10_000}],
)
def test_bad_keys_are_401(api, headers):
    response = api.get("/jobs", headers=headers)
    assert response.status_code == 401 and response.json()["detail"]


@pytest.mark.parametrize("name", ["", "x" * 65, "<script>", None])
def test_key_names_are_validated(api, user, name):
    assert create(api, user, name).status_code == 400


def test_openapi_documents_both_ways_in(api):
    schema = api.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    assert "/auth/api-keys/{key_id}" in schema["paths"]
