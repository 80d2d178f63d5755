"""Load `fossils.yaml` once, check what spans entries, and answer look-ups by label."""

import hashlib
from functools import cache
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from rag.knowledge.schema import Entry, Taxon

DEFAULT_PATH = Path(__file__).with_name("fossils.yaml")


class KnowledgeBase:
    def __init__(self, entries: list[Entry], digest: str = ""):
        self.entries = entries
        self.digest = digest  # sha256 of the source text: names the version in results
        self.by_id = {entry.id: entry for entry in entries}
        self._labels: dict[str, str] = {}
        self.parents: dict[str, str | None] = {}  # taxon name → its parent's name (None: root)
        self.ranks: dict[str, str] = {}
        self.depths: dict[str, int] = {}  # taxon name → its place in the lineage (root 0)
        # ImageNet class → the entries it stands for (several: their common ancestor)
        self.imagenet: dict[str, list[str]] = {}
        for entry in entries:
            self._index(entry)
        for name, ids in self.imagenet.items():
            if len(ids) > 1 and not self._shared([self.by_id[i] for i in ids]):
                raise ValueError(f"ImageNet class {name!r} maps to {ids}, which share no "
                                 "ancestor to stand for")

    def _index(self, entry: Entry) -> None:
        for label in (entry.id, entry.name.lower(), entry.scientific_name.lower(), *entry.aliases):
            owner = self._labels.setdefault(label, entry.id)
            if owner != entry.id:
                raise ValueError(f"label {label!r} names both {owner!r} and {entry.id!r}")
        parent = None
        for depth, taxon in enumerate(entry.lineage):
            self.depths[taxon.name] = depth  # the same everywhere, as the parent is
            known_rank = self.ranks.setdefault(taxon.name, taxon.rank)
            known_parent = self.parents.setdefault(taxon.name, parent)
            if (known_rank, known_parent) != (taxon.rank, parent):
                raise ValueError(
                    f"{entry.id}: {taxon.name!r} is {taxon.rank} under {parent!r} here but "
                    f"{known_rank} under {known_parent!r} elsewhere")
            parent = taxon.name
        for name in entry.imagenet_classes:
            self.imagenet.setdefault(name, []).append(entry.id)

    def __len__(self) -> int:
        return len(self.entries)

    def resolve(self, label: str) -> Entry | None:
        """The entry a gallery label, id, name, scientific name or alias stands for."""
        entry_id = self._labels.get(label.strip().lower().replace("-", "_"))
        entry_id = entry_id or self._labels.get(label.strip().lower().replace("_", " "))
        return self.by_id.get(entry_id) if entry_id else None

    def lineage(self, name: str) -> list[Taxon]:
        """Root-first lineage of any taxon named in some entry's lineage."""
        chain = []
        current: str | None = name
        while current is not None:
            chain.append(Taxon(rank=self.ranks[current], name=current))
            current = self.parents[current]
        return chain[::-1]

    @staticmethod
    def _shared(entries: list[Entry]) -> list[str]:
        """The taxa every one of these entries' lineages starts with, root first."""
        shared = []
        for names in zip(*([t.name for t in e.lineage] for e in entries), strict=False):
            if len(set(names)) > 1:
                break
            shared.append(names[0])
        return shared

    def common_ancestor(self, ids: list[str]) -> str:
        """The deepest taxon in the lineage of every one of these entries (the load checks
        that classes shared by entries have one)."""
        return self._shared([self.by_id[i] for i in ids])[-1]

    def descendants(self, name: str) -> list[Entry]:
        return [e for e in self.entries if any(t.name == name for t in e.lineage)]


def parse(text: str) -> KnowledgeBase:
    entries = TypeAdapter(list[Entry]).validate_python(yaml.safe_load(text))
    return KnowledgeBase(entries, hashlib.sha256(text.encode()).hexdigest())


@cache
def load_knowledge(path: Path = DEFAULT_PATH) -> KnowledgeBase:
    return parse(Path(path).read_text(encoding="utf-8"))
