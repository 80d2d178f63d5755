"""The deployments as the rest of Paleon sees them: typed methods over Serve handles."""

import numpy as np
from ray.serve.handle import DeploymentHandle

from rag.records import Embedding, Hit


class ClassifierHandle:
    def __init__(self, handle: DeploymentHandle):
        self.handle = handle

    async def embed(self, image: bytes) -> Embedding:
        embedding: Embedding = await self.handle.embed.remote(image)
        return embedding


class RetrieverHandle:
    def __init__(self, handle: DeploymentHandle):
        self.handle = handle

    async def search(self, vectors: list[np.ndarray], k: int) -> list[list[Hit]]:
        hits: list[list[Hit]] = await self.handle.search.remote(vectors, k)
        return hits

    async def knowledge_documents(self, ids: list[str]) -> list[dict]:
        documents: list[dict] = await self.handle.knowledge_documents.remote(ids)
        return documents

    async def knowledge_search(self, text: str, k: int) -> list[dict]:
        hits: list[dict] = await self.handle.knowledge_search.remote(text, k)
        return hits

    async def ping(self) -> dict:
        answer: dict = await self.handle.ping.remote()
        return answer
