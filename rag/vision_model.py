"""The optional generator: an OpenAI-compatible vision model reasons over the evidence.

The photos (downscaled, as data URLs), the retrieval evidence and the knowledge documents
go in; a JSON answer constrained by a JSON schema comes back and is validated with pydantic.
The named taxon must be a knowledge-base entry. Any failure leaves the local result standing,
with a warning that says what went wrong (never the key, never the provider's message body).
"""

import asyncio
import base64
import io
import json
import logging
from typing import TYPE_CHECKING

from PIL import Image
from pydantic import BaseModel, Field, ValidationError, field_validator

from configs.calibration import Calibration
from rag import notices
from rag.compose import from_entry
from rag.knowledge import KnowledgeBase
from rag.records import NoticeCode
from rag.result import IdentificationResult

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionContentPartParam

log = logging.getLogger("paleon.vision_model")
# The SDK's DEBUG records carry whole requests (the photos as base64): never below INFO.
logging.getLogger("openai").setLevel(max(logging.INFO, logging.getLogger("openai").level))

SYSTEM = (
    "You are a paleontologist identifying a fossil from 1-5 photos of one specimen. "
    "Reference-collection evidence and knowledge-base entries are given; use them, and "
    "answer with the knowledge-base id of the group the specimen belongs to. "
    "Pseudofossil entries (concretions, dendrites, ...) are valid answers when the object is "
    "not a fossil. Confidence is your probability that the id is right."
)


class VisionAnswer(BaseModel):
    taxon_id: str = Field(max_length=64)
    confidence: float = Field(ge=0, le=1)
    rationale: str
    observed_features: list[str] = []

    @field_validator("rationale")
    @classmethod
    def _short_rationale(cls, text: str) -> str:
        return text[:2000]  # a long answer is still an answer: keep its start

    @field_validator("observed_features")
    @classmethod
    def _few_features(cls, features: list[str]) -> list[str]:
        return [feature[:200] for feature in features[:12]]


class VisionModelError(Exception):
    """The vision model gave no usable answer; the message is safe to show a user."""


def answer_schema(kb: KnowledgeBase) -> dict:
    """Structured-output schema (strict mode: every property required, nothing extra)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["taxon_id", "confidence", "rationale", "observed_features"],
        "properties": {
            "taxon_id": {"type": "string", "enum": sorted(kb.by_id)},
            "confidence": {"type": "number"},
            "rationale": {"type": "string"},
            "observed_features": {"type": "array", "items": {"type": "string"}},
        },
    }


def data_url(image: bytes, side: int) -> str:
    with Image.open(io.BytesIO(image)) as photo:
        rgb = photo.convert("RGB")
        rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        rgb.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def evidence_text(local: IdentificationResult, documents: list[dict]) -> str:
    candidates = "\n".join(f"- {c.taxon_id or c.taxon}: {c.confidence:.2f}"
                           for c in local.candidates) or "- none"
    similar = "\n".join(f"- {s.label} (similarity {s.score:.2f})"
                        for s in local.similar_specimens[:8]) or "- none"
    knowledge = "\n".join(f"[{d['id']}] {d['document']}" for d in documents)
    return (f"Retrieval candidates (calibrated confidence):\n{candidates}\n\n"
            f"Most similar reference specimens:\n{similar}\n\n"
            f"Retrieval's answer: {local.identification.status} "
            f"{local.identification.taxon_id or local.identification.taxon or ''}\n\n"
            f"Knowledge-base entries:\n{knowledge}")


class VisionModel:
    """One client per process: the SDK retries 429, 5xx and timeouts with backoff."""

    def __init__(self, api_key: str, base_url: str, model: str, timeout_s: float,
                 max_retries: int, image_side: int):
        # Imported here: a job worker without a vision model configured never loads the SDK
        # (about 30 MB), nor does the Ingress that starts the workers.
        import openai

        self._errors = openai
        self.model = model
        self.image_side = image_side
        self.client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url,
                                         timeout=timeout_s, max_retries=max_retries)

    async def answer(self, images: list[bytes], local: IdentificationResult,
                     documents: list[dict], kb: KnowledgeBase) -> VisionAnswer:
        urls = await asyncio.to_thread(lambda: [data_url(i, self.image_side) for i in images])
        content: list[ChatCompletionContentPartParam] = [
            {"type": "text", "text": evidence_text(local, documents)}]
        content += [{"type": "image_url", "image_url": {"url": url, "detail": "auto"}}
                    for url in urls]
        try:
            response = await self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": content}],
                response_format={"type": "json_schema", "json_schema": {
                    "name": "fossil_identification", "strict": True,
                    "schema": answer_schema(kb)}},
                temperature=0,
            )
        except self._errors.APITimeoutError as exc:
            raise VisionModelError("the vision model timed out") from exc
        except self._errors.APIStatusError as exc:
            raise VisionModelError(f"the vision model answered HTTP {exc.status_code}") from exc
        except self._errors.APIError as exc:  # connection errors, unparseable responses
            raise VisionModelError(f"the vision model was unreachable ({type(exc).__name__})"
                                   ) from exc
        message = response.choices[0].message if response.choices else None
        text = message.content if message is not None else None
        try:
            return VisionAnswer.model_validate(json.loads(text or ""))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise VisionModelError("the vision model's answer did not match the schema") from exc


def refine(local: IdentificationResult, answer: VisionAnswer, kb: KnowledgeBase,
           cal: Calibration) -> IdentificationResult:
    """The vision model's pick, grounded in its knowledge-base entry, when it is confident
    enough (`vision_threshold`: its confidence is self-reported, so the threshold fitted to
    retrieval's does not apply); otherwise the local result stands."""
    entry = kb.by_id.get(answer.taxon_id)
    if entry is None:
        raise VisionModelError(f"the vision model named {answer.taxon_id[:64]!r}, which is not "
                               "in the knowledge base")
    if answer.confidence < cal.vision_threshold:
        raise VisionModelError(f"the vision model was not confident ({entry.name}, "
                               f"{answer.confidence:.0%})")
    evidence = next((c.confidence for c in local.candidates if c.taxon_id == entry.id), 0.0)
    identification = from_entry(
        entry, answer.confidence,
        f"{answer.rationale} (Retrieval alone gave {entry.name} {evidence:.0%}; "
        f"it said: {local.identification.explanation})",
        source="vision-model", observed_features=answer.observed_features)
    # Retrieval's "nothing to name" no longer holds; what it found stays worth knowing.
    kept = [n for n in local.notices if n.code != NoticeCode.UNIDENTIFIED]
    if entry.id != local.identification.taxon_id:
        kept.append(notices.vision_model_disagrees(entry.name))
    if entry.kind == "pseudofossil" and all(n.code != NoticeCode.NOT_A_FOSSIL for n in kept):
        kept.append(notices.not_a_fossil(f"the vision model sees {entry.name}"))
    return local.model_copy(update={"identification": identification, "notices": kept})
