"""Corrections: a job's owner says what the specimen really is; a reviewer accepts it into
the reference collection (its embeddings become specimens) or rejects it."""

import asyncio
import base64
import json
import logging
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from auth.deps import Caller, Reviewer
from auth.models import Feedback
from deployments.routes import own_job
from deployments.services import Services, ServicesDep
from feedback import taxa
from paleon import logs
from paleon.errors import Conflict, InvalidRequest, NotFound
from rag.knowledge import load_knowledge

router = APIRouter(tags=["feedback"])
log = logging.getLogger("paleon.feedback")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taxon: str = Field(min_length=1, max_length=100, description="What the specimen is: a "
                       "knowledge-base id, name or alias, or `not_a_fossil`")
    comment: str | None = Field(None, max_length=1000)


class FeedbackOut(BaseModel):
    id: str
    job_id: str
    status: Literal["pending", "accepted", "rejected"]
    taxon_id: str = Field(description="The knowledge-base id, or `not_a_fossil`")
    taxon: str = Field(description="Its display name")
    comment: str | None = None
    created_at: datetime
    reviewed_at: datetime | None = None
    specimens_added: int = Field(description="Reference specimens the acceptance added")


class FeedbackForReview(FeedbackOut):
    user_id: str
    thumbnail: str | None = Field(description="The job's first photo, 256 px WebP, as a "
                                  "data: URL")
    result: dict = Field(description="The identification the user corrected, as it was")


class FeedbackPage(BaseModel):
    items: list[FeedbackForReview]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


def _out(feedback: Feedback) -> dict:
    entry = load_knowledge().by_id.get(feedback.taxon)
    return dict(id=feedback.id, job_id=feedback.job_id, status=feedback.status,
                taxon_id=feedback.taxon, taxon=entry.name if entry else "not a fossil",
                comment=feedback.comment, created_at=feedback.created_at,
                reviewed_at=feedback.reviewed_at, specimens_added=feedback.specimens_added)


def _for_review(feedback: Feedback) -> FeedbackForReview:
    thumbnail = None if not feedback.thumbnail else \
        "data:image/webp;base64," + base64.b64encode(feedback.thumbnail).decode()
    return FeedbackForReview(**_out(feedback), user_id=feedback.user_id, thumbnail=thumbnail,
                             result=json.loads(feedback.result))


@router.post("/result/{job_id}/feedback", response_model=FeedbackOut, status_code=201,
             responses={200: {"model": FeedbackOut,
                              "description": "The job's pending correction, replaced"}})
async def submit_feedback(
    job_id: Annotated[str, Path(max_length=64)], body: FeedbackIn, state: ServicesDep,
    caller: Caller,
) -> JSONResponse:
    """Say what the specimen of a completed job really is. Once per job: while a reviewer
    has not looked at it, a second correction replaces the first (200)."""
    job = await own_job(state, caller.user.id, job_id)
    if job.status != "completed" or job.result is None:
        raise Conflict(f"Job {job_id!r} is {job.status}; only a completed identification "
                       "can be corrected.", status=job.status)
    taxon = taxa.resolve(load_knowledge(), body.taxon)
    kept = await state.jobs.kept(job_id)
    if kept is None:
        raise Conflict(f"Job {job_id!r} kept nothing to learn from (it finished before "
                       "corrections were kept); submit the photos again to correct them.")
    comment = body.comment.strip() if body.comment and body.comment.strip() else None
    submitted = await asyncio.to_thread(
        state.feedback.submit, job_id=job_id, user_id=caller.user.id, taxon=taxon,
        comment=comment, result=job.result, kept=kept)
    log.info("correction %s of job %s: %s", submitted.feedback.id, job_id, taxon,
             extra=logs.fields(job_id=job_id))
    return JSONResponse(FeedbackOut(**_out(submitted.feedback)).model_dump(mode="json"),
                        status_code=201 if submitted.created else 200)


@router.get("/feedback", response_model=FeedbackPage)
async def review_queue(
    state: ServicesDep, caller: Reviewer,
    status: Annotated[Literal["pending", "accepted", "rejected"] | None, Query(
        description="only corrections in this status")] = "pending",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64, description="`next_cursor` of the "
                                        "previous page")] = None,
) -> FeedbackPage:
    """Corrections for a reviewer, oldest first, with the photo and the original result."""
    after = None
    if cursor is not None:
        after = await asyncio.to_thread(state.feedback.get, cursor)
        if after is None:
            raise InvalidRequest("`cursor` is not one this service gave out; take it from "
                                 "`next_cursor` of the previous page.")
    items = await asyncio.to_thread(state.feedback.page, status, limit + 1, after)
    more = len(items) > limit
    items = items[:limit]
    return FeedbackPage(items=[_for_review(f) for f in items],
                        next_cursor=items[-1].id if more else None)


async def _found(state: Services, feedback_id: str) -> Feedback:
    feedback = await asyncio.to_thread(state.feedback.get, feedback_id)
    if feedback is None:
        raise NotFound(f"No correction {feedback_id!r}.")
    return feedback


@router.post("/feedback/{feedback_id}/accept", response_model=FeedbackForReview)
async def accept(
    feedback_id: Annotated[str, Path(max_length=64)], state: ServicesDep, caller: Reviewer,
) -> FeedbackForReview:
    """Add the job's photos (their embeddings) to the reference collection under the
    corrected group, `source: feedback:<id>`; accepting again adds nothing more. A
    `not_a_fossil` correction adds no specimens: the open set already stands for them."""
    feedback = await _found(state, feedback_id)
    specimens = [] if feedback.taxon == taxa.NOT_A_FOSSIL else _specimens(feedback)
    # Accepted first (the row locked, the taxon as the reviewer saw it): the owner can no
    # longer change it while its specimens are written; if they can't be, it is pending
    # again.
    reviewed = await asyncio.to_thread(
        state.feedback.review, feedback.id, reviewer_id=caller.user.id, status="accepted",
        taxon=feedback.taxon, specimens_added=len(specimens))
    if specimens:
        try:
            await state.retrieval.add_references(specimens)
        except BaseException:
            await asyncio.to_thread(state.feedback.reopen, feedback.id)
            raise
    log.info("correction %s accepted: %d specimen(s) of %s", feedback.id, len(specimens),
             feedback.taxon)
    return _for_review(reviewed)


def _specimens(feedback: Feedback) -> list[dict]:
    vectors = np.frombuffer(feedback.embeddings, dtype=np.float32).reshape(-1, feedback.dim)
    return [{"id": f"feedback-{feedback.id}-{i}", "label": feedback.taxon,
             "source": f"feedback:{feedback.id}", "specimen": f"feedback:{feedback.id}",
             "vector": vector,
             "thumbnail": feedback.thumbnail if i == 0 else None}
            for i, vector in enumerate(vectors)]


@router.post("/feedback/{feedback_id}/reject", response_model=FeedbackForReview)
async def reject(
    feedback_id: Annotated[str, Path(max_length=64)], state: ServicesDep, caller: Reviewer,
) -> FeedbackForReview:
    """Keep the correction out of the reference collection (it may still be accepted
    later; an accepted one can't be rejected: 409)."""
    feedback = await _found(state, feedback_id)
    reviewed = await asyncio.to_thread(state.feedback.review, feedback.id,
                                       reviewer_id=caller.user.id, status="rejected",
                                       taxon=feedback.taxon)
    log.info("correction %s rejected", feedback.id)
    return _for_review(reviewed)
