"""Corrections in the SQL store: one per job, replaced while pending, then reviewed once."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from auth.models import Feedback
from jobs.record import Kept
from paleon.errors import Conflict, NotFound

STATUSES = ("pending", "accepted", "rejected")


@dataclass(frozen=True)
class Submitted:
    feedback: Feedback
    created: bool  # False: it replaced the job's pending correction


class FeedbackStore:
    def __init__(self, engine: Engine):
        self._session = sessionmaker(engine, expire_on_commit=False)

    def submit(self, *, job_id: str, user_id: str, taxon: str, comment: str | None,
               result: str, kept: Kept) -> Submitted:
        """The job's correction: a new one, or the pending one replaced (409 once it has
        been reviewed)."""
        now = datetime.now(UTC)
        with self._session() as session:
            found = session.scalar(select(Feedback).where(Feedback.job_id == job_id))
            if found is not None:
                if found.status != "pending":
                    raise Conflict(f"This job's correction was already {found.status}; it "
                                   "can no longer be changed.")
                found.taxon, found.comment, found.updated_at = taxon, comment, now
                session.commit()
                return Submitted(found, created=False)
            feedback = Feedback(job_id=job_id, user_id=user_id, taxon=taxon, comment=comment,
                                status="pending", result=result, embeddings=kept.embeddings,
                                dim=kept.dim, encoder=kept.encoder,
                                thumbnail=kept.thumbnail or None, specimens_added=0,
                                created_at=now, updated_at=now)
            session.add(feedback)
            try:
                session.commit()
            except IntegrityError:  # a concurrent first correction of the same job won
                raise Conflict("A correction of this job is being saved; try again.") from None
            return Submitted(feedback, created=True)

    def get(self, feedback_id: str) -> Feedback | None:
        with self._session() as session:
            return session.get(Feedback, feedback_id)

    def page(self, status: str | None, limit: int,
             after: Feedback | None = None) -> list[Feedback]:
        """Oldest first (a review queue), `limit` of them after `after`."""
        query = select(Feedback).order_by(Feedback.created_at, Feedback.id).limit(limit)
        if status is not None:
            query = query.where(Feedback.status == status)
        if after is not None:
            query = query.where(tuple_(Feedback.created_at, Feedback.id)
                                > tuple_(after.created_at, after.id))
        with self._session() as session:
            return list(session.scalars(query))

    def review(self, feedback_id: str, *, reviewer_id: str, status: str, taxon: str,
               specimens_added: int = 0) -> Feedback:
        """Accept or reject the correction as the reviewer saw it (`taxon`: 409 if the owner
        replaced it meanwhile). Accepting again is a no-op that answers as before; a
        rejected correction may still be accepted, an accepted one not rejected (its
        specimens are in the collection)."""
        with self._session() as session:
            feedback = session.get(Feedback, feedback_id, with_for_update=True)
            if feedback is None:
                raise NotFound(f"No correction {feedback_id!r}.")
            if feedback.taxon != taxon:
                raise Conflict("The correction was changed while it was being reviewed; "
                               "look at it again.")
            if feedback.status == "accepted" and status == "rejected":
                raise Conflict("This correction was accepted: its specimens are in the "
                               "reference collection, so it can't be rejected now.")
            if feedback.status != status:
                now = datetime.now(UTC)
                feedback.status, feedback.reviewed_by = status, reviewer_id
                feedback.reviewed_at = feedback.updated_at = now
                feedback.specimens_added = specimens_added
                session.commit()
            return feedback

    def reopen(self, feedback_id: str) -> None:
        """Back to pending: an acceptance whose specimens could not be written."""
        with self._session() as session:
            feedback = session.get(Feedback, feedback_id, with_for_update=True)
            if feedback is not None and feedback.status == "accepted":
                feedback.status, feedback.reviewed_by, feedback.reviewed_at = \
                    "pending", None, None
                feedback.specimens_added = 0
                session.commit()

    def forget_job(self, job_id: str) -> int:
        """A deleted job's correction, unless accepted (then it is part of the collection)."""
        with self._session() as session:
            found = session.scalar(select(Feedback).where(Feedback.job_id == job_id))
            if found is None or found.status == "accepted":
                return 0
            session.delete(found)
            session.commit()
            return 1
