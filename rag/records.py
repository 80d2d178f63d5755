"""What crosses the Ray-handle boundary between the deployments and the job: small frozen
records, so both sides name the same fields."""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


@dataclass(frozen=True, slots=True)
class ImageNetClass:
    """One of the encoder's own top ImageNet classes for a photo."""

    index: int
    name: str  # rag.imagenet.class_name(index)
    score: float  # the encoder's probability, rounded to 4 places


# eq=False: the generated __eq__ would compare arrays, whose truth value is ambiguous.
@dataclass(frozen=True, slots=True, eq=False)
class Embedding:
    """One photo as the VisionClassifier encodes it."""

    vector: np.ndarray  # float32, shape (dim,), unit length
    top_classes: list[ImageNetClass]
    encoder: str  # the encoder's name, e.g. "efficientnet-lite0"


@dataclass(frozen=True, slots=True)
class Hit:
    """A reference specimen near a photo, as the Retriever finds it."""

    id: str
    label: str  # the gallery label it was ingested under
    source: str  # the reference photo's path below the gallery folder
    score: float  # cosine similarity of the embeddings


class NoticeCode(StrEnum):
    """Stable machine codes of a result's warnings (docs/identification.md lists them)."""

    EMPTY_INDEX = "empty_index"
    UNIDENTIFIED = "unidentified"
    NOT_A_FOSSIL = "not_a_fossil"
    PHOTOS_DISAGREE = "photos_disagree"
    LABEL_WITHOUT_ENTRY = "label_without_entry"
    VISION_MODEL_UNUSED = "vision_model_unused"
    VISION_MODEL_DISAGREES = "vision_model_disagrees"
    OUT_OF_RANGE = "out_of_range"
    FEW_REFERENCES = "few_references"


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning: `code` is for programs to decide on, `message` for a person to read."""

    code: NoticeCode
    message: str
