"""Small pictures of the reference specimens, in Milvus beside them (every replica reads
them, on KubeRay too): a 256 px WebP per specimen, base64 in a VARCHAR field.

Milvus wants a vector field in every collection; this one's is a constant placeholder.
"""

import base64
import io

from PIL import Image, ImageOps
from pymilvus import DataType, MilvusClient, MilvusException

COLLECTION = "specimen_thumbnails"
SIDE = 256
_MAX_CHARS = 65_535  # Milvus's VARCHAR limit: a 256 px WebP is ~5-20 KB


def make(data: bytes, side: int = SIDE) -> bytes:
    """A WebP at most `side` px, upright, no metadata (GPS included), from a photo's bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (side, side))  # JPEG: decode at a reduced scale
        image.load()
        upright = ImageOps.exif_transpose(image).convert("RGB")
    return from_image(upright, side)


def from_image(image: Image.Image, side: int = SIDE) -> bytes:
    """The same from a decoded, upright picture (a copy is made: `image` is left as it is).

    Made for every job, so cheap: a reducing gap, bilinear, and WebP's fastest method take
    ~3 ms of CPU here, against ~9 ms for Pillow's defaults from the JPEG (LANCZOS, method
    4) (docs/benchmarks.md, run 16)."""
    small = image.convert("RGB") if image.mode != "RGB" else image.copy()
    small.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=1.5)
    small.info.clear()
    out = io.BytesIO()
    small.save(out, "WEBP", quality=75, method=0)
    return out.getvalue()


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
