"""Knowledge-base routes: an entry by id (with how many references the collection holds for
it), and search in plain words."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from auth.deps import Caller
from deployments.services import ServicesDep
from paleon.errors import NotFound, ServiceUnavailable
from rag.fusion import per_entry
from rag.knowledge import Entry, load_knowledge

router = APIRouter(prefix="/knowledge", tags=["knowledge"])


class KnowledgeEntry(Entry):
    reference_count: int | None = Field(
        description="Reference specimens the collection holds for the group (null: the "
        "collection could not be asked just now)")
    few_references: bool | None = Field(
        description="Fewer than CALIBRATION__FEW_REFERENCES: identifications of the group "
        "say so (`few_references` warning); treat them with care")


class KnowledgeHit(BaseModel):
    id: str
    name: str
    score: float  # cosine similarity of the MiniLM embeddings
    entry: Entry


@router.get("/search", response_model=list[KnowledgeHit])
async def search(
    caller: Caller,
    state: ServicesDep,
    q: Annotated[str, Query(min_length=2, max_length=500, description="Words, e.g. "
                            "'coiled shell with frilly suture lines'")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[KnowledgeHit]:
    kb = load_knowledge()
    try:
        hits = await state.retrieval.knowledge_search(q, limit)
    except Exception as exc:  # Milvus or the Retriever down: the client may retry later
        raise ServiceUnavailable("Knowledge search is unavailable; try again shortly.") from exc
    return [KnowledgeHit(id=h["id"], name=h["name"], score=h["score"], entry=kb.by_id[h["id"]])
            for h in hits if h["id"] in kb.by_id]


@router.get("/{taxon_id}", response_model=KnowledgeEntry)
async def entry(
    caller: Caller,
    state: ServicesDep,
    taxon_id: Annotated[str, Path(max_length=64)],
) -> KnowledgeEntry:
    kb = load_knowledge()
    found = kb.resolve(taxon_id)
    if found is None:
        raise NotFound(f"No knowledge-base entry {taxon_id!r}.")
    try:
        labels = await state.retrieval.reference_counts()
    except Exception:  # the entry still answers; only the count is unknown
        count = None
    else:
        count = per_entry(kb, labels).get(found.id, 0)
    few = state.settings.calibration.few_references
    return KnowledgeEntry(**found.model_dump(), reference_count=count,
                          few_references=None if count is None else count < few)
