"""Evidence fusion's parameters (rag/fusion.py explains them): defaults here and in the
settings, a fit per collection by `paleon calibrate` (rag/calibrate/)."""

import math

from pydantic import BaseModel, ConfigDict, Field

# What `paleon calibrate` fits to a collection.
FITTED = ("temperature", "open_set_similarity", "confidence_slope", "confidence_offset",
          "threshold")


class Calibration(BaseModel):
    """Fusion's parameters; settings (CALIBRATION__TEMPERATURE=...) give the defaults that
    answer until `paleon calibrate` stores a fit with the collection."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(default=0.05, gt=0, le=1)  # T: how fast weight grows
    open_set_similarity: float = Field(default=0.62, ge=-1, le=1)  # s0: a coin toss
    # The confidence shown is sigmoid(slope · logit(p) + offset) of the fused probability p
    # (Platt scaling): fitted so that answers at 80 % are right 80 % of the time.
    confidence_slope: float = Field(default=1.0, gt=0, le=20)
    confidence_offset: float = Field(default=0.0, ge=-20, le=20)
    threshold: float = Field(default=0.6, gt=0, le=1)  # name a taxon from this confidence
    not_fossil: float = Field(default=0.3, gt=0, le=1)  # pseudofossil share → "may not be"
    # A group whose range misses the stated age keeps this share of its weight (Bayes with a
    # soft prior: the age or the range may be wrong, so nothing is ruled out).
    age_mismatch_weight: float = Field(default=0.1, ge=0, le=1)
    # An identification of a group with fewer references than this says so (few_references).
    few_references: int = Field(default=5, ge=0)
    # ImageNet's own classes (weak evidence) answer only when the collection does not: a
    # class at this probability or more rolls up to the taxon it stands for, at a confidence
    # of its probability times `weak_evidence_trust` (docs/identification.md).
    weak_roll_up: float = Field(default=0.4, gt=0, le=1)
    weak_evidence_trust: float = Field(default=0.75, gt=0, le=1)
    # The vision model's self-reported confidence that lets its pick replace retrieval's.
    vision_threshold: float = Field(default=0.6, gt=0, le=1)

    def with_fit(self, fitted: "Calibration") -> "Calibration":
        """These settings with the fields a collection's fit sets taken from `fitted`: the
        rest (pseudofossil share, age prior, weak evidence, ...) stay the settings' own."""
        return self.model_copy(update={name: getattr(fitted, name) for name in FITTED})

    def confidence(self, p: float) -> float:
        """The confidence shown for a fused probability p."""
        p = min(max(p, 1e-6), 1 - 1e-6)
        z = self.confidence_slope * math.log(p / (1 - p)) + self.confidence_offset
        return 1 / (1 + math.exp(-z)) if z > -700 else 0.0
