"""Ray's metrics (per process, aggregated by Ray's metrics agent and shown in the dashboard)
from the deployments and the job workers. Light on purpose: a job worker imports it."""

from functools import cache

from ray.serve import metrics as serve_metrics
from ray.util import metrics as ray_metrics

SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120]
MILLISECONDS: list[float] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000]


# Made on first use, in the process that records them (a replica or a job worker).
@cache
def ingress() -> dict:
    return {
        "submitted": serve_metrics.Counter(
            "paleon_jobs_submitted", "Jobs accepted by POST /classify-async/.", ("tier",)),
        "quota_refusals": serve_metrics.Counter(
            "paleon_quota_refusals", "Submissions refused with 429: daily quota spent.",
            ("tier",)),
    }


@cache
def classifier_batch_size() -> serve_metrics.Histogram:
    return serve_metrics.Histogram("paleon_classifier_batch_size",
                                   "Images per @serve.batch call of the classifier.",
                                   boundaries=[1, 2, 4, 8, 16, 32, 64])


@cache
def retrieval_latency_ms() -> serve_metrics.Histogram:
    return serve_metrics.Histogram("paleon_retrieval_latency_ms",
                                   "Milvus k-NN search per Retriever.search call.",
                                   boundaries=MILLISECONDS)


@cache
def jobs() -> dict:
    return {
        "finished": ray_metrics.Counter(
            "paleon_job_attempts_finished", "Job attempts by outcome (completed, failed).",
            ("status",)),
        "duration": ray_metrics.Histogram(
            "paleon_job_duration_s", "From claim to result, per completed attempt.",
            boundaries=SECONDS),
        "queue_wait": ray_metrics.Histogram(
            "paleon_job_queue_wait_s", "From submission to the start of an attempt.",
            boundaries=SECONDS),
    }


class JobAttemptMetrics:
    """jobs.runner.AttemptMetrics on Ray's metrics, in a job worker."""

    def started(self, queue_wait_s: float) -> None:
        jobs()["queue_wait"].observe(queue_wait_s)

    def finished(self, status: str, seconds: float) -> None:
        jobs()["finished"].inc(tags={"status": status})
        if status == "completed":
            jobs()["duration"].observe(seconds)
