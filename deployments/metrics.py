"""Metrics. Ray's (per process, aggregated by Ray's metrics agent and shown in the dashboard)
from the deployments and job tasks; and GET /metrics, the global job view kept in Redis."""

import hmac
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from ray.serve import metrics as serve_metrics
from ray.util import metrics as ray_metrics
from redis.exceptions import RedisError

from deployments.services import ServicesDep
from paleon.errors import InvalidCredentials, ServiceUnavailable

SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120]
MILLISECONDS: list[float] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000]


# Made on first use, in the process that records them (a replica or a task worker).
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
    """jobs.runner.AttemptMetrics on Ray's metrics, in a job-task worker."""

    def started(self, queue_wait_s: float) -> None:
        jobs()["queue_wait"].observe(queue_wait_s)

    def finished(self, status: str, seconds: float) -> None:
        jobs()["finished"].inc(tags={"status": status})
        if status == "completed":
            jobs()["duration"].observe(seconds)


class _Snapshot:
    """A one-off prometheus_client collector over JobStore.snapshot()."""

    def __init__(self, snapshot: dict):
        self.snapshot = snapshot

    def collect(self):
        now = GaugeMetricFamily("paleon_jobs_unfinished", "Unfinished jobs by status.",
                                labels=["status"])
        for status in ("pending", "processing"):
            now.add_metric([status], self.snapshot[status])
        yield now
        totals = CounterMetricFamily("paleon_jobs", "Jobs by outcome since Redis began.",
                                     labels=["status"])
        for status in ("submitted", "completed", "failed"):
            totals.add_metric([status], self.snapshot["totals"].get(status, 0))
        yield totals
        yield GaugeMetricFamily("paleon_queue_depth", "Jobs waiting for a worker.",
                                value=self.snapshot["pending"])
        yield GaugeMetricFamily("paleon_oldest_pending_job_age_seconds",
                                "Age of the longest-waiting pending job (0: none).",
                                value=self.snapshot["oldest_pending_age_s"])


router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(state: ServicesDep,
                  authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus text format: the global job view from Redis, the same on every replica."""
    token = state.settings.metrics_token
    expected = f"Bearer {token.get_secret_value()}" if token else ""
    if token is not None and not hmac.compare_digest((authorization or "").encode(),
                                                     expected.encode()):
        raise InvalidCredentials("GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>`.")
    try:
        snapshot = await state.jobs.snapshot()
    except RedisError as exc:
        raise ServiceUnavailable("Redis, which holds the job metrics, is unavailable.") from exc
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
