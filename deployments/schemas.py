"""Response bodies of the job routes (the integration guide's field names)."""

from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from jobs.record import JobRecord, JobStatus, QueueView
from rag.result import IdentificationResult


class RateLimit(BaseModel):
    limit: int
    current: int
    remaining: int
    reset_at: datetime


class ClassifyAccepted(BaseModel):
    job_id: str
    status: Literal["pending"] = "pending"
    request_id: str
    image_count: int
    rate_limit: RateLimit


class WebhookDelivery(BaseModel):
    event: Literal["start", "completed"]
    attempt: int
    status_code: int | None = None  # null: no answer (network error, timeout, refused)
    at: datetime
    error: str | None = None


class WebhookInfo(BaseModel):
    url: str
    events: list[Literal["start", "completed"]]
    deliveries: list[WebhookDelivery]  # every attempt so far, oldest first


class JobResponse(BaseModel):
    job_id: str
    status: JobStatus
    result: IdentificationResult | None = None
    error: str | None = None
    image_count: int
    attempt: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    processing_time: float | None = None  # seconds from start of work to the result
    request_id: str | None = None
    # While pending: jobs ahead of it in the shared queue (0 = next) and, from the recent
    # completion rate, when it should start; while pending or processing, when it should
    # end. Null when not applicable or while there is nothing to go by.
    queue_position: int | None = None
    estimated_start_s: float | None = None
    estimated_completion_s: float | None = None
    webhook: WebhookInfo | None = None  # when the job was submitted with one


def _moment(seconds: float | None) -> str | None:
    # As pydantic writes a UTC datetime, so the text matches JobResponse's schema.
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def job_body(job: JobRecord, queue: QueueView | None = None) -> dict[str, Any]:
    """A job as JobResponse describes it, for orjson, with the stored result passed through
    as it is: a poll neither parses nor re-validates the identification."""
    queue = queue or QueueView()
    return {
        "job_id": job.job_id, "status": job.status,
        "result": orjson.Fragment(job.result) if job.result else None,
        "error": job.error, "image_count": job.image_count, "attempt": job.attempt,
        "created_at": _moment(job.created_at), "updated_at": _moment(job.updated_at),
        "started_at": _moment(job.started_at), "completed_at": _moment(job.completed_at),
        "processing_time": job.processing_time, "request_id": job.request_id,
        "queue_position": queue.queue_position, "estimated_start_s": queue.estimated_start_s,
        "estimated_completion_s": queue.estimated_completion_s,
        "webhook": None if job.webhook_url is None else {
            "url": job.webhook_url, "events": (job.webhook_events or "").split(),
            "deliveries": job.webhook_deliveries()},
    }


class Health(BaseModel):
    status: Literal["healthy", "unhealthy"]
    checks: dict[str, str]
    detail: str | None = None  # what failed, when unhealthy
