"""VisionClassifier: batched image encoding on one replica's model."""

import asyncio

from ray import serve

from deployments import metrics
from paleon import logs
from paleon.priority import WorkPriority, lower_priority
from rag.encoders import build_encoder
from rag.records import Embedding


@serve.deployment(
    ray_actor_options={"num_cpus": 1},
    max_ongoing_requests=64,  # well above the batch size, or batches never fill
    user_config={"max_batch_size": 8, "batch_wait_timeout_s": 0.01},
)
class VisionClassifier:
    def __init__(self, encoder: str = "efficientnet-lite0", device: str = "cpu",
                 threads: int | None = None, priority: WorkPriority | None = None):
        logs.configure_replica()
        # A job's work: it yields the CPU to requests (JobSettings.work_scheduling).
        lower_priority(priority or WorkPriority())
        # None keeps torch's default, which follows the OMP_NUM_THREADS that Ray derives from
        # the replica's num_cpus. More threads than reserved cores spin against the other
        # replicas: on 2 cores, 2 threads served ~25 % fewer images/s than 1 (docs/benchmarks.md).
        self.encoder = build_encoder(encoder, device=device, threads=threads)

    def reconfigure(self, config: dict) -> None:
        # Ray types @serve.batch methods as plain callables, without their batch settings.
        self.embed.set_max_batch_size(  # type: ignore[attr-defined]
            int(config.get("max_batch_size", 8)))
        self.embed.set_batch_wait_timeout_s(  # type: ignore[attr-defined]
            float(config.get("batch_wait_timeout_s", 0.01)))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def embed(self, images: list[bytes]) -> list[Embedding]:
        metrics.classifier_batch_size().observe(len(images))
        return await asyncio.to_thread(self.encoder.encode, images)

    def info(self) -> dict:
        return {
            "encoder": self.encoder.name,
            "dim": self.encoder.dim,
            # Ray types @serve.batch methods as plain callables, without their batch settings.
            "max_batch_size": self.embed._get_max_batch_size(),  # type: ignore[attr-defined]
        }
