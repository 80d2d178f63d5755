import concurrent.futures
import io
import socket
import time

import httpx
import pytest
from PIL import Image

from tests.support import JPEG, photo, wait_for


def test_empty_index_completes_with_a_warning(client, user, milvus_server):
    # Runs before test_identification ingests the gallery (files run in name order).
    from pymilvus import MilvusClient

    assert not MilvusClient(milvus_server["uri"]).has_collection("specimens"), \
        "this test needs an empty index: run it before test_identification"
    response = client.post("/classify-async/", headers=user["headers"], files=[photo()])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pending" and body["job_id"] and body["request_id"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    job = wait_for(client, body["job_id"], user["headers"])
    assert job["status"] == "completed"
    result = job["result"]
    assert result["candidates"] == [] and result["identification"]["status"] == "unidentified"
    assert result["identification"]["taxon"] is None
    assert len(result["warnings"]) == 1 and "paleon ingest" in result["warnings"][0]
    assert job["processing_time"] > 0 and job["started_at"] >= job["created_at"]


def test_rate_limit_headers_and_body(client, user):
    first = client.post("/classify-async/", headers=user["headers"], files=[photo()])
    second = client.post("/classify-async/", headers=user["headers"], files=[photo(), photo()])
    assert first.status_code == second.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "10"
    assert first.headers["X-RateLimit-Current"] == "1"
    assert second.headers["X-RateLimit-Remaining"] == "8"
    reset = int(second.headers["X-RateLimit-Reset"])
    assert reset % 86400 == 0 and reset > time.time()
    assert second.json()["rate_limit"] == {"limit": 10, "current": 2, "remaining": 8,
                                           "reset_at": second.json()["rate_limit"]["reset_at"]}
    assert second.json()["image_count"] == 2


def _too_big_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "files,status,needle",
    [
        ([], 400, "1 to 5 photos"),
        ([photo() for _ in range(6)], 400, "at most 5"),
        ([photo("notes.txt", b"hello", "text/plain")], 400, "'notes.txt'"),
        ([photo("fake.png", JPEG, "image/png")], 400, "'fake.png' is not a valid PNG"),
        ([photo(), photo("broken.jpg", b"\xff\xd8garbage")], 400, "'broken.jpg'"),
        ([photo("bomb.png", _too_big_png(), "image/png")], 400, "decompression bomb"),
        ([photo("huge.jpg", b"\xff" * (10 * 2**20 + 1))], 413, "'huge.jpg'"),
    ],
)
def test_bad_uploads_are_refused_and_cost_nothing(client, user, files, status, needle):
    response = client.post("/classify-async/", headers=user["headers"], files=files)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]
    assert response.headers["X-RateLimit-Current"] == "0"  # the quota was not spent
    assert client.get("/jobs", headers=user["headers"]).json() == []


def test_wrong_field_types_are_400(client, user):
    as_text = client.post("/classify-async/", headers=user["headers"],
                          data={"image_files": "not a file"})
    assert as_text.status_code == 400
    as_json = client.post("/classify-async/", headers=user["headers"], json={"image_files": []})
    assert as_json.status_code == 400


def test_body_over_the_total_limit_is_413_before_reading(serve_app, user):
    # A raw socket: declare 60 MB, send almost nothing, and get the answer at once.
    host, port = serve_app.removeprefix("http://").split(":")
    head = (
        "POST /classify-async/ HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: {user['headers']['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {60 * 2**20}\r\nConnection: close\r\n\r\n--x\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_result_ownership_and_unknown_jobs(client, user, pro_user):
    job_id = client.post("/classify-async/", headers=user["headers"],
                         files=[photo()]).json()["job_id"]
    assert client.get(f"/result/{job_id}", headers=pro_user["headers"]).status_code == 403
    missing = client.get("/result/does-not-exist", headers=user["headers"])
    assert missing.status_code == 404 and "does-not-exist" in missing.json()["detail"]
    assert client.get("/result/" + "x" * 500, headers=user["headers"]).status_code == 400
    injected = client.get("/result/1' OR '1'='1", headers=user["headers"])
    assert injected.status_code == 404


def test_jobs_newest_first_and_limit_bounds(client, user):
    ids = [client.post("/classify-async/", headers=user["headers"],
                       files=[photo()]).json()["job_id"] for _ in range(3)]
    listed = client.get("/jobs", params={"limit": 2}, headers=user["headers"])
    assert [job["job_id"] for job in listed.json()] == ids[::-1][:2]
    assert client.get("/jobs", headers=user["headers"]).json()[0]["job_id"] == ids[-1]
    for bad in ("0", "101", "ten"):
        response = client.get("/jobs", params={"limit": bad}, headers=user["headers"])
        assert response.status_code == 400 and "limit" in response.json()["detail"]


def test_fifty_concurrent_submissions_accept_exactly_the_limit(serve_app, user):
    def submit(_):
        with httpx.Client(base_url=serve_app, timeout=120) as http:
            return http.post("/classify-async/", headers=user["headers"], files=[photo()])

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(submit, range(50)))
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 10 and codes.count(429) == 40, codes
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.json()["rate_limit"]["current"] == 10
    assert "Daily limit of 10" in refused.json()["detail"]


def test_health_and_request_ids(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["checks"] == {"redis": "ok", "milvus": "ok"}
    assert response.headers["X-Request-ID"]
    echoed = client.get("/health", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["X-Request-ID"] == "trace-123"
    assert client.get("/nope").headers["X-Request-ID"]
