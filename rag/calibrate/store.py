"""Fits stored with the collection, in Milvus, where every replica on every node reads them
(not a file in one machine's data dir). Each fit is kept under its version; the current one
also under the collection's name. An accepted correction marks the current fit stale.

Milvus wants a vector field in every collection; this one's is a constant placeholder.
"""

from datetime import UTC, datetime

from pymilvus import DataType, MilvusClient

from configs.calibration import Calibration
from rag.result import CalibrationInfo

COLLECTION = "collection_meta"


class EncoderMismatch(ValueError):
    """A collection's vectors come from another encoder than the one asked for."""
_MAX_CHARS = 65_535


class CalibrationStore:
    def __init__(self, client: MilvusClient, specimens: str = "specimens",
                 collection: str = COLLECTION):
        self.client = client
        self.specimens = specimens
        self.collection = collection
        self._ready = False

    def _ensure(self) -> bool:
        """Loaded and True when the collection exists (created only by a write)."""
        if self._ready:
            return True
        if not self.client.has_collection(self.collection):
            return False
        self.client.load_collection(self.collection)
        self._ready = True
        return True

    def _create(self) -> None:
        if not self.client.has_collection(self.collection):
            schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
            schema.add_field("doc", DataType.VARCHAR, max_length=_MAX_CHARS)
            schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
            index = self.client.prepare_index_params()
            index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
            self.client.create_collection(self.collection, schema=schema, index_params=index)
        self._ensure()

    def _key(self, version: int | None = None) -> str:
        return f"{self.specimens}:calibration" + ("" if version is None else f"@{version}")

    def current(self) -> CalibrationInfo | None:
        if not self._ensure():
            return None
        rows = self.client.get(self.collection, ids=[self._key()], output_fields=["doc"])
        return CalibrationInfo.model_validate_json(rows[0]["doc"]) if rows else None

    def version(self, version: int) -> CalibrationInfo | None:
        if not self._ensure():
            return None
        rows = self.client.get(self.collection, ids=[self._key(version)], output_fields=["doc"])
        return CalibrationInfo.model_validate_json(rows[0]["doc"]) if rows else None

    def save(self, calibration: Calibration, figures: dict[str, float],
             encoder: str) -> CalibrationInfo:
        """Store a new fit as the next version and make it current."""
        self._create()
        previous = self.current()
        info = CalibrationInfo(
            source="fitted", version=(previous.version or 0) + 1 if previous else 1,
            fitted_at=datetime.now(UTC).isoformat(timespec="seconds"), encoder=encoder,
            figures=figures, parameters=calibration)
        self._put(info)
        return info

    def mark_stale(self, why: str) -> bool:
        """The collection changed since the fit: say so until `paleon calibrate` refits.
        False when there is no fit to mark."""
        info = self.current()
        if info is None:
            return False
        if not info.stale:
            self._put(info.model_copy(update={"stale": True, "stale_reason": why}))
        return True

    def encoder(self) -> str | None:
        """The identity of the encoder the collection's embeddings came from (None: not
        recorded, as for collections made before it was: those are EfficientNet-Lite0's)."""
        if not self._ensure():
            return None
        rows = self.client.get(self.collection, ids=[f"{self.specimens}:encoder"],
                               output_fields=["doc"])
        return rows[0]["doc"] if rows else None

    def check_encoder(self, identity: str, legacy: str) -> None:
        """Record the encoder of a new collection; refuse another one for a collection that
        holds embeddings (`legacy`: what an unrecorded collection with rows was made by)."""
        known = self.encoder()
        if known is None:
            known = legacy or identity
            self._create()
            self.client.upsert(self.collection, data=[
                {"key": f"{self.specimens}:encoder", "doc": known, "placeholder": [0., 0.]}])
        if known != identity:
            raise EncoderMismatch(
                f"the collection {self.specimens!r} holds embeddings of {known}, not {identity}:"
                f" use that encoder, or move the collection to this one (re-embedding)")

    def moved_to(self, identity: str) -> None:
        """The collection now holds this encoder's embeddings (rag.reembed): recorded, and
        the fit, made on the old ones, marked stale."""
        self._create()
        self.client.upsert(self.collection, data=[
            {"key": f"{self.specimens}:encoder", "doc": identity, "placeholder": [0., 0.]}])
        self.mark_stale(f"the collection moved to the encoder {identity}")

    def _put(self, info: CalibrationInfo) -> None:
        doc = info.model_dump_json()
        keys = [self._key(), self._key(info.version)]
        self.client.upsert(self.collection, data=[
            {"key": key, "doc": doc, "placeholder": [0.0, 0.0]} for key in keys])
