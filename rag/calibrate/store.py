"""Fits stored with the collection, in Milvus, where every replica on every node reads them
(not a file in one machine's data dir). Each fit is kept under its version; the current one
also under the collection's name. An accepted correction marks the current fit stale.
"""

from datetime import UTC, datetime

from pymilvus import MilvusClient, MilvusException

from configs.calibration import Calibration
from rag import doc_collection
from rag.result import CalibrationInfo

COLLECTION = "collection_meta"


class EncoderMismatch(ValueError):
    """A collection's vectors come from another encoder than the one asked for."""


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
        doc_collection.create(self.client, self.collection, "key", "doc", 256)
        self._ready = True

    def _key(self, version: int | None = None) -> str:
        return f"{self.specimens}:calibration" + ("" if version is None else f"@{version}")

    def _read(self, key: str) -> str | None:
        if not self._ensure():
            return None
        try:
            rows = self.client.get(self.collection, ids=[key], output_fields=["doc"])
        except MilvusException:  # released meanwhile (Milvus restarted): load, once more
            self._ready = False
            if not self._ensure():
                return None
            rows = self.client.get(self.collection, ids=[key], output_fields=["doc"])
        return rows[0]["doc"] if rows else None

    def current(self) -> CalibrationInfo | None:
        """The current fit, stale when the collection changed after it was made. Staleness
        is kept under its own key, naming the version it applies to, so that marking it
        never rewrites a fit (nor undoes a newer one saved meanwhile)."""
        doc = self._read(self._key())
        if not doc:
            return None
        info = CalibrationInfo.model_validate_json(doc)
        stale = self._read(f"{self._key()}:stale")
        if stale:
            version, _, why = stale.partition(" ")
            if version == str(info.version):
                info = info.model_copy(update={"stale": True, "stale_reason": why})
        return info

    def version(self, version: int) -> CalibrationInfo | None:
        doc = self._read(self._key(version))
        return CalibrationInfo.model_validate_json(doc) if doc else None

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
            self._write({f"{self._key()}:stale": f"{info.version} {why}"})
        return True

    def encoder(self) -> str | None:
        """The identity of the encoder the collection's embeddings came from (None: not
        recorded, as for collections made before it was: those are EfficientNet-Lite0's)."""
        return self._read(f"{self.specimens}:encoder")

    def check_encoder(self, identity: str, legacy: str) -> None:
        """Record the encoder of a new collection; refuse another one for a collection that
        holds embeddings (`legacy`: what an unrecorded collection with rows was made by)."""
        known = self.encoder()
        if known is None:
            known = legacy or identity
            self._write({f"{self.specimens}:encoder": known})
        if known != identity:
            raise EncoderMismatch(
                f"the collection {self.specimens!r} holds embeddings of {known}, not {identity}:"
                f" use that encoder, or move the collection to this one (re-embedding)")

    def moved_to(self, identity: str) -> None:
        """The collection now holds this encoder's embeddings (rag.reembed): recorded, and
        the fit, made on the old ones' similarities, no longer served (its version stays
        in the history); the defaults answer until a refit."""
        self._write({f"{self.specimens}:encoder": identity})
        if self._ensure():
            self.client.delete(self.collection, ids=[self._key()])

    def _put(self, info: CalibrationInfo) -> None:
        doc = info.model_dump_json()
        self._write({self._key(): doc, self._key(info.version): doc})

    def _write(self, docs: dict[str, str]) -> None:
        self._create()
        self.client.upsert(self.collection, data=[
            {"key": key, "doc": doc, "placeholder": doc_collection.PLACEHOLDER}
            for key, doc in docs.items()])
