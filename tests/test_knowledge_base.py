"""The shipped knowledge base against its schema, and the schema against bad entries."""

import pytest
from pydantic import ValidationError

from paleon.tools import gallery
from rag.imagenet import FOSSIL_CLASSES
from rag.knowledge import load_knowledge
from rag.knowledge.base import parse
from tests.kb_fixture import TEXT

# Groups collectors find that the issue names; the ids are the contract with galleries.
REQUIRED = {
    "ammonoids", "nautiloids", "belemnites", "trilobites", "brachiopods", "bivalves",
    "gastropods", "crinoids", "echinoids", "blastoids", "rugose_corals", "tabulate_corals",
    "scleractinian_corals", "bryozoans", "graptolites", "sponges", "foraminifera",
    "shark_teeth", "bony_fish", "insects_in_amber", "dinosaur_bones", "dinosaur_teeth",
    "ichthyosaurs", "plesiosaurs", "mosasaurs", "pterosaurs", "mammals", "ferns", "lycopsids",
    "horsetails", "ginkgo", "petrified_wood", "stromatolites", "trace_fossils",
}
PSEUDOFOSSILS = {"manganese_dendrites", "concretions", "septarian_nodules"}


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def test_the_knowledge_base_covers_what_collectors_find(kb):
    fossils = [e for e in kb.entries if e.kind != "pseudofossil"]
    assert len(fossils) >= 50
    assert set(kb.by_id) >= REQUIRED, sorted(REQUIRED - set(kb.by_id))
    assert {e.id for e in kb.entries if e.kind == "pseudofossil"} >= PSEUDOFOSSILS
    assert set(gallery.CLASSES) <= set(kb.by_id)  # the test gallery's labels are entries


def test_every_entry_is_complete_and_consistent(kb):
    for entry in kb.entries:
        assert entry.lineage[-1].name == entry.scientific_name
        assert entry.range.first_ma >= entry.range.last_ma
        assert entry.description.strip() and entry.references
    # Every ImageNet class the encoder reports as fossil-like points at an entry.
    assert set(kb.imagenet) == set(FOSSIL_CLASSES.values())


def test_look_alikes_point_at_entries_where_they_can(kb):
    linked = sum(1 for e in kb.entries for look in e.look_alikes if kb.resolve(look.name))
    total = sum(len(e.look_alikes) for e in kb.entries)
    assert linked / total >= 0.5, f"only {linked}/{total} look-alikes name an entry"
    pseudo_names = {e.name for e in kb.entries if e.kind == "pseudofossil"}
    assert any(look.name in pseudo_names for e in kb.entries if e.kind != "pseudofossil"
               for look in e.look_alikes)


def test_labels_resolve_by_id_name_alias_and_spelling(kb):
    assert kb.resolve("ammonoids").id == "ammonoids"
    assert kb.resolve("Ammonoids").id == "ammonoids"
    assert kb.resolve("shark-teeth").id == "shark_teeth"
    assert kb.resolve("no such fossil") is None


@pytest.mark.parametrize("old, new, message", [
    ("first_ma: 409, last_ma: 66, periods: [Devonian,", "first_ma: 409, last_ma: 66, "
     "periods: [Silurian, Devonian,", "spans"),
    ("first_ma: 409, last_ma: 66", "first_ma: 60, last_ma: 66", "younger"),
    ("{rank: phylum, name: Mollusca}", "{rank: class, name: Mollusca}", "Mollusca"),
    ("aliases: [ammonite]", "aliases: [Ammonite]", "lower case"),
    ("aliases: [ammonite]", "aliases: [nautiloids]", "names both"),
    ("imagenet_classes: [trilobite]", "imagenet_classes: [cat]", "not mapped"),
    ("kind: pseudofossil", "kind: rock", "kind"),
])
def test_the_schema_refuses_bad_entries(old, new, message):
    assert old in TEXT
    with pytest.raises((ValidationError, ValueError), match=message):
        parse(TEXT.replace(old, new, 1))


def test_an_imagenet_class_shared_by_entries_needs_a_common_ancestor():
    from rag.knowledge.base import parse
    from tests.kb_fixture import TEXT

    # Concretions (a pseudofossil) and trilobites share no root taxon.
    shared = TEXT.replace("kind: pseudofossil",
                          "kind: pseudofossil\n  imagenet_classes: [trilobite]")
    with pytest.raises(ValueError, match="share no ancestor"):
        parse(shared)
