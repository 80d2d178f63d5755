"""The Milvus `knowledge` collection: one embedded document per knowledge-base entry."""

import hashlib
import logging

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from rag.knowledge.base import KnowledgeBase
from rag.knowledge.schema import Entry

log = logging.getLogger("paleon.knowledge")

COLLECTION = "knowledge"
_INDEX = {"index_type": "FLAT", "metric_type": "COSINE"}
_FIELDS = ["id", "name", "document"]


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


def embedded_text(entry: Entry) -> str:
    """What is embedded: the words people search with, short enough for MiniLM's 256-token
    window (the whole document would be cut, and its end never seen)."""
    return (f"{entry.name} ({entry.scientific_name}), {' '.join(entry.aliases)}. "
            f"{entry.description} {'; '.join(entry.diagnostic_features)}.")


def digest(text: str, model: str) -> str:
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


class KnowledgeIndex:
    """Keeps the collection in step with the knowledge base; searches it by text or by id."""

    def __init__(self, client: MilvusClient, encoder, collection: str = COLLECTION):
        self.client = client
        self.encoder = encoder  # rag.text.MiniLMTextEncoder or anything with name/dim/encode
        self.collection = collection

    def _create(self) -> None:
        if self.client.has_collection(self.collection):
            return
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
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
                raise  # not a replica starting beside us that created it first

    def sync(self, kb: KnowledgeBase) -> dict:
        """Embed new or changed entries, drop removed ones; idempotent and cheap when in step."""
        self._create()
        self.client.load_collection(self.collection)
        stored = {row["id"]: row["digest"] for row in self.client.query(
            self.collection, filter='id != ""', output_fields=["id", "digest"])}
        docs = {entry.id: document(entry) for entry in kb.entries}
        texts = {entry.id: embedded_text(entry) for entry in kb.entries}
        digests = {key: digest(docs[key] + texts[key], self.encoder.name) for key in docs}
        changed = [key for key in docs if stored.get(key) != digests[key]]
        removed = sorted(set(stored) - set(docs))
        if changed:
            vectors = self.encoder.encode([texts[key] for key in changed])
            rows = [{"id": key, "name": kb.by_id[key].name, "digest": digests[key],
                     "document": docs[key], "embedding": vector.tolist()}
                    for key, vector in zip(changed, vectors, strict=True)]
            self.client.upsert(self.collection, data=rows)
        if removed:
            self.client.delete(self.collection, ids=removed)
        if changed or removed:
            self.client.flush(self.collection)
            log.info("knowledge collection: %d embedded, %d removed", len(changed), len(removed))
        return {"entries": len(docs), "embedded": len(changed), "removed": len(removed)}

    def by_ids(self, ids: list[str]) -> list[dict]:
        """The stored documents of these entries, in the order asked (missing ones skipped)."""
        if not ids:
            return []
        rows = {row["id"]: row for row in self.client.get(
            self.collection, ids=list(dict.fromkeys(ids)), output_fields=_FIELDS)}
        return [{key: rows[i][key] for key in _FIELDS} for i in ids if i in rows]

    def search(self, text: str, k: int) -> list[dict]:
        """Entries nearest in meaning to `text`: {"id", "name", "document", "score"}."""
        vector = self.encoder.encode([text])[0]
        hits = self.client.search(self.collection, data=[np.asarray(vector).tolist()], limit=k,
                                  anns_field="embedding", output_fields=["name", "document"],
                                  search_params={"metric_type": "COSINE"})[0]
        return [{"id": hit["id"], "name": hit["entity"]["name"],
                 "document": hit["entity"]["document"], "score": round(float(hit["distance"]), 4)}
                for hit in hits]
