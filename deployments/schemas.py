"""Response bodies of the job routes (the integration guide's field names)."""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from rag.result import IdentificationResult

JobStatus = Literal["pending", "processing", "completed", "failed"]


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


class JobResponse(BaseModel):
    job_id: str
    status: JobStatus
    # The identification (rag/result.py); a plain object for results stored by older versions.
    result: IdentificationResult | dict[str, Any] | None = None
    error: str | None = None
    image_count: int
    attempt: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    processing_time: float | None = None  # seconds from start of work to the result
    request_id: str | None = None

    @classmethod
    def from_record(cls, job: dict) -> "JobResponse":
        fields = dict(job)
        for name in ("created_at", "updated_at", "started_at", "completed_at"):
            if name in fields:
                fields[name] = datetime.fromtimestamp(fields[name], UTC)
        return cls.model_validate(fields)


class Health(BaseModel):
    status: Literal["healthy", "unhealthy"]
    checks: dict[str, str]
    detail: str | None = None  # what failed, when unhealthy
