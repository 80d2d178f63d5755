"""A small knowledge base for unit tests: two cephalopods, a trilobite, a brachiopod and a
pseudofossil, so roll-ups and warnings are checked independently of `fossils.yaml`."""

from rag.knowledge.base import parse

_ALL = ("[Archean, Proterozoic, Ediacaran, Cambrian, Ordovician, Silurian, Devonian, "
        "Carboniferous, Permian, Triassic, Jurassic, Cretaceous, Paleogene, Neogene, Quaternary]")


def _entry(id_, name, rank, lineage, first, last, periods, kind="body_fossil", extra=""):
    lineage_yaml = "\n".join(f"    - {{rank: {r}, name: {n}}}" for r, n in lineage)
    return f"""
- id: {id_}
  name: {name}
  kind: {kind}
  rank: {rank}
  lineage:
{lineage_yaml}
  range: {{first_ma: {first}, last_ma: {last}, periods: {periods}}}
  description: A test entry for {name}, long enough to satisfy the schema's minimum.
  diagnostic_features: [first feature, second feature]
  look_alikes: [{{name: Concretions, how_to_tell: "Concretions have no internal structure."}}]
  references: ["Test reference for {name}"]
{extra}"""


CEPH = [("kingdom", "Animalia"), ("phylum", "Mollusca"), ("class", "Cephalopoda")]
TEXT = "".join([
    _entry("ammonoids", "Ammonoids", "subclass", [*CEPH, ("subclass", "Ammonoids")], 409, 66,
           "[Devonian, Carboniferous, Permian, Triassic, Jurassic, Cretaceous]",
           extra="  aliases: [ammonite]\n  imagenet_classes: [chambered nautilus]\n"),
    _entry("nautiloids", "Nautiloids", "subclass", [*CEPH, ("subclass", "Nautiloids")], 495, 0,
           "[Cambrian, Ordovician, Silurian, Devonian, Carboniferous, Permian, Triassic, "
           "Jurassic, Cretaceous, Paleogene, Neogene, Quaternary]",
           extra="  imagenet_classes: [chambered nautilus]\n"),
    _entry("trilobites", "Trilobites", "class",
           [("kingdom", "Animalia"), ("phylum", "Arthropoda"), ("class", "Trilobites")],
           521, 251.9, "[Cambrian, Ordovician, Silurian, Devonian, Carboniferous, Permian]",
           extra="  imagenet_classes: [trilobite]\n"),
    _entry("brachiopods", "Brachiopods", "phylum",
           [("kingdom", "Animalia"), ("phylum", "Brachiopods")], 525, 0,
           "[Cambrian, Ordovician, Silurian, Devonian, Carboniferous, Permian, Triassic, "
           "Jurassic, Cretaceous, Paleogene, Neogene, Quaternary]"),
    _entry("concretions", "Concretions", "group",
           [("category", "Pseudofossils"), ("group", "Concretions")], 4000, 0, _ALL,
           kind="pseudofossil"),
])
KB = parse(TEXT)
