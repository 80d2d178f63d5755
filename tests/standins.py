"""Stand-ins for the deployment handles, for the API and the job runner run in-process.

Everything else the in-process app uses is real: Redis, the SQL store, the job store, the
runner, evidence fusion. These answer like an empty specimens collection would.
"""

import asyncio

import numpy as np

from rag.records import Embedding, Hit

DIM = 8


class StandInClassifier:
    def __init__(self) -> None:
        self.embedded = 0

    async def embed(self, image: bytes) -> Embedding:
        self.embedded += 1
        vector = np.zeros(DIM, dtype=np.float32)
        vector[len(image) % DIM] = 1.0
        return Embedding(vector=vector, top_classes=[], encoder="stand-in")


class StandInRetrieval:
    """Search finds what it was given (`hits`), by default nothing."""

    def __init__(self, hits: list[Hit] | None = None, fail: Exception | None = None,
                 fit=None):
        self.hits = hits or []
        self.fail = fail
        self.fit = fit  # the collection's stored calibration (None: the defaults)
        self.searched = 0

    async def search(self, vectors: list[np.ndarray], k: int) -> list[list[Hit]]:
        self.searched += 1
        if self.fail is not None:
            raise self.fail
        return [list(self.hits[:k]) for _ in vectors]

    async def knowledge_documents(self, ids: list[str]) -> list[dict]:
        return []

    async def knowledge_search(self, text: str, k: int) -> list[dict]:
        return []

    async def add_references(self, specimens: list[dict]) -> int:
        return 0

    async def thumbnail(self, specimen_id: str) -> bytes | None:
        return None

    async def calibration(self):
        return self.fit

    async def reference_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for hit in self.hits:
            counts[hit.label] = counts.get(hit.label, 0) + 1
        return counts

    async def ping(self) -> dict:
        await asyncio.sleep(0)
        return {"specimens": len(self.hits)}
