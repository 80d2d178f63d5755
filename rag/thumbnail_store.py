"""The reference specimens' small pictures (rag.thumbnails), in Milvus beside them (every
replica reads them, on KubeRay too): a 256 px WebP per specimen, base64 in a VARCHAR field.

Milvus wants a vector field in every collection; this one's is a constant placeholder.
"""

import base64

from pymilvus import DataType, MilvusClient, MilvusException

COLLECTION = "specimen_thumbnails"
_MAX_CHARS = 65_535  # Milvus's VARCHAR limit: a 256 px WebP is ~5-20 KB


class ThumbnailStore:
    def __init__(self, client: MilvusClient, collection: str = COLLECTION):
        self.client = client
        self.collection = collection
        self._ready = False

    def _ensure(self) -> None:
        if self._ready:
            return
        if not self.client.has_collection(self.collection):
            schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("webp", DataType.VARCHAR, max_length=_MAX_CHARS)
            schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
            index = self.client.prepare_index_params()
            index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
            self.client.create_collection(self.collection, schema=schema, index_params=index)
        self.client.load_collection(self.collection)
        self._ready = True

    def put(self, thumbnails: dict[str, bytes]) -> int:
        """Store these (specimen id → WebP); one too big for the field is left out."""
        rows = [{"id": key, "webp": text, "placeholder": [0.0, 0.0]}
                for key, data in thumbnails.items()
                if len(text := base64.b64encode(data).decode()) <= _MAX_CHARS]
        if not rows:
            return 0
        self._ensure()
        return int(self.client.upsert(self.collection, data=rows)["upsert_count"])

    def missing(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        self._ensure()
        found = self.client.get(self.collection, ids=ids, output_fields=["id"])
        return set(ids) - {row["id"] for row in found}

    def get(self, specimen_id: str) -> bytes | None:
        if not self._ready and not self.client.has_collection(self.collection):
            return None
        self._ensure()
        try:
            rows = self._get(specimen_id)
        except MilvusException:  # released meanwhile (Milvus restarted): load, once more
            self._ready = False
            self._ensure()
            rows = self._get(specimen_id)
        return base64.b64decode(rows[0]["webp"]) if rows else None

    def _get(self, specimen_id: str) -> list:
        return list(self.client.get(self.collection, ids=[specimen_id],
                                    output_fields=["webp"]))
