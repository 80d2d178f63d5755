"""Retriever: nearest reference specimens in Milvus (autoscaled in serve_config.yaml)."""

import asyncio

import numpy as np
from ray import serve

from configs import Settings
from rag.specimens import SpecimenIndex, connect


@serve.deployment(
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=32,
    autoscaling_config={"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8},
)
class Retriever:
    def __init__(self, settings: dict, dim: int):
        config = Settings(**settings)
        token = config.milvus_token.get_secret_value() if config.milvus_token else ""
        self.index = SpecimenIndex(connect(config.milvus_uri, token), dim=dim)

    async def search(self, embeddings: list[np.ndarray], k: int) -> list[list[dict]]:
        return await asyncio.to_thread(self.index.search, embeddings, k)

    async def ping(self) -> dict:
        count = await asyncio.to_thread(self.index.count)
        return {"specimens": count}

    async def check_health(self) -> None:
        await asyncio.to_thread(self.index.client.list_collections)
