"""The Milvus `knowledge` collection: MiniLM embeddings, kept in step, searched by meaning."""

import uuid

import pytest

from rag.knowledge import load_knowledge
from rag.knowledge.base import parse
from rag.knowledge.index import KnowledgeIndex, sync_knowledge
from rag.specimens import connect
from rag.text import MiniLMTextEncoder
from tests.kb_fixture import TEXT


@pytest.fixture(scope="module")
def encoder():
    return MiniLMTextEncoder()


@pytest.fixture
def index(milvus_server, encoder):
    client = connect(milvus_server["uri"])
    index = KnowledgeIndex(client, encoder, collection=f"knowledge_{uuid.uuid4().hex[:8]}")
    yield index
    client.drop_collection(index.collection)


def test_text_embeddings_are_unit_length(encoder):
    vectors = encoder.encode(["a coiled shell", "a fern frond"])
    assert vectors.shape == (2, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1) < 1e-4


def test_sync_embeds_only_what_changed(index):
    assert index.sync(parse(TEXT)) == {"entries": 5, "embedded": 5, "removed": 0}
    assert index.sync(parse(TEXT)) == {"entries": 5, "embedded": 0, "removed": 0}
    changed = TEXT.replace("A test entry for Trilobites", "A changed entry for Trilobites")
    assert index.sync(parse(changed))["embedded"] == 1
    fewer = parse(changed)
    fewer.entries = [e for e in fewer.entries if e.id != "brachiopods"]
    assert index.sync(fewer) == {"entries": 4, "embedded": 0, "removed": 1}
    docs = index.by_ids(["trilobites", "brachiopods", "ammonoids"])
    assert [d["id"] for d in docs] == ["trilobites", "ammonoids"]
    assert "A changed entry for Trilobites" in docs[0]["document"]
    assert "Lineage: Animalia > Arthropoda > Trilobites" in docs[0]["document"]


def test_a_replica_answers_nothing_until_a_sync_then_finds_entries(index, encoder):
    replica = KnowledgeIndex(index.client, encoder, collection=index.collection)
    assert replica.search("a coiled shell", 3) == [] and replica.by_ids(["ammonoids"]) == []
    index.sync(parse(TEXT))
    assert [d["id"] for d in replica.by_ids(["ammonoids"])] == ["ammonoids"]
    assert replica.search("a coiled shell", 3)


def test_a_collection_of_an_older_schema_answers_nothing_until_rebuilt(index, encoder):
    index.client.create_collection(index.collection, dimension=encoder.dim)  # no entry_id
    assert index.search("a coiled shell", 3) == [] and index.by_ids(["ammonoids"]) == []
    assert index.sync(parse(TEXT))["embedded"] == 5
    assert index.by_ids(["ammonoids"])


def test_sync_knowledge_brings_the_shipped_knowledge_base_in_step(milvus_server):
    client = connect(milvus_server["uri"])
    sync_knowledge(client)
    assert sync_knowledge(client) == {"entries": len(load_knowledge()), "embedded": 0,
                                      "removed": 0}


@pytest.mark.parametrize("query, expected", [
    ("coiled chambered shell with frilly, complex suture lines", "ammonoids"),
    ("an insect trapped in fossil tree resin", "insects_in_amber"),
    ("black branching mineral growths on a rock surface that look like tiny plants",
     "manganese_dendrites"),
    ("a large triangular serrated tooth from the sea", "shark_teeth"),
])
def test_free_text_finds_the_right_entry(index, query, expected):
    index.sync(load_knowledge())
    top = [hit["id"] for hit in index.search(query, 5)]
    assert expected in top, top


def test_every_passage_fits_the_models_window(encoder):
    from rag.knowledge.index import passages

    longest = max(len(encoder.model.tokenizer(text)["input_ids"])
                  for entry in load_knowledge().entries for text in passages(entry))
    assert longest <= encoder.model.max_seq_length, longest
