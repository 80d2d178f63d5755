"""Evidence fusion's parameters (rag/fusion.py explains them); a settings group that
`paleon eval --calibrate` fits."""

from pydantic import BaseModel, ConfigDict, Field


class Calibration(BaseModel):
    """Fusion's parameters; settings (CALIBRATION__TEMPERATURE=...) and `paleon eval` set them."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(default=0.05, gt=0, le=1)  # T: how fast weight grows
    open_set_similarity: float = Field(default=0.62, ge=-1, le=1)  # s0: a coin toss
    weak_evidence_weight: float = Field(default=0.15, ge=0, le=0.5)  # ImageNet's share at most
    threshold: float = Field(default=0.6, gt=0, le=1)  # name a taxon from this confidence
    not_fossil: float = Field(default=0.3, gt=0, le=1)  # pseudofossil share → "may not be"
    # A group whose range misses the stated age keeps this share of its weight (Bayes with a
    # soft prior: the age or the range may be wrong, so nothing is ruled out).
    age_mismatch_weight: float = Field(default=0.1, ge=0, le=1)
    # An identification of a group with fewer references than this says so (few_references).
    few_references: int = Field(default=5, ge=0)
    unknown_not_fossil: float = Field(default=0.8, gt=0, le=1)  # open-set share → the same
