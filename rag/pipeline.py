"""One job's identification: local composition, then the vision model when one is set."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import paleon
from configs.calibration import Calibration
from rag import notices
from rag.compose import compose
from rag.fusion import range_consistent
from rag.geology import AgeInterval
from rag.knowledge import KnowledgeBase
from rag.records import Embedding, Hit, NoticeCode
from rag.result import CalibrationInfo, IdentificationResult, ModelInfo
from rag.text import MiniLMTextEncoder
from rag.vision_model import VisionAnswer, VisionModel, VisionModelError, refine

log = logging.getLogger("paleon.pipeline")

DocumentsFn = Callable[[list[str]], Awaitable[list[dict]]]


def calibration_info(cal: Calibration | CalibrationInfo) -> CalibrationInfo:
    """A fit as it is; bare parameters as the settings' defaults."""
    if isinstance(cal, CalibrationInfo):
        return cal
    return CalibrationInfo(source="defaults", parameters=cal)


def model_info(encoder: str, kb: KnowledgeBase, cal: Calibration | CalibrationInfo,
               vision: VisionModel | None) -> ModelInfo:
    return ModelInfo(
        encoder=encoder, knowledge=f"{len(kb)} entries, sha256:{kb.digest[:12]}",
        text_encoder=MiniLMTextEncoder.name,
        generator="openai-compatible" if vision else "local",
        generator_model=vision.model if vision else None,
        calibration=calibration_info(cal), version=paleon.__version__)


def context_ids(result: IdentificationResult, kb: KnowledgeBase) -> list[str]:
    """Entries worth showing a vision model: the candidates and their look-alikes."""
    ids = [c.taxon_id for c in result.candidates if c.taxon_id]
    for key in ids[:2]:
        ids += [entry.id for look in kb.by_id[key].look_alikes
                if (entry := kb.resolve(look.name))]
    return list(dict.fromkeys(ids))[:10]


def in_context(result: IdentificationResult, kb: KnowledgeBase, cal: Calibration,
               age: AgeInterval | None, references: dict[str, int] | None
               ) -> IdentificationResult:
    """The vision model's pick with what the context says of it: whether its range fits
    the stated age, its reference count, and the few_references warning for it."""
    taxon_id = result.identification.taxon_id
    if taxon_id is None:
        return result
    count = None if references is None else references.get(taxon_id, 0)
    identification = result.identification.model_copy(update={
        "range_consistent": range_consistent(taxon_id, age, kb), "reference_count": count})
    kept = [n for n in result.notices if n.code != NoticeCode.FEW_REFERENCES]
    if count is not None and count < cal.few_references:
        kept.append(notices.few_references(kb.by_id[taxon_id].name, count))
    return result.model_copy(update={"identification": identification, "notices": kept})


async def identify(images: list[bytes], encoded: list[Embedding], hits: list[list[Hit]], *,
                   kb: KnowledgeBase, cal: Calibration | CalibrationInfo,
                   documents: DocumentsFn,
                   vision: VisionModel | None = None,
                   vision_budget_s: float | None = None, age: AgeInterval | None = None,
                   locality: str | None = None,
                   references: dict[str, int] | None = None) -> dict:
    """The job's result as JSON-ready data (rag.result.IdentificationResult): one photo,
    its embedding and its neighbours at each position of the three lists. `cal`: the fit
    stored with the collection, or bare parameters (the settings' defaults).

    `vision_budget_s` bounds the knowledge look-up and the vision model, retries included:
    whatever goes wrong there costs the user the refinement, never the job."""
    if not encoded:
        raise ValueError("a job has at least one photo")
    info = model_info(encoded[0].encoder, kb, cal, vision)
    cal = info.calibration.parameters
    local = compose(hits, [e.top_classes for e in encoded], kb, cal, info, age=age,
                    locality=locality, references=references)
    if vision is None or not any(hits):
        return local.model_dump(mode="json")

    async def ask() -> VisionAnswer:
        docs = await documents(context_ids(local, kb))
        return await vision.answer(images, local, docs, kb)

    try:
        answer = await asyncio.wait_for(ask(), vision_budget_s)
        return in_context(refine(local, answer, kb, cal), kb, cal, age,
                          references).model_dump(mode="json")
    except TimeoutError:
        reason = "the vision model did not answer in time"
    except VisionModelError as exc:
        reason = str(exc)
    except Exception as exc:  # the knowledge look-up, a quirky server: never the job's end
        reason = f"the vision model step failed ({type(exc).__name__})"
    log.warning("vision model not used: %s", reason)
    unused = [*local.notices, notices.vision_model_unused(reason)]
    return local.model_copy(update={"notices": unused}).model_dump(mode="json")
