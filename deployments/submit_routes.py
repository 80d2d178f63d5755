"""Submitting a job: POST /classify-async/ (photos inspected, quota taken, idempotency
keys, the optional webhook), the one route that accepts uploads."""

import asyncio
import logging
import re
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, UploadFile
from fastapi.responses import JSONResponse

from auth.deps import Caller
from configs import UploadSettings
from deployments import metrics, middleware
from deployments.schemas import ClassifyAccepted
from deployments.services import ServicesDep
from jobs import uploads
from jobs.idempotency import Replay, fingerprint
from jobs.quota import QuotaState
from jobs.record import StatedContext
from paleon import logs
from paleon.errors import (
    Conflict,
    InvalidRequest,
    PaleonError,
    QuotaExceeded,
    Unprocessable,
)
from rag.geology import AGE_FORMATS, parse_age

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
    age: Annotated[str | None, Form(
        max_length=1000, description=f"The age of the rock, optional: {AGE_FORMATS}. Groups "
        "whose known range misses it are down-weighted (README, \"Context\")")] = None,
    locality: Annotated[str | None, Form(
        max_length=300, description="Where it was found (formation, place), optional: "
        "stored and echoed in the result, not interpreted")] = None,
) -> JSONResponse:
    user = caller.user
    context = _stated_context(age, locality)
    if idempotency_key is not None and not _PRINTABLE.match(idempotency_key):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    subscription = await state.webhook_targets.subscription(webhook, webhook_events_filter)
    replaying = idempotency_key is not None and \
        await state.idempotency.seen(user.id, idempotency_key) is not None
    # Peek first: a user over the limit costs no photo reading. The take below is the atomic
    # decision. (A replay is answered whatever the job quota says now; the budget of refused
    # uploads applies to every request that sends photos.)
    # Both read at once: one wait on Redis, not two (each is a wake-up on a busy CPU).
    before, refused = await asyncio.gather(state.quota.peek(user.id, user.tier),
                                           state.refused_uploads.exhausted(user.id))
    if not replaying and before.remaining == 0:
        raise _over_quota(before, user.tier)
    if refused is not None:
        raise _refused_uploads(refused, before)
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
            fields += [(name, None, value.encode()) for name, value in
                       (("age", context.age), ("locality", context.locality)) if value]
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
                                              subscription, context)
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


def _stated_context(age: str | None, locality: str | None) -> StatedContext:
    """The optional context fields, trimmed (blank is not given); an age that does not
    read as one is a 400 that says what is accepted."""
    age = " ".join(age.split()) if age else None
    locality = " ".join(locality.split()) if locality else None
    if age and len(age) > 100:
        raise InvalidRequest(f"age: at most 100 characters; give {AGE_FORMATS}.")
    if age:
        try:
            parse_age(age)
        except ValueError as exc:
            raise InvalidRequest(f"age: {exc}") from None
    if locality and not locality.isprintable():
        raise InvalidRequest("locality: use printable text (no control characters).")
    return StatedContext(age or None, locality or None)


def _refused_uploads(spent: QuotaState, before: QuotaState) -> QuotaExceeded:
    """429 before any photo is read once the day's budget of refused uploads is spent."""
    return QuotaExceeded(
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
