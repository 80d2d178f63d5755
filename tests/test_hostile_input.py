"""Hostile input on every endpoint: a clear 4xx, nothing stored, and the service stays up."""

import pytest

from tests.support import photo

INJECTIONS = ["' OR '1'='1", "x'); DROP TABLE users; --", "\" OR \"\"=\"", "1; SELECT pg_sleep(5)",
              "admin'--", "%00", "../../etc/passwd", "${jndi:ldap://x}"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_strings_in_every_field(api, user, value):
    checks = [
        api.post("/auth/register", json={"email": value, "username": value,
                                            "password": value}),
        api.post("/auth/login", json={"email": value, "password": value}),
        api.post("/auth/refresh", json={"refresh_token": value}),
        api.post("/auth/oauth/signin", headers={"Authorization": f"Bearer {value}"}),
        api.get(f"/result/{value}", headers=user["headers"]),
        api.get("/jobs", params={"limit": value}, headers=user["headers"]),
        api.delete(f"/auth/api-keys/{value}", headers=user["headers"]),
        api.get("/auth/me", headers={"X-API-Key": value}),
    ]
    for response in checks:
        assert 400 <= response.status_code < 500, (response.request.url, response.text)
        assert response.json()["detail"]
    # A key name is free text within its pattern: refused, or stored verbatim as data.
    named = api.post("/auth/api-keys", json={"name": value}, headers=user["headers"])
    assert named.status_code in (200, 400)
    if named.status_code == 200:
        assert named.json()["name"] == value
    assert api.get("/health").status_code == 200


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login", "/auth/refresh",
                                  "/auth/api-keys"])
def test_oversized_and_non_utf8_bodies(api, user, path):
    headers = {**user["headers"], "Content-Type": "application/json"}
    huge = api.post(path, content=b'{"email": "' + b"a" * 3_000_000 + b'"}', headers=headers)
    assert huge.status_code == 413 and "65536 bytes" in huge.json()["detail"]
    # Streamed without a length: cut off at the same limit, before it is parsed.
    chunks = (b'{"email": "' + b"a" * 70_000 + b'"}',)
    streamed = api.post(path, content=iter(chunks), headers=headers)
    assert streamed.status_code == 413
    binary = api.post(path, content=b"\xff\xfe\xfa" * 1000, headers=headers)
    assert binary.status_code == 400
    assert api.get("/health").status_code == 200


def test_only_the_upload_takes_a_large_body(api, user):
    # 1 MB of photo is well within the upload's limit and far over the JSON routes' one.
    big = b"\xff\xd8" + bytes(1_000_000)
    files = [("image_files", ("a.jpg", big, "image/jpeg"))]
    upload = api.post("/classify-async/", files=files, headers=user["headers"])
    assert upload.status_code == 400  # read, and refused for what it is, not for its size
    login = api.post("/auth/login", files=files)
    assert login.status_code == 413


def test_refused_uploads_cost_the_caller(api, user):
    junk = [("image_files", ("bomb.webp", b"RIFF\x10\x00\x00\x00WEBPjunk", "image/webp"))]
    for _ in range(20):  # REFUSED_UPLOADS_PER_DAY
        refused = api.post("/classify-async/", files=junk, headers=user["headers"])
        assert refused.status_code == 400
    good = [photo()]
    spent = api.post("/classify-async/", files=good, headers=user["headers"])
    assert spent.status_code == 429 and "uploads were refused today" in spent.json()["detail"]
    assert int(spent.headers["Retry-After"]) > 0
    assert spent.headers["X-RateLimit-Remaining"] == "10"  # no job quota was spent
