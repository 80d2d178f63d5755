"""JSON log lines: fields travel, credentials never do."""

import io
import json
import logging

import pytest

from paleon import logs


@pytest.fixture
def lines():
    stream = io.StringIO()
    logger = logging.getLogger("paleon.test_logs")
    logs.configure_worker("test")
    handler = next(h for h in logging.getLogger("paleon").handlers
                   if getattr(h, "paleon_json", False))
    original, handler.stream = handler.stream, stream
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.stream = original


@pytest.mark.parametrize("secret", [
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLWhlcmU",
    "paleon_" + "A" * 36,
    "sk-proj-abcdefghijklmnop",
])
def test_credentials_are_scrubbed_from_messages_and_tracebacks(lines, secret):
    logger, read = lines
    logger.info("header Bearer %s and raw %s", secret, secret)
    try:
        raise ValueError(f"bad credential {secret}")
    except ValueError:
        logger.exception("failed", extra=logs.fields(job_id="j1"))
    text = json.dumps(read())
    assert secret not in text and "[redacted]" in text


def test_url_passwords_are_scrubbed(lines):
    logger, read = lines
    logger.info("connect redis://:hunter2hunter2@redis:6379/0 and postgresql://u:pw1@db/x")
    (record,) = read()
    assert "hunter2hunter2" not in record["message"] and "pw1" not in record["message"]
    assert "redis://[redacted]@redis:6379/0" in record["message"]


def test_fields_become_top_level_keys(lines):
    logger, read = lines
    logger.info("job %s started", "j9", extra=logs.fields(job_id="j9", attempt=2))
    (record,) = read()
    assert record["job_id"] == "j9" and record["attempt"] == 2
    assert record["component"] == "test" and record["level"] == "INFO"
    assert "ray_serve_extra_fields" not in record
