"""Where a job lives in Redis."""

from dataclasses import dataclass

from paleon.keyspace import key

DEADLINES = key("jobs", "deadlines")  # every unfinished job → when it is overdue
QUEUED = key("jobs", "queued")  # pending jobs → since when (for queue depth and age)
TOTALS = key("jobs", "totals")  # submitted / completed / failed, since Redis began
# Completed jobs → when, over the last RATE_WINDOW_S: the recent completion rate.
COMPLETIONS = key("jobs", "completions")
RATE_WINDOW_S = 120
PROCESSING_MEAN = key("jobs", "processing-mean-s")  # a moving average, for estimates
# Webhook events to deliver, "{job_id}:{event}" → when next (jobs/webhooks.py)
WEBHOOKS_DUE = key("webhooks", "due")


def user_jobs_key(user_id: str) -> str:
    return key("user", user_id, "jobs")


@dataclass(frozen=True, slots=True)
class JobKeys:
    job: str
    images: str
    kept: str  # what a completed job keeps for corrections: embeddings and a thumbnail
    deadlines: str = DEADLINES
    queued: str = QUEUED
    totals: str = TOTALS
    completions: str = COMPLETIONS
    processing_mean: str = PROCESSING_MEAN

    @classmethod
    def of(cls, job_id: str) -> "JobKeys":
        return cls(job=key("job", job_id), images=key("job", job_id, "images"),
                   kept=key("job", job_id, "kept"))
