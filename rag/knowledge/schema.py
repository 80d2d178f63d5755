"""One knowledge-base entry, validated: ranks, lineage and the range's periods agree."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rag.geology import PERIOD_NAMES, periods_between
from rag.imagenet import FOSSIL_CLASSES

Rank = Literal[
    "kingdom", "phylum", "subphylum", "class", "subclass", "infraclass", "superorder", "order",
    "suborder", "infraorder", "superfamily", "family", "genus", "clade", "group", "division",
    "category",
]
Kind = Literal["body_fossil", "trace_fossil", "pseudofossil"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Taxon(_Strict):
    rank: Rank
    name: str = Field(min_length=1, max_length=80)


class GeologicRange(_Strict):
    first_ma: float = Field(ge=0, le=4000, description="First appearance, millions of years ago")
    last_ma: float = Field(ge=0, le=4000, description="Last appearance (0: alive today)")
    periods: list[str] = Field(min_length=1, description="Periods spanned, oldest first")

    @model_validator(mode="after")
    def _consistent(self) -> "GeologicRange":
        unknown = [p for p in self.periods if p not in PERIOD_NAMES]
        if unknown:
            raise ValueError(f"unknown periods {unknown}; known: {list(PERIOD_NAMES)}")
        expected = periods_between(self.first_ma, self.last_ma)
        if self.periods != expected:
            raise ValueError(f"{self.first_ma}–{self.last_ma} Ma spans {expected}, "
                             f"not {self.periods}")
        return self


class LookAlike(_Strict):
    name: str = Field(min_length=1)
    how_to_tell: str = Field(min_length=10)


class Entry(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str = Field(min_length=2, max_length=80)
    taxon: str | None = Field(None, description="Scientific name, when `name` is a common one")
    kind: Kind
    rank: Rank
    lineage: list[Taxon] = Field(min_length=1, description="Root first, ending with this entry")
    aliases: list[str] = []
    imagenet_classes: list[str] = []
    range: GeologicRange
    description: str = Field(min_length=40, max_length=1200)
    diagnostic_features: list[str] = Field(min_length=2, max_length=8)
    look_alikes: list[LookAlike] = Field(min_length=1, max_length=5)
    references: list[str] = Field(min_length=1, max_length=5)

    @field_validator("aliases")
    @classmethod
    def _lower_case(cls, aliases: list[str]) -> list[str]:
        if any(alias != alias.strip().lower() or not alias for alias in aliases):
            raise ValueError(f"aliases must be lower case and trimmed: {aliases}")
        return aliases

    @field_validator("imagenet_classes")
    @classmethod
    def _known_classes(cls, classes: list[str]) -> list[str]:
        unknown = set(classes) - set(FOSSIL_CLASSES.values())
        if unknown:
            raise ValueError(f"not mapped ImageNet classes: {sorted(unknown)}")
        return classes

    @model_validator(mode="after")
    def _lineage_ends_here(self) -> "Entry":
        last = self.lineage[-1]
        if (last.rank, last.name) != (self.rank, self.scientific_name):
            raise ValueError(f"lineage must end with {self.rank} {self.scientific_name!r}, "
                             f"not {last.rank} {last.name!r}")
        names = [t.name for t in self.lineage]
        if len(set(names)) != len(names):
            raise ValueError(f"lineage repeats a name: {names}")
        return self

    @property
    def scientific_name(self) -> str:
        return self.taxon or self.name
