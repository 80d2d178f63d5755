"""The Milvus `knowledge` collection: MiniLM embeddings, kept in step, searched by meaning."""

import uuid

import pytest

from rag.knowledge import load_knowledge
from rag.knowledge.base import parse
from rag.knowledge.index import KnowledgeIndex
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
