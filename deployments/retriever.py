"""Retriever: nearest reference specimens and knowledge entries in Milvus (autoscaled).

It reads, and writes only what a reviewer accepts (a correction's embeddings, as
specimens). The knowledge collection is written by `rag.knowledge.index.sync_knowledge`,
once per deploy or ingest; until then knowledge searches answer nothing.

There is no check_health: all a replica depends on is Milvus, and a Milvus outage is for
/health to report (the Ingress asks ping()). Restarting replicas would not end an outage,
and the client reconnects by itself once Milvus is back.
"""

import asyncio
import logging
import time

import numpy as np
from ray import serve

from configs import Settings
from deployments import metrics
from paleon import logs
from paleon.errors import Conflict
from paleon.priority import lower_priority
from rag.calibrate.store import CalibrationStore
from rag.knowledge.index import KnowledgeIndex
from rag.records import Hit
from rag.result import CalibrationInfo
from rag.specimens import Specimen, SpecimenIndex, connect
from rag.text import MiniLMTextEncoder
from rag.thumbnail_store import ThumbnailStore

log = logging.getLogger("paleon.retriever")
COUNTS_TTL_S = 30.0
CALIBRATION_TTL_S = 15.0  # a new fit answers within this (and the job workers' own TTL)


@serve.deployment(
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=32,
    autoscaling_config={"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 8},
)
class Retriever:
    def __init__(self, settings: dict, dim: int):
        logs.configure_replica()
        config = Settings(**settings)
        lower_priority(config.jobs.work_priority)  # a job's work: requests go first
        client = connect(config.milvus_uri, config.milvus_token_value)
        self.index = SpecimenIndex(client, dim=dim)
        self.knowledge = KnowledgeIndex(client, MiniLMTextEncoder())
        self.thumbnails = ThumbnailStore(client)
        self.fits = CalibrationStore(client, self.index.collection)
        self._counts: dict[str, int] | None = None
        self._counted_at = 0.0
        self._fit: CalibrationInfo | None = None
        self._fit_read_at = -CALIBRATION_TTL_S

    async def search(self, vectors: list[np.ndarray], k: int) -> list[list[Hit]]:
        started = time.perf_counter()
        hits = await asyncio.to_thread(self.index.search, vectors, k)
        metrics.retrieval_latency_ms().observe((time.perf_counter() - started) * 1000)
        return hits

    async def knowledge_documents(self, ids: list[str]) -> list[dict]:
        return await asyncio.to_thread(self.knowledge.by_ids, ids)

    async def knowledge_search(self, text: str, k: int) -> list[dict]:
        return await asyncio.to_thread(self.knowledge.search, text, k)

    async def reference_counts(self) -> dict[str, int]:
        """Reference specimens per gallery label, counted at most every COUNTS_TTL_S."""
        now = time.monotonic()
        if self._counts is None or now - self._counted_at > COUNTS_TTL_S:
            self._counts = await asyncio.to_thread(self.index.label_counts)
            self._counted_at = now
        return self._counts

    async def calibration(self) -> CalibrationInfo | None:
        """The collection's current fit (None: the settings' defaults answer), read at most
        every CALIBRATION_TTL_S: `paleon calibrate` needs no restart."""
        now = time.monotonic()
        if now - self._fit_read_at > CALIBRATION_TTL_S:
            self._fit = await asyncio.to_thread(self.fits.current)
            self._fit_read_at = now
        return self._fit

    async def thumbnail(self, specimen_id: str) -> bytes | None:
        return await asyncio.to_thread(self.thumbnails.get, specimen_id)

    async def add_references(self, specimens: list[dict]) -> int:
        """Upsert these specimens (id, label, source, vector, optional thumbnail): by id, so
        adding the same ones again changes nothing. Searchable at once."""
        rows = [Specimen(s["id"], s["label"], s["source"], np.asarray(s["vector"]),
                         s.get("specimen", "")) for s in specimens]
        if any(row.embedding.shape != (self.index.dim,) for row in rows):
            raise Conflict(f"These embeddings are not of this service's encoder "
                           f"({self.index.dim} dimensions); the photos must be identified "
                           "again with it.")
        pictures = {s["id"]: s["thumbnail"] for s in specimens if s.get("thumbnail")}

        def write() -> int:
            self.index.create()
            added = self.index.insert(rows)
            self.thumbnails.put(pictures)
            if added:
                self._mark_fit_stale(added)
            return added

        added = await asyncio.to_thread(write)
        self._counts = None
        self._fit_read_at = -CALIBRATION_TTL_S
        return added

    def _mark_fit_stale(self, added: int) -> None:
        """The fit was made on the collection as it was: say so until a refit. Only a note:
        the references are in, and a failure here must not undo their acceptance."""
        try:
            self.fits.mark_stale(f"{added} reference photo(s) added by an accepted "
                                 "correction since the fit; run `paleon calibrate`")
        except Exception as exc:
            log.warning("the calibration could not be marked stale (%s)", type(exc).__name__)

    async def ping(self) -> dict:
        count = await asyncio.to_thread(self.index.count)
        return {"specimens": count}
