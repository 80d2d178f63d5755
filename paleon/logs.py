"""Structured JSON logs for every Paleon process, with secrets scrubbed.

Serve replicas log through Ray Serve's own handlers (serve_config.yaml's `logging_config`,
JSON encoding), which add the request id, replica and deployment; job-task workers are not
Serve replicas, so they get a JSON handler of their own. Either way a record carries the
fields given with `extra=fields(job_id=...)`, and nothing that looks like a credential.

Why `fields()`: Ray's own log context sets `job_id` (the Ray job's) on every record and
Serve then drops it, so ours travel in `ray_serve_extra_fields`, which Serve's JSON
formatter flattens into the line; the worker handler flattens it the same way.
"""

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

# Access tokens (JWTs), API keys, OpenAI-style keys, Authorization header values, and
# passwords in URLs (redis://:PASSWORD@host).
_SECRETS = re.compile(
    r"(?<=://)[^/\s:@]*:[^@\s/]+(?=@)"
    r"|eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}"
    r"|paleon_[0-9A-Za-z]{20,}"
    r"|sk-[\w-]{8,}"
    r"|(?i:(?:bearer|apikey)\s+)\S+"
)


_EXTRA = "ray_serve_extra_fields"


def fields(**values: object) -> dict:
    """`extra=` for a log call: fields that appear as top-level keys of the JSON line."""
    return {_EXTRA: values}


class _Flatten(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (getattr(record, _EXTRA, None) or {}).items():
            setattr(record, key, value)
        if hasattr(record, _EXTRA):
            delattr(record, _EXTRA)
        return True


class Redact(logging.Filter):
    """Replace credential-shaped text in a record's message (and traceback) with a marker."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:  # the traceback joins the message, scrubbed with it
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = record.exc_text = None
        clean = _SECRETS.sub("[redacted]", message)
        if clean != record.msg or record.args:
            record.msg, record.args = clean, ()
        return True


def _paleon_logger() -> logging.Logger:
    logger = logging.getLogger("paleon")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def configure_replica() -> None:
    """In a Serve replica: `paleon.*` records go to the replica's Serve log handlers."""
    logger = _paleon_logger()
    for handler in logging.getLogger("ray.serve").handlers:
        if not any(isinstance(f, Redact) for f in handler.filters):
            handler.addFilter(Redact())
        if handler not in logger.handlers:
            logger.addHandler(handler)


def configure_worker(component: str) -> None:
    """In a job-task worker: one JSON line per record on stderr (Ray's worker-*.err)."""
    logger = _paleon_logger()
    if any(getattr(h, "paleon_json", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"component": component}))
    handler.addFilter(_Flatten())
    handler.addFilter(Redact())
    handler.paleon_json = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
