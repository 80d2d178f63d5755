"""Job routes once a job exists: its result (polled, long-polled or streamed), the list,
cancel and delete; and the health check. Submitting is in deployments/submit_routes.py."""

import asyncio
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Annotated
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from auth.deps import Caller
from deployments.schemas import Health, JobResponse, job_body
from deployments.services import Services, ServicesDep
from jobs.events import WaitSlot
from jobs.record import TERMINAL, JobRecord, JobStatus
from jobs.store import Cursor
from paleon import logs
from paleon.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    JobNotFound,
    QuotaExceeded,
)

router = APIRouter(tags=["jobs"])
log = logging.getLogger("paleon.jobs")


async def own_job(state: Services, user_id: str, job_id: str) -> JobRecord:
    job = await state.jobs.get(job_id)
    if job is None:
        raise JobNotFound(f"No job {job_id!r}; results are kept for a limited time.")
    if job.user_id != user_id:
        raise Forbidden("This job belongs to another user.")
    return job


MAX_WAIT_S = 60
RECHECK_S = 5.0  # a waiting request reads the job again at least this often
KEEP_ALIVE_S = 15.0
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


def _preferred_wait(prefer: str | None) -> int:
    """RFC 7240's `Prefer: wait=N`, capped at MAX_WAIT_S; 0 when absent."""
    found = _WAIT.search(prefer or "")
    if found is None:
        return 0
    digits = found.group(1).lstrip("0") or "0"
    return MAX_WAIT_S if len(digits) > 4 else min(int(digits), MAX_WAIT_S)


async def _body(state: Services, job: JobRecord) -> bytes:
    queue = await state.jobs.queue_view(job)  # nothing to read once the job has ended
    return orjson.dumps(job_body(job, queue))


@router.get("/result/{job_id}", response_model=JobResponse,
            responses={200: {"headers": {"Preference-Applied": {
                "description": "wait=N when a Prefer: wait=N was honoured",
                "schema": {"type": "string"}}}}})
async def result(
    job_id: Annotated[str, Path(max_length=64)], state: ServicesDep, caller: Caller,
    prefer: Annotated[str | None, Header(
        description="`wait=N` (RFC 7240): hold the answer until the job has ended or N "
                    f"seconds have passed (at most {MAX_WAIT_S})")] = None,
) -> Response:
    wait_s = _preferred_wait(prefer)
    # A user already holding WAITING_REQUESTS_PER_USER waits is answered at once (a
    # preference the server may decline, RFC 7240: no Preference-Applied then).
    slot = state.events.slots.take(caller.user.id) if wait_s else None
    if slot is None:
        job = await own_job(state, caller.user.id, job_id)
        return Response(await _body(state, job), media_type="application/json")
    deadline = time.monotonic() + wait_s
    try:
        async with state.events.watching(job_id) as changed:
            while True:
                changed.clear()
                job = await own_job(state, caller.user.id, job_id)
                left = deadline - time.monotonic()
                if job.status in TERMINAL or left <= 0:
                    break
                with suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(left, RECHECK_S))
    finally:
        slot.release()
    return Response(await _body(state, job), media_type="application/json",
                    headers={"Preference-Applied": f"wait={wait_s}"})


@router.get("/result/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description":
                             "A `status` event (the body of GET /result/{job_id}) at once "
                             "and on every change, `: keep-alive` every 15 s; it ends "
                             "after a terminal status."}})
async def result_events(
    job_id: Annotated[str, Path(max_length=64)], state: ServicesDep, caller: Caller,
    last_event_id: Annotated[str | None, Header(
        description="the id of the last event received, to resume")] = None,
) -> StreamingResponse:
    """The job's changes as server-sent events; each event's id is the job's version. A
    user holding WAITING_REQUESTS_PER_USER streams and long-polls already: 429."""
    user_id = caller.user.id
    await own_job(state, user_id, job_id)  # 403/404 before the stream starts
    slot = state.events.slots.take(user_id)
    if slot is None:
        raise QuotaExceeded(
            f"{state.events.slots.per_user} requests of yours are already waiting on jobs; "
            "close one (or poll) and try again.").with_headers({"Retry-After": "5"})

    async def stream(slot: WaitSlot) -> AsyncIterator[bytes]:
        try:
            sent = last_event_id
            async with state.events.watching(job_id) as changed:
                job = await state.jobs.get(job_id)  # read again once watching: nothing missed
                while True:
                    if job is None:  # expired or deleted meanwhile
                        return
                    version = f"{job.updated_at:.6f}"
                    if version != sent:
                        yield (f"id: {version}\nevent: status\ndata: ".encode()
                               + await _body(state, job) + b"\n\n")
                        sent = version
                    if job.status in TERMINAL:
                        return
                    try:
                        await asyncio.wait_for(changed.wait(), KEEP_ALIVE_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                    changed.clear()
                    job = await state.jobs.get(job_id)
        finally:
            slot.release()

    events = stream(slot)
    weakref.finalize(events, slot.release)  # a stream never started gives it back too
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/jobs", response_model=list[JobResponse],
            responses={200: {"headers": {"Link": {
                "description": 'RFC 8288: `<...?cursor=...>; rel="next"` while there are more',
                "schema": {"type": "string"}}}}})
async def list_jobs(
    request: Request, state: ServicesDep, caller: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    cursor: Annotated[str | None, Query(max_length=200, description=(
        "from the previous page's Link header"))] = None,
    status: Annotated[JobStatus | None, Query(description="only jobs in this status")] = None,
) -> Response:
    """The caller's jobs, newest first, a page at a time (a JSON list, as the integration
    guide has it); the next page's address is in the Link header."""
    try:
        after = None if cursor is None else Cursor.decode(cursor)
    except ValueError:
        raise InvalidRequest("`cursor` is not one this service gave out; take it from the "
                             "Link header of the previous page.") from None
    jobs, following = await state.jobs.list_for_user(caller.user.id, limit, after, status)
    headers = {}
    if following is not None:
        query = {"limit": limit, "cursor": following.encode(),
                 **({"status": status} if status else {})}
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return Response(orjson.dumps([job_body(job) for job in jobs]),
                    media_type="application/json", headers=headers)


@router.post("/jobs/{job_id}/cancel", response_model=JobResponse)
async def cancel(
    job_id: Annotated[str, Path(max_length=64)], state: ServicesDep, caller: Caller
) -> Response:
    """Cancel a pending or processing job: a pending job never starts and its quota is
    given back, up to CANCELED_REFUNDS_PER_DAY a day (the X-RateLimit-* headers say so); a
    processing job's result is discarded when its attempt ends. A finished job: 409 with
    its status."""
    user = caller.user
    job = await own_job(state, user.id, job_id)
    outcome = await state.jobs.cancel(job_id)
    if outcome is None:
        raise JobNotFound(f"No job {job_id!r}; results are kept for a limited time.")
    canceled, was = outcome
    if not canceled:
        raise Conflict(f"Job {job_id!r} is already {was}; only a pending or processing job "
                       "can be canceled.", status=was)
    headers = {}
    if was == "pending":  # it never started: the job is given back
        _, quota = await state.quota.refund_canceled(user.id, user.tier, job.created_at)
        headers = quota.headers()
    log.info("job %s canceled while %s", job_id, was, extra=logs.fields(job_id=job_id))
    job = await state.jobs.get(job_id) or job
    return Response(orjson.dumps(job_body(job)), media_type="application/json",
                    headers=headers)


@router.delete("/jobs/{job_id}", status_code=204, response_class=Response)
async def delete_job(
    job_id: Annotated[str, Path(max_length=64)], state: ServicesDep, caller: Caller
) -> Response:
    """The job, its photos and its result, gone now (a running job is canceled first: its
    result is discarded), and its correction unless a reviewer accepted it (then its
    embeddings are part of the reference collection). Afterwards GET /result/{job_id}
    answers 404."""
    job = await own_job(state, caller.user.id, job_id)
    await state.jobs.delete(job)
    await asyncio.to_thread(state.feedback.forget_job, job_id)
    log.info("job %s deleted while %s", job_id, job.status, extra=logs.fields(job_id=job_id))
    return Response(status_code=204)


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(state: ServicesDep) -> JSONResponse:
    checks = await state.health()
    healthy = all(value == "ok" for value in checks.values())
    failed = [f"{name}: {value}" for name, value in checks.items() if value != "ok"]
    body = Health(status="healthy" if healthy else "unhealthy", checks=checks,
                  detail="; ".join(failed) or None)
    return JSONResponse(body.model_dump(exclude_none=True), 200 if healthy else 503)
