"""The Milvus `knowledge` collection: one embedded document per knowledge-base entry."""

import hashlib
import logging

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from rag.knowledge.base import KnowledgeBase, load_knowledge
from rag.knowledge.schema import Entry
from rag.text import MiniLMTextEncoder

log = logging.getLogger("paleon.knowledge")

COLLECTION = "knowledge"
_INDEX = {"index_type": "FLAT", "metric_type": "COSINE"}


def document(entry: Entry) -> str:
    """The text that is embedded and handed to a vision model: the entry in prose."""
    lineage = " > ".join(t.name for t in entry.lineage)
    first, last = entry.range.first_ma, entry.range.last_ma
    span = f"{first:g}–{last:g} Ma" if last else f"{first:g} Ma to today"
    looks = "; ".join(f"{look.name}: {look.how_to_tell}" for look in entry.look_alikes)
    return (
        f"{entry.name} ({entry.scientific_name}, {entry.rank}). Lineage: {lineage}. "
        f"Range: {span} ({', '.join(entry.range.periods)}). {entry.description} "
        f"Diagnostic features: {'; '.join(entry.diagnostic_features)}. Look-alikes: {looks}."
    )


def passages(entry: Entry) -> list[str]:
    """What is embedded: the entry in three passages, each well inside MiniLM's 256-token
    window (one whole document would be cut, its end never seen). A search scores an entry
    by its best passage."""
    head = f"{entry.name} ({entry.scientific_name})"
    return [
        f"{head}, {' '.join(entry.aliases)}. {entry.description}",
        f"{head}, what to look for: {'; '.join(entry.diagnostic_features)}.",
        f"{head} is mistaken for: " + "; ".join(
            f"{look.name}: {look.how_to_tell}" for look in entry.look_alikes),
    ]


def digest(text: str, model: str) -> str:
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


class KnowledgeIndex:
    """Keeps the collection in step with the knowledge base; searches it by text or by id.

    Searches answer nothing until a sync has made the collection."""

    def __init__(self, client: MilvusClient, encoder, collection: str = COLLECTION):
        self.client = client
        self.encoder = encoder  # rag.text.MiniLMTextEncoder or anything with name/dim/encode
        self.collection = collection
        self._loaded = False

    def _current(self) -> bool:
        """The collection exists with this version's schema."""
        if not self.client.has_collection(self.collection):
            return False
        fields = {f["name"] for f in self.client.describe_collection(self.collection)["fields"]}
        return "entry_id" in fields

    def _searchable(self) -> bool:
        """True once synced; loads the collection the first time (cheap after that)."""
        if not self._loaded and self._current():
            self.client.load_collection(self.collection)
            self._loaded = True
        return self._loaded

    def _create(self) -> None:
        if self._current():
            return
        if self.client.has_collection(self.collection):
            # Made by a version that embedded whole documents: derived data, rebuilt.
            self.client.drop_collection(self.collection)
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=80)  # entry#n
        schema.add_field("entry_id", DataType.VARCHAR, max_length=64)
        schema.add_field("passage", DataType.INT64)
        schema.add_field("name", DataType.VARCHAR, max_length=128)
        schema.add_field("digest", DataType.VARCHAR, max_length=64)
        schema.add_field("document", DataType.VARCHAR, max_length=8192)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=self.encoder.dim)
        index = self.client.prepare_index_params()
        index.add_index(field_name="embedding", **_INDEX)
        try:
            self.client.create_collection(self.collection, schema=schema, index_params=index)
        except MilvusException:
            if not self.client.has_collection(self.collection):
                raise  # not a concurrent sync that created it first

    def sync(self, kb: KnowledgeBase) -> dict[str, int]:
        """Embed new or changed entries, drop removed ones; idempotent and cheap when in step."""
        self._create()
        self.client.load_collection(self.collection)
        self._loaded = True
        stored = {row["entry_id"]: row["digest"] for row in self.client.query(
            self.collection, filter="passage == 0", output_fields=["entry_id", "digest"])}
        docs = {entry.id: document(entry) for entry in kb.entries}
        texts = {entry.id: passages(entry) for entry in kb.entries}
        digests = {key: digest(docs[key] + "\n".join(texts[key]), self.encoder.name)
                   for key in docs}
        changed = [key for key in docs if stored.get(key) != digests[key]]
        removed = sorted(set(stored) - set(docs))
        if changed or removed:
            self.client.delete(self.collection, filter=f"entry_id in {changed + removed}")
        if changed:
            todo = [(key, n, text) for key in changed for n, text in enumerate(texts[key])]
            vectors = self.encoder.encode([text for _, _, text in todo])
            rows = [{"id": f"{key}#{n}", "entry_id": key, "passage": n,
                     "name": kb.by_id[key].name, "digest": digests[key],
                     "document": docs[key], "embedding": vector.tolist()}
                    for (key, n, _), vector in zip(todo, vectors, strict=True)]
            self.client.upsert(self.collection, data=rows)
        if changed or removed:
            self.client.flush(self.collection)
            log.info("knowledge collection: %d embedded, %d removed", len(changed), len(removed))
        return {"entries": len(docs), "embedded": len(changed), "removed": len(removed)}

    def by_ids(self, ids: list[str]) -> list[dict]:
        """The stored documents of these entries, in the order asked (missing ones skipped)."""
        if not ids or not self._searchable():
            return []
        wanted = list(dict.fromkeys(ids))
        rows = {row["entry_id"]: row for row in self.client.query(
            self.collection, filter=f"passage == 0 and entry_id in {wanted}",
            output_fields=["entry_id", "name", "document"])}
        return [{"id": i, "name": rows[i]["name"], "document": rows[i]["document"]}
                for i in wanted if i in rows]

    def search(self, text: str, k: int) -> list[dict]:
        """Entries nearest in meaning to `text` (by their best passage):
        {"id", "name", "document", "score"}."""
        if not self._searchable():
            return []
        vector = self.encoder.encode([text])[0]
        hits = self.client.search(self.collection, data=[np.asarray(vector).tolist()],
                                  limit=min(k * 3, 1000), anns_field="embedding",
                                  output_fields=["entry_id", "name", "document"],
                                  search_params={"metric_type": "COSINE"})[0]
        best: dict[str, dict] = {}
        for hit in hits:  # best first: an entry's first passage here is its best
            entity = hit["entity"]
            best.setdefault(entity["entry_id"], {
                "id": entity["entry_id"], "name": entity["name"],
                "document": entity["document"], "score": round(float(hit["distance"]), 4)})
        return list(best.values())[:k]


def sync_knowledge(client: MilvusClient, kb: KnowledgeBase | None = None) -> dict[str, int]:
    """Bring the `knowledge` collection in step with `kb` (the shipped fossils.yaml by
    default). A write: run it once per deploy or ingest, not in every serving replica."""
    index = KnowledgeIndex(client, MiniLMTextEncoder())
    report = index.sync(load_knowledge() if kb is None else kb)
    log.info("knowledge base in Milvus: %s", report)
    return report
