"""Trials for a fit: the collection's own references searched against the rest of it.

Each sampled reference photo is searched twice: against the other specimens (its own
specimen's other photos left out, so no view finds its twin), which is how a new photo of a
group the collection holds meets it; and against the other groups only (its whole group
left out), which is how a photo of a group the collection lacks meets it. The first kind
fits the temperature and the confidence map; both together fit the open-set similarity.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, replace

from rag.fusion import label_key
from rag.knowledge import KnowledgeBase
from rag.records import Hit
from rag.specimens import SpecimenIndex


@dataclass(frozen=True)
class Trial:
    label: str  # the reference's label key
    specimen: str
    inside: list[Hit]  # neighbours among the other specimens, labelled by label key
    outside: list[Hit]  # neighbours among the other groups, likewise


@dataclass(frozen=True)
class Trials:
    trials: list[Trial]
    references: int  # photos in the collection
    specimens: int
    reachable: set[str]  # label keys with two specimens or more: a trial can find them

    def inside(self) -> list[Trial]:
        """Trials whose group has another specimen to be found by."""
        return [t for t in self.trials if t.inside and t.label in self.reachable]

    def outside(self) -> list[Trial]:
        return [t for t in self.trials if t.outside]


def _keyed(hits: list[Hit], kb: KnowledgeBase) -> list[Hit]:
    return [replace(hit, label=label_key(kb, hit.label)) for hit in hits]


def _quoted(value: str) -> str:
    return json.dumps(value)  # a Milvus string literal: double quotes, escapes as JSON's


def collect(index: SpecimenIndex, kb: KnowledgeBase, k: int, sample: int = 1500) -> Trials:
    """Up to `sample` references (chosen by a hash of their id: the same ones every time),
    each searched inside and outside."""
    everyone = [s for batch in index.specimens() for s in batch]
    by_key: dict[str, set[str]] = defaultdict(set)
    labels_of: dict[str, set[str]] = defaultdict(set)
    for s in everyone:
        key = label_key(kb, s.label)
        by_key[key].add(s.specimen_key)
        labels_of[key].add(s.label)
    chosen = sorted(everyone, key=lambda s: hashlib.sha256(s.id.encode()).hexdigest())[:sample]
    trials = []
    for s in chosen:
        key = label_key(kb, s.label)
        same = ", ".join(_quoted(label) for label in sorted(labels_of[key]))
        own = f"specimen != {_quoted(s.specimen_key)}"
        others = [h for h in index.search_where(s.embedding, k, own) if h.id != s.id]
        foreign = index.search_where(s.embedding, k, f"label not in [{same}]") \
            if len(by_key) > 1 else []
        trials.append(Trial(key, s.specimen_key, _keyed(others, kb), _keyed(foreign, kb)))
    return Trials(trials, len(everyone), sum(len(v) for v in by_key.values()),
                  {key for key, v in by_key.items() if len(v) > 1})
