"""A job as Redis holds it: one hash per job, read back into a typed record."""

import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

JobStatus = Literal["pending", "processing", "completed", "failed", "canceled"]
TERMINAL = ("completed", "failed", "canceled")


class QueueView(BaseModel):
    """Where an unfinished job stands: its place in the shared queue and estimates from
    the recent completion rate (None while there is nothing to go by)."""

    queue_position: int | None = None  # pending: jobs ahead of it, 0 = next
    estimated_start_s: float | None = None  # pending
    estimated_completion_s: float | None = None  # pending or processing


@dataclass(frozen=True)
class StatedContext:
    """What the user said with the photos: the age as given (read by rag.geology.parse_age,
    checked on submission) and the locality, free text."""

    age: str | None = None
    locality: str | None = None


@dataclass(frozen=True)
class Kept:
    """A completed job's photos as embeddings (float32 rows) and its first photo as a
    thumbnail (WebP), kept for a correction to be reviewed into the reference collection."""

    embeddings: bytes
    dim: int
    encoder: str
    thumbnail: bytes

    def to_redis(self) -> dict[str, bytes | int | str]:
        return {"embeddings": self.embeddings, "dim": self.dim, "encoder": self.encoder,
                "thumbnail": self.thumbnail}

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes]) -> "Kept":
        return cls(raw[b"embeddings"], int(raw[b"dim"]), raw[b"encoder"].decode(),
                   raw.get(b"thumbnail", b""))


class JobRecord(BaseModel):
    job_id: str
    user_id: str
    status: JobStatus
    attempt: int
    image_count: int
    request_id: str | None = None
    created_at: float
    updated_at: float
    started_at: float | None = None
    completed_at: float | None = None
    processing_time: float | None = None  # seconds from claim to result
    result: str | None = None  # the identification as stored: JSON text
    error: str | None = None  # why the job failed, for the user
    last_error: str | None = None  # why the latest attempt ended early
    worker_pid: int | None = None
    handed_back: int = 0  # attempts a replica going away gave back
    normalised: int = 0  # 1 once a job task replaced the uploaded photos by normalised ones
    age: str | None = None  # the age of the rock as the user stated it (rag.geology)
    locality: str | None = None  # where it was found, as the user wrote it
    webhook_url: str | None = None
    webhook_events: str | None = None  # space-separated: start, completed
    webhook_log: str | None = None  # one JSON line per delivery attempt (jobs/webhooks.py)

    def webhook_deliveries(self) -> list[dict]:
        return [json.loads(line) for line in (self.webhook_log or "").splitlines() if line]

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes]) -> "JobRecord":
        # Redis hashes hold text; pydantic converts each field to its declared type.
        return cls.model_validate({k.decode(): v.decode() for k, v in raw.items()})

    def to_redis(self) -> dict[str, str | int | float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}
