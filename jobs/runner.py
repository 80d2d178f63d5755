"""One attempt of one job: claim → identify → complete, or give up with a reason.

The runner knows its collaborators only by what they do (the protocols below): on Ray they
are deployment handles (deployments/job_workers.py), in tests anything with the same methods.
"""

import asyncio
import json
import logging
import os
import time
from typing import Protocol

import numpy as np
from PIL import Image

from configs import Calibration, JobTaskSettings
from jobs import uploads
from jobs.record import Kept, StatedContext
from jobs.store import JobStore
from paleon import logs
from paleon.errors import InvalidRequest, ServiceUnavailable
from rag import pipeline, thumbnails
from rag.fusion import per_entry
from rag.geology import parse_age
from rag.knowledge import KnowledgeBase
from rag.records import Embedding, Hit
from rag.result import CalibrationInfo
from rag.vision_model import VisionModel

log = logging.getLogger("paleon.jobs")
REFERENCE_COUNTS_TTL_S = 60.0
CALIBRATION_TTL_S = 15.0


class Classifier(Protocol):
    async def embed(self, image: bytes) -> Embedding: ...


class Retrieval(Protocol):
    async def search(self, vectors: list[np.ndarray], k: int) -> list[list[Hit]]: ...

    async def knowledge_documents(self, ids: list[str]) -> list[dict]: ...

    async def reference_counts(self) -> dict[str, int]: ...

    async def calibration(self) -> CalibrationInfo | None: ...


class AttemptMetrics(Protocol):
    def started(self, queue_wait_s: float) -> None: ...

    def finished(self, status: str, seconds: float) -> None: ...


class _NoMetrics:
    def started(self, queue_wait_s: float) -> None:
        pass

    def finished(self, status: str, seconds: float) -> None:
        pass


def vision_model(settings: JobTaskSettings) -> VisionModel | None:
    openai = settings.openai
    if openai.api_key is None:
        return None
    return VisionModel(openai.api_key.get_secret_value(), openai.base_url, openai.model,
                       openai.timeout_s, openai.max_retries, openai.image_side)


class _Superseded(Exception):
    """The attempt is no longer the job's own (canceled, deleted, retried elsewhere)."""


class JobRunner:
    def __init__(self, store: JobStore, classifier: Classifier, retrieval: Retrieval,
                 settings: JobTaskSettings, kb: KnowledgeBase,
                 metrics: AttemptMetrics | None = None):
        self.store = store
        self.classifier = classifier
        self.retrieval = retrieval
        self.settings = settings
        self.kb = kb
        self.vision = vision_model(settings)
        self.metrics = metrics or _NoMetrics()
        self.worker_pid = os.getpid()
        self._counts: dict[str, int] | None = None
        self._counted_at = 0.0
        self._fit: CalibrationInfo | None = None
        self._fit_read_at = -CALIBRATION_TTL_S

    async def run(self, job_id: str, attempt: int) -> None:
        created = await self.store.claim(job_id, attempt, self.worker_pid)
        if created is None:
            return  # finished, failed or retried by someone else meanwhile
        context = logs.fields(job_id=job_id, attempt=attempt)
        self.metrics.started(max(time.time() - created, 0.0))
        log.info("job %s attempt %d started", job_id, attempt, extra=context)
        started = time.perf_counter()
        limit_s = self.settings.jobs.processing_timeout_s
        try:
            # Bounded like the claim's deadline: a stuck attempt frees its worker and cancels
            # its queued deployment requests instead of adding load when the reaper retries.
            result = await asyncio.wait_for(self._identify(job_id, attempt, started), limit_s)
        except _Superseded:
            log.info("job %s attempt %d stopped: the job moved on without it", job_id,
                     attempt, extra=context)
            self.metrics.finished("superseded", time.perf_counter() - started)
            return
        except ServiceUnavailable as exc:  # a deployment restarting: not the job's fault
            log.warning("job %s attempt %d postponed: %s", job_id, attempt, exc.detail,
                        extra=context)
            await self.store.hand_back(job_id, attempt, "a deployment was unavailable",
                                       self.settings.jobs.unavailable_retry_s)
            self.metrics.finished("postponed", time.perf_counter() - started)
            return
        except InvalidRequest as exc:  # a photo that passed inspection but does not decode
            log.info("job %s refused: %s", job_id, exc, extra=context)
            await self.store.refuse(job_id, attempt, str(exc))
            self.metrics.finished("failed", time.perf_counter() - started)
            return
        except Exception as exc:
            log.exception("job %s attempt %d failed", job_id, attempt, extra=context)
            # The user sees this: the kind of failure, never remote tracebacks or paths.
            reason = ("classification timed out" if isinstance(exc, TimeoutError)
                      else f"classification failed ({type(exc).__name__})")
            await self.store.give_up(job_id, attempt, reason)
            self.metrics.finished("failed", time.perf_counter() - started)
            return
        seconds = time.perf_counter() - started
        identification, kept = result
        # Kept first: a client told "completed" may send a correction at once.
        await self.store.keep(job_id, kept)
        if await self.store.complete(job_id, attempt, json.dumps(identification), seconds):
            self.metrics.finished("completed", seconds)
            log.info("job %s attempt %d completed in %.2f s", job_id, attempt, seconds,
                     extra=context)
        else:  # canceled or deleted meanwhile (a retry that completed keeps its own)
            await self.store.drop_kept_unless_completed(job_id)

    async def _identify(self, job_id: str, attempt: int, started: float) -> tuple[dict, Kept]:
        images, context, first = await self._normalised_photos(job_id, attempt)
        # The thumbnail came with the normalisation; a retry (photos stored normalised
        # already) makes it from the stored photo, meanwhile.
        encoded, small = await asyncio.gather(
            asyncio.gather(*(self.classifier.embed(image) for image in images)),
            asyncio.to_thread(thumbnails.make, images[0]) if first is None
            else asyncio.sleep(0, first))
        hits = await self.retrieval.search([e.vector for e in encoded], self.settings.top_k)
        remaining_s = self.settings.jobs.processing_timeout_s - (time.perf_counter() - started)
        kept = Kept(np.stack([e.vector for e in encoded]).astype(np.float32).tobytes(),
                    int(encoded[0].vector.shape[0]), encoded[0].encoder, small)
        identification = await pipeline.identify(
            images, list(encoded), hits, kb=self.kb, cal=await self._calibration(),
            documents=self.retrieval.knowledge_documents, vision=self.vision,
            age=parse_age(context.age) if context.age else None, locality=context.locality,
            references=await self._reference_counts(),
            # What is left of the attempt, less a margin to store the result.
            vision_budget_s=max(0.1, remaining_s - 1.0))
        return identification, kept

    async def _calibration(self) -> Calibration | CalibrationInfo:
        """The fit stored with the collection, asked at most every CALIBRATION_TTL_S; the
        settings' defaults while there is none. The last fit read stays while the Retriever
        cannot say."""
        now = time.monotonic()
        if now - self._fit_read_at > CALIBRATION_TTL_S:
            try:
                self._fit = await self.retrieval.calibration()
                self._fit_read_at = now
            except Exception as exc:  # a fit that can't be read: never the job's end
                log.warning("calibration unavailable (%s)", type(exc).__name__)
        if self._fit is None:
            return self.settings.calibration
        # Only what the fit fits comes from it; the rest are this deployment's settings.
        return self._fit.model_copy(update={
            "parameters": self.settings.calibration.with_fit(self._fit.parameters)})

    async def _reference_counts(self) -> dict[str, int] | None:
        """Reference specimens per knowledge-base id, asked of the Retriever at most once a
        minute per worker (a count that lags an ingest by a minute is fine for a warning);
        None while it cannot say."""
        now = time.monotonic()
        if self._counts is None or now - self._counted_at > REFERENCE_COUNTS_TTL_S:
            try:
                labels = await self.retrieval.reference_counts()
            except Exception as exc:  # it only feeds a warning: never the job's end
                log.warning("reference counts unavailable (%s)", type(exc).__name__)
                return self._counts
            self._counts, self._counted_at = per_entry(self.kb, labels), now
        return self._counts

    async def _normalised_photos(self, job_id: str, attempt: int
                                 ) -> tuple[list[bytes], StatedContext, bytes | None]:
        """The job's photos, normalised by the first attempt that gets them (the Ingress
        stores them as uploaded, so that accepting a job never waits behind decoding); the
        normalised copies replace the uploads, for the vision model and for retries."""
        images, normalised, context = await self.store.photos(job_id)
        if not images:
            raise RuntimeError("the job's photos are no longer stored")
        if normalised:
            return images, context, None
        limits = self.settings.uploads
        small: list[bytes] = []

        def normalise_all() -> list[bytes]:
            def keep_thumbnail(picture: Image.Image) -> None:
                small.append(thumbnails.from_image(picture))

            return [uploads.prepare(index, data, limits, keep_thumbnail if index == 0 else None)
                    for index, data in enumerate(images)]

        images = await asyncio.to_thread(normalise_all)
        if not await self.store.normalised(job_id, attempt, images):
            raise _Superseded  # no work for the deployments on a job that went on
        return images, context, small[0]
