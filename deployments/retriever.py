"""Retriever: nearest reference specimens and knowledge entries in Milvus (autoscaled).

It only reads. The knowledge collection is written by `rag.knowledge.index.sync_knowledge`,
once per deploy or ingest; until then knowledge searches answer nothing.

There is no check_health: all a replica depends on is Milvus, and a Milvus outage is for
/health to report (the Ingress asks ping()). Restarting replicas would not end an outage,
and the client reconnects by itself once Milvus is back.
"""

import asyncio
import time

import numpy as np
from ray import serve

from configs import Settings
from deployments import metrics
from paleon import logs
from rag.knowledge.index import KnowledgeIndex
from rag.records import Hit
from rag.specimens import SpecimenIndex, connect
from rag.text import MiniLMTextEncoder


@serve.deployment(
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=32,
    autoscaling_config={"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 8},
)
class Retriever:
    def __init__(self, settings: dict, dim: int):
        logs.configure_replica()
        config = Settings(**settings)
        client = connect(config.milvus_uri, config.milvus_token_value)
        self.index = SpecimenIndex(client, dim=dim)
        self.knowledge = KnowledgeIndex(client, MiniLMTextEncoder())

    async def search(self, vectors: list[np.ndarray], k: int) -> list[list[Hit]]:
        started = time.perf_counter()
        hits = await asyncio.to_thread(self.index.search, vectors, k)
        metrics.retrieval_latency_ms().observe((time.perf_counter() - started) * 1000)
        return hits

    async def knowledge_documents(self, ids: list[str]) -> list[dict]:
        return await asyncio.to_thread(self.knowledge.by_ids, ids)

    async def knowledge_search(self, text: str, k: int) -> list[dict]:
        return await asyncio.to_thread(self.knowledge.search, text, k)

    async def ping(self) -> dict:
        count = await asyncio.to_thread(self.index.count)
        return {"specimens": count}
