"""The identification a job returns: what `GET /result/{job_id}` holds under `result`."""

from typing import Literal

from pydantic import BaseModel, Field, computed_field

from configs.calibration import Calibration
from rag.knowledge import LookAlike, Taxon
from rag.records import ImageNetClass, Notice


class GeologicRangeOut(BaseModel):
    first_ma: float = Field(description="First appearance, millions of years ago")
    last_ma: float = Field(description="Last appearance, millions of years ago (0: alive today)")
    periods: list[str] = Field(description="Geologic periods spanned, oldest first")


class Links(BaseModel):
    """Where to read more: each a search for the scientific name (no ids nobody checked)."""

    pbdb: str = Field(description="The Paleobiology Database's taxon page search")
    gbif: str = Field(description="GBIF's species search")
    wikipedia: str = Field(description="Wikipedia's search (English)")


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
    range_consistent: bool | None = Field(
        None, description="Whether the taxon's range overlaps the stated age; null when no "
        "age was given or the taxon has no range")
    reference_count: int | None = Field(
        None, description="Reference specimens the collection holds for the taxon (null: "
        "not counted, e.g. a rolled-up taxon)")
    links: Links | None = Field(None, description="Where to read more (null: nothing named)")


class Candidate(BaseModel):
    taxon_id: str | None = Field(description="Knowledge-base id; null for a gallery label "
                                 "that is not in the knowledge base")
    taxon: str = Field(description="Display name (or the gallery label)")
    rank: str | None = None
    confidence: float = Field(ge=0, le=1, description="After the age prior, when an age "
                              "was given")
    confidence_before_prior: float | None = Field(
        None, ge=0, le=1, description="The photos' evidence alone (null: no age was given; "
        "in `per_image`, which has no prior, the same as `confidence`)")
    range_consistent: bool | None = Field(
        None, description="Whether the group's range overlaps the stated age (null: no age, "
        "or no knowledge-base range)")
    links: Links | None = Field(None, description="Null for a label with no knowledge-base "
                                "entry")


class SimilarSpecimen(BaseModel):
    id: str
    label: str = Field(description="The reference specimen's label as ingested")
    taxon_id: str | None = None
    score: float = Field(description="Cosine similarity of the embeddings")
    source: str = Field(description="Where the reference photo came from")


class WeakEvidence(BaseModel):
    source: Literal["imagenet"] = "imagenet"
    imagenet_class: str
    taxon: str = Field(description="The taxon the class stands for: the entry's, or the "
                       "common ancestor of the entries it may show")
    taxon_ids: list[str] = Field(description="The knowledge-base entries the class may show")
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
        "which answers (as a roll-up) only when the reference collection does not")


class CalibrationInfo(BaseModel):
    """Which calibration answered: a fit stored with the collection (`paleon calibrate`),
    or the settings' defaults."""

    source: Literal["fitted", "defaults"]
    version: int | None = Field(None, description="The fit's version (null: the defaults)")
    fitted_at: str | None = Field(None, description="When it was fitted (ISO 8601, UTC)")
    encoder: str | None = Field(None, description="The encoder whose embeddings it was "
                                "fitted on")
    stale: bool = Field(False, description="The collection changed since the fit (accepted "
                        "corrections): `paleon calibrate` refits")
    stale_reason: str | None = None
    figures: dict[str, float] = Field(
        {}, description="What the fit reached on the collection's own references, each "
        "searched against the other specimens: trials, top1, ece, identified_right, ...")
    parameters: Calibration


class ModelInfo(BaseModel):
    encoder: str
    index: str = "specimens"
    knowledge: str = Field(description="Knowledge base: entries and content digest")
    text_encoder: str | None = None
    generator: str = Field(description="'local' or 'openai-compatible'")
    generator_model: str | None = None
    calibration: CalibrationInfo
    version: str


class StatedAge(BaseModel):
    input: str = Field(description="The age as the user gave it")
    first_ma: float = Field(description="The interval it reads as: oldest, Ma")
    last_ma: float = Field(description="Youngest, Ma")
    unit: str | None = Field(None, description="The ICS chart unit it names (null: numbers)")


class Context(BaseModel):
    """What the user said about where the specimen was found."""

    age: StatedAge | None = Field(None, description="The stated age of the rock; when given, "
                                  "groups whose range misses it are down-weighted")
    locality: str | None = Field(None, description="Formation or place, as given (not "
                                 "interpreted)")


class IdentificationResult(BaseModel):
    identification: Identification
    candidates: list[Candidate] = Field(description="Top 5 groups with their confidences")
    similar_specimens: list[SimilarSpecimen] = Field(description="Nearest references, all photos")
    per_image: list[PerImage]
    model: ModelInfo
    context: Context = Field(default_factory=Context, description="The age and locality "
                             "given with the photos, and how the age was read")
    # Required: a result stored before notices existed has only `warnings`, and a default
    # would read it as having none, silently dropping them.
    notices: list[Notice] = Field(description="The warnings with their stable codes "
                                  "(docs/identification.md), in the order of `warnings`")

    @computed_field(  # type: ignore[prop-decorator]
        description="The notices' messages, for a person to read")
    @property
    def warnings(self) -> list[str]:
        return [notice.message for notice in self.notices]
