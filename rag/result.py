"""The identification a job returns: what `GET /result/{job_id}` holds under `result`."""

from typing import Literal

from pydantic import BaseModel, Field, computed_field

from rag.knowledge import LookAlike, Taxon
from rag.records import ImageNetClass, Notice


class GeologicRangeOut(BaseModel):
    first_ma: float = Field(description="First appearance, millions of years ago")
    last_ma: float = Field(description="Last appearance, millions of years ago (0: alive today)")
    periods: list[str] = Field(description="Geologic periods spanned, oldest first")


class Identification(BaseModel):
    status: Literal["identified", "rolled_up", "unidentified"] = Field(
        description="identified: a knowledge-base group is named; rolled_up: the evidence is "
        "split below, so the deepest confident common ancestor is named; unidentified: "
        "nothing is similar enough to name (see candidates for the closest groups)")
    taxon: str | None = Field(None, description="Display name, e.g. 'Ammonoids'")
    taxon_id: str | None = Field(None, description="Knowledge-base id, e.g. 'ammonoids'")
    scientific_name: str | None = None
    rank: str | None = None
    lineage: list[Taxon] = Field([], description="Root first, ending with the named taxon")
    confidence: float = Field(ge=0, le=1, description="Calibrated probability of the named "
                              "taxon (source retrieval); the vision model's own, uncalibrated "
                              "estimate (source vision-model)")
    source: Literal["retrieval", "vision-model"] = "retrieval"
    geologic_range: GeologicRangeOut | None = None
    description: str = ""
    diagnostic_features: list[str] = []
    look_alikes: list[LookAlike] = []
    references: list[str] = []
    explanation: str = Field("", description="How the evidence led to this answer")
    observed_features: list[str] = Field(
        [], description="Features the vision model says it saw (vision-model source only)")


class Candidate(BaseModel):
    taxon_id: str | None = Field(description="Knowledge-base id; null for a gallery label "
                                 "that is not in the knowledge base")
    taxon: str = Field(description="Display name (or the gallery label)")
    rank: str | None = None
    confidence: float = Field(ge=0, le=1)


class SimilarSpecimen(BaseModel):
    id: str
    label: str = Field(description="The reference specimen's label as ingested")
    taxon_id: str | None = None
    score: float = Field(description="Cosine similarity of the embeddings")
    source: str = Field(description="Where the reference photo came from")


class WeakEvidence(BaseModel):
    source: Literal["imagenet"] = "imagenet"
    imagenet_class: str
    taxon_id: str
    score: float = Field(description="The encoder's ImageNet probability for the class")


class PerImage(BaseModel):
    index: int
    candidates: list[Candidate]
    unknown: float = Field(description="Open-set share: how much nothing indexed fits")
    best_similarity: float | None
    similar_specimens: list[SimilarSpecimen]
    encoder_classes: list[ImageNetClass]
    weak_evidence: list[WeakEvidence] = Field(
        [], description="ImageNet classes mapped to knowledge-base groups: weak evidence, "
        "weighted at most `weak_evidence_weight` of the image's scores")


class ModelInfo(BaseModel):
    encoder: str
    index: str = "specimens"
    knowledge: str = Field(description="Knowledge base: entries and content digest")
    text_encoder: str | None = None
    generator: str = Field(description="'local' or 'openai-compatible'")
    generator_model: str | None = None
    calibration: dict[str, float]
    version: str


class IdentificationResult(BaseModel):
    identification: Identification
    candidates: list[Candidate] = Field(description="Top 5 groups with their confidences")
    similar_specimens: list[SimilarSpecimen] = Field(description="Nearest references, all photos")
    per_image: list[PerImage]
    model: ModelInfo
    # Required: a result stored before notices existed has only `warnings`, and a default
    # would read it as having none, silently dropping them.
    notices: list[Notice] = Field(description="The warnings with their stable codes "
                                  "(docs/identification.md), in the order of `warnings`")

    @computed_field(  # type: ignore[prop-decorator]
        description="The notices' messages, for a person to read")
    @property
    def warnings(self) -> list[str]:
        return [notice.message for notice in self.notices]
