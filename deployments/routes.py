"""Job routes: submit photos, poll a result, list jobs; and the health check."""

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
from fastapi import APIRouter, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from auth.deps import Caller
from configs import UploadSettings
from deployments import metrics, middleware
from deployments.schemas import ClassifyAccepted, Health, JobResponse, job_body
from deployments.services import Services, ServicesDep
from jobs import uploads
from jobs.events import WaitSlot
from jobs.idempotency import Replay, fingerprint
from jobs.quota import QuotaState
from jobs.record import TERMINAL, JobRecord, JobStatus
from jobs.store import Cursor
from paleon import logs
from paleon.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    JobNotFound,
    PaleonError,
    QuotaExceeded,
    Unprocessable,
)

router = APIRouter(tags=["jobs"])
log = logging.getLogger("paleon.jobs")


async def _read_photos(files: list[UploadFile], limits: UploadSettings) -> list[bytes]:
    """The photos as uploaded, each inspected (type, size, pixels, whole) without decoding:
    the job normalises them (jobs/uploads.py), so a submission never waits behind others'
    decoding."""
    uploads.check_count(len(files), limits)
    photos = []
    for index, upload in enumerate(files):
        name = upload.filename or f"image_files[{index}]"
        uploads.check_declared(name, upload.content_type, upload.size, limits)
        data = await upload.read(limits.max_file_bytes + 1)
        uploads.inspect(name, upload.content_type, data, limits)
        photos.append(data)
    return photos


_PRINTABLE = re.compile(r"^[\x20-\x7e]{1,255}$")


def _replayed(replay: Replay, sent: str, now: QuotaState) -> JSONResponse:
    """The first answer to a key again: as given ("done"), or rebuilt from the job when its
    request ended after making it ("created"), with the quota as it stands now."""
    if replay.fingerprint != sent:
        raise Unprocessable("This Idempotency-Key was used for a different submission; use "
                            "a new key for new photos.")
    replayed = {"Idempotent-Replayed": "true"}
    if replay.state == "done" and replay.body is not None:
        return JSONResponse(replay.body, headers={**(replay.headers or {}), **replayed})
    if replay.state == "created" and replay.job_id is not None:
        body = ClassifyAccepted(job_id=replay.job_id, request_id=replay.request_id or "",
                                image_count=replay.image_count or 0,
                                rate_limit=now.body()).model_dump(mode="json")
        return JSONResponse(body, headers={**now.headers(), **replayed})
    raise Conflict("A request with this Idempotency-Key is still being accepted; try "
                   "again in a moment.")


@router.post("/classify-async/", response_model=ClassifyAccepted,
             responses={200: {"headers": {"Idempotent-Replayed": {
                 "description": "true when this is the first answer to the same "
                                "Idempotency-Key, given again", "schema": {"type": "string"}}}}})
async def classify_async(
    caller: Caller,
    state: ServicesDep,
    image_files: Annotated[list[UploadFile], File(description="1–5 photos of one specimen")] = [],  # noqa: B006
    idempotency_key: Annotated[str | None, Header(
        description="1–255 printable characters: the same user and key within 24 h get the "
                    "first answer again (charged once)")] = None,
    webhook: Annotated[str | None, Form(
        max_length=2000, description="an https URL to POST the job to, signed as the "
        "Standard Webhooks spec says (README, \"Webhooks\")")] = None,
    webhook_events_filter: Annotated[list[str], Form(
        description="`start` and/or `completed` (any terminal status); default "
                    "`completed`")] = [],  # noqa: B006
) -> JSONResponse:
    user = caller.user
    if idempotency_key is not None and not _PRINTABLE.match(idempotency_key):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    subscription = await state.webhook_targets.subscription(webhook, webhook_events_filter)
    replaying = idempotency_key is not None and \
        await state.idempotency.seen(user.id, idempotency_key) is not None
    # Peek first: a user over the limit costs no photo reading. The take below is the atomic
    # decision. (A replay is answered whatever the job quota says now; the budget of refused
    # uploads applies to every request that sends photos.)
    before = await state.quota.peek(user.id, user.tier)
    if not replaying and before.remaining == 0:
        raise _over_quota(before, user.tier)
    await _check_refused_uploads(state, user.id, before)
    request_id = middleware.request_id()
    async with state.upload_slots:  # bounds the photos held in memory
        try:
            photos = await _read_photos(image_files, state.settings.uploads)
        except PaleonError as exc:
            await state.refused_uploads.spend(user.id)
            raise exc.with_headers(before.headers()) from None
        claim = None
        if idempotency_key is not None:
            fields: list[tuple[str, str | None, bytes]] = [] if subscription is None else [
                ("webhook", None, subscription.url.encode()),
                ("webhook_events_filter", None, " ".join(subscription.events).encode())]
            sent = fingerprint([(upload.filename or "", upload.content_type, data)
                                for upload, data in zip(image_files, photos, strict=True)]
                               + fields)
            held = await state.idempotency.begin(user.id, idempotency_key, sent)
            if isinstance(held, Replay):
                return _replayed(held, sent, before)
            claim = held
        try:
            accepted, quota = await state.quota.take(user.id, user.tier)
            if not accepted:
                raise _over_quota(quota, user.tier)
            try:
                job = await state.jobs.create(user.id, photos, request_id, claim,
                                              subscription)
            except Exception:
                await state.quota.refund(user.id, quota)
                raise
        except BaseException:
            if claim is not None:  # a no-op if the job was made after all
                await state.idempotency.abandon(claim)
            raise
    state.reaper.launch(job.job_id, job.attempt)
    metrics.ingress()["submitted"].inc(tags={"tier": user.tier})
    log.info("job %s submitted with %d photo(s)", job.job_id, len(photos),
             extra=logs.fields(job_id=job.job_id))
    body = ClassifyAccepted(job_id=job.job_id, request_id=request_id,
                            image_count=len(photos), rate_limit=quota.body()).model_dump(
                                mode="json")
    if claim is not None:
        await state.idempotency.finish(claim, body, quota.headers())
    return JSONResponse(body, headers=quota.headers())


async def _check_refused_uploads(state: Services, user_id: str, before: QuotaState) -> None:
    """429 before any photo is read once the day's budget of refused uploads is spent."""
    spent = await state.refused_uploads.exhausted(user_id)
    if spent is not None:
        raise QuotaExceeded(
            f"{spent.limit} uploads were refused today; uploads are refused until "
            f"{spent.body()['reset_at']}.", rate_limit=before.body(),
        ).with_headers({**before.headers(), "Retry-After": str(spent.retry_after())})


def _over_quota(quota: QuotaState, tier: str) -> QuotaExceeded:
    metrics.ingress()["quota_refusals"].inc(tags={"tier": tier})
    error = QuotaExceeded(
        f"Daily limit of {quota.limit} jobs for the {tier!r} tier reached; "
        f"it resets at {quota.body()['reset_at']}.",
        rate_limit=quota.body(),
    )
    return error.with_headers({**quota.headers(), "Retry-After": str(quota.retry_after())})


async def _own_job(state: Services, user_id: str, job_id: str) -> JobRecord:
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
        job = await _own_job(state, caller.user.id, job_id)
        return Response(await _body(state, job), media_type="application/json")
    deadline = time.monotonic() + wait_s
    try:
        async with state.events.watching(job_id) as changed:
            while True:
                changed.clear()
                job = await _own_job(state, caller.user.id, job_id)
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
    await _own_job(state, user_id, job_id)  # 403/404 before the stream starts
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
    job = await _own_job(state, user.id, job_id)
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
    result is discarded). Afterwards GET /result/{job_id} answers 404."""
    job = await _own_job(state, caller.user.id, job_id)
    await state.jobs.delete(job)
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
