"""GET /metrics: the global job view, kept in Redis by the job state machine, so every
replica reports the same numbers (Prometheus text format)."""

import hmac
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from deployments.services import ServicesDep
from paleon.errors import Forbidden, InvalidCredentials


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
        for status in ("submitted", "completed", "failed", "canceled"):
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
    if token is None and state.settings.environment != "development":
        raise Forbidden("GET /metrics is off: outside development it needs METRICS_TOKEN set.")
    expected = f"Bearer {token.get_secret_value()}" if token else ""
    if token is not None and not hmac.compare_digest((authorization or "").encode(),
                                                     expected.encode()):
        raise InvalidCredentials("GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>`.")
    snapshot = await state.jobs.snapshot()  # Redis down: 503 (deployments/http_errors.py)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
