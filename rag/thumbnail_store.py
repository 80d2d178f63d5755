"""The reference specimens' small pictures (rag.thumbnails), in Milvus beside them (every
replica reads them, on KubeRay too): a 256 px WebP per specimen, base64 in a VARCHAR field.

"""

import base64

from pymilvus import MilvusClient, MilvusException

from rag import doc_collection

COLLECTION = "specimen_thumbnails"
_MAX_CHARS = doc_collection.MAX_CHARS  # a 256 px WebP is ~5-20 KB


class ThumbnailStore:
    def __init__(self, client: MilvusClient, collection: str = COLLECTION):
        self.client = client
        self.collection = collection
        self._ready = False

    def _ensure(self) -> None:
        if self._ready:
            return
        doc_collection.create(self.client, self.collection, "id", "webp", 64)
        self._ready = True

    def put(self, thumbnails: dict[str, bytes]) -> int:
        """Store these (specimen id → WebP); one too big for the field is left out."""
        rows = [{"id": key, "webp": text, "placeholder": doc_collection.PLACEHOLDER}
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
