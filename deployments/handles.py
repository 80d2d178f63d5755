"""The deployments as the rest of Paleon sees them: typed methods over Serve handles.

A deployment that cannot answer right now (its replica died or is restarting, or it sheds
load) surfaces as paleon.errors.ServiceUnavailable: a job postpones its attempt without
counting it (jobs/runner.py), a request answers 503."""

from collections.abc import Awaitable
from typing import TypeVar

import numpy as np
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.exceptions import (
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
)
from ray.serve.handle import DeploymentHandle

from paleon.errors import ServiceUnavailable
from rag.records import Embedding, Hit
from rag.result import CalibrationInfo

T = TypeVar("T")
UNAVAILABLE = (RayActorError, ActorUnavailableError, BackPressureError,
               DeploymentUnavailableError, ReplicaUnavailableError)


async def _answer(deployment: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except UNAVAILABLE as exc:
        raise ServiceUnavailable(
            f"The {deployment} is unavailable ({type(exc).__name__}); try again shortly."
        ) from exc


class ClassifierHandle:
    def __init__(self, handle: DeploymentHandle):
        self.handle = handle

    async def embed(self, image: bytes) -> Embedding:
        embedding: Embedding = await _answer("classifier", self.handle.embed.remote(image))
        return embedding


class RetrieverHandle:
    def __init__(self, handle: DeploymentHandle):
        self.handle = handle

    async def search(self, vectors: list[np.ndarray], k: int) -> list[list[Hit]]:
        hits: list[list[Hit]] = await _answer("retriever", self.handle.search.remote(vectors, k))
        return hits

    async def knowledge_documents(self, ids: list[str]) -> list[dict]:
        documents: list[dict] = await _answer("retriever",
                                              self.handle.knowledge_documents.remote(ids))
        return documents

    async def knowledge_search(self, text: str, k: int) -> list[dict]:
        hits: list[dict] = await _answer("retriever",
                                         self.handle.knowledge_search.remote(text, k))
        return hits

    async def reference_counts(self) -> dict[str, int]:
        counts: dict[str, int] = await _answer("retriever",
                                               self.handle.reference_counts.remote())
        return counts

    async def calibration(self) -> CalibrationInfo | None:
        fit: CalibrationInfo | None = await _answer("retriever",
                                                     self.handle.calibration.remote())
        return fit

    async def thumbnail(self, specimen_id: str) -> bytes | None:
        found: bytes | None = await _answer("retriever", self.handle.thumbnail.remote(
            specimen_id))
        return found

    async def add_references(self, specimens: list[dict]) -> int:
        added: int = await _answer("retriever", self.handle.add_references.remote(specimens))
        return added

    async def ping(self) -> dict:
        answer: dict = await _answer("retriever", self.handle.ping.remote())
        return answer
