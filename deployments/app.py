"""The Serve application builder: `import_path: deployments.app:build_app`."""

from typing import Any

from pydantic import BaseModel, Field
from ray.serve import Application

from configs import Settings
from deployments.classifier import VisionClassifier
from deployments.ingress import Ingress
from deployments.retriever import Retriever
from rag.encoders import ENCODERS


class AppArgs(BaseModel):
    encoder: str = "efficientnet-lite0"
    device: str = "cpu"
    torch_threads: int | None = Field(default=None, ge=1)
    # Overrides of configs.Settings; every other setting comes from each replica's environment.
    settings: dict[str, Any] = {}


def build_app(args: dict[str, Any]) -> Application:
    parsed = AppArgs.model_validate(args)
    if parsed.encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {parsed.encoder!r}; known: {sorted(ENCODERS)}")
    settings = Settings(**parsed.settings)  # fail at build time, not in every replica
    # @serve.deployment turns these classes into Deployments, but mypy keeps a decorated
    # class's own type, so it sees no `.bind`.
    classifier = VisionClassifier.bind(  # type: ignore[attr-defined]
        parsed.encoder, parsed.device, parsed.torch_threads, settings.jobs.work_priority)
    retriever = Retriever.bind(  # type: ignore[attr-defined]
        parsed.settings, ENCODERS[parsed.encoder].dim)
    return Ingress.bind(classifier, retriever, parsed.settings)  # type: ignore[attr-defined]
