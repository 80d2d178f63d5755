"""The Milvus `specimens` collection: reference photos as embeddings with their labels."""

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from rag.records import Hit

COLLECTION = "specimens"
_NLIST = 128
_INDEX = {"index_type": "IVF_FLAT", "metric_type": "COSINE", "params": {"nlist": _NLIST}}
_SEARCH = {"metric_type": "COSINE", "params": {"nprobe": 16}}
# A filter applies within the probed lists only: where a group fills them (the query's own,
# left out), too few lists would find nothing. Every list: exact, for the calibration.
_FILTERED = {"metric_type": "COSINE", "params": {"nprobe": _NLIST}}
SPECIMEN_MAX = 256


@dataclass(frozen=True)
class Specimen:
    """One reference photo. `specimen` names the object it shows: photos of one specimen are
    never split between references and queries when a fit or an evaluation holds some out."""

    id: str
    label: str
    source: str
    embedding: np.ndarray
    specimen: str = ""  # empty: the photo is its own specimen (its id)

    @property
    def specimen_key(self) -> str:
        return self.specimen or self.id


def connect(uri: str, token: str = "", timeout: float = 10.0, attempts: int = 3) -> MilvusClient:
    """A client, retried briefly: a server that just sent GOAWAY (gRPC keepalive pings of an
    idle channel, "too_many_pings") refuses the next connection for a moment."""
    for attempt in range(1, attempts):
        try:
            return MilvusClient(uri=uri, token=token, timeout=timeout)
        except MilvusException:
            time.sleep(0.5 * attempt)
    return MilvusClient(uri=uri, token=token, timeout=timeout)


class SpecimenIndex:
    """Create, fill, load and search the specimens collection; one instance per process."""

    def __init__(self, client: MilvusClient, dim: int, collection: str = COLLECTION):
        self.client = client
        self.dim = dim
        self.collection = collection
        self._ready = False
        self._has_specimens: bool | None = None

    def exists(self) -> bool:
        return self.client.has_collection(self.collection)

    def create(self) -> None:
        if self.exists():
            return
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("label", DataType.VARCHAR, max_length=128)
        schema.add_field("source", DataType.VARCHAR, max_length=512)
        schema.add_field("specimen", DataType.VARCHAR, max_length=SPECIMEN_MAX)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=self.dim)
        index = self.client.prepare_index_params()
        index.add_index(field_name="embedding", **_INDEX)
        self.client.create_collection(self.collection, schema=schema, index_params=index)

    def existing_ids(self, ids: list[str]) -> set[str]:
        # Loaded first: after a restart the collection exists but is released, and reading a
        # released collection fails ("is in state 'released'").
        if not ids or not self.ensure_loaded():
            return set()
        rows = self.client.get(self.collection, ids=ids, output_fields=["id"])
        return {row["id"] for row in rows}

    def insert(self, specimens: list[Specimen]) -> int:
        if not specimens:
            return 0
        with_specimen = self.has_specimens()
        rows = [
            {"id": s.id, "label": s.label, "source": s.source,
             "embedding": np.asarray(s.embedding, np.float32).tolist(),
             **({"specimen": s.specimen_key[:SPECIMEN_MAX]} if with_specimen else {})}
            for s in specimens
        ]
        return self.client.upsert(self.collection, data=rows)["upsert_count"]

    def seal_and_load(self, timeout_s: float = 60) -> None:
        """Flush, wait for the index build, then reload so searches use the index
        (unflushed search is brute force). Loading while the index file is still being
        written fails with a short read, so the build is waited for and a load retried."""
        self.client.flush(self.collection)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.client.describe_index(self.collection, "embedding")
            if state.get("pending_index_rows", 0) == 0 and state.get("state") != "InProgress":
                break
            time.sleep(0.2)
        self.client.release_collection(self.collection)
        for attempt in range(1, 5):
            try:
                self.client.load_collection(self.collection)
                break
            except MilvusException:
                if attempt == 4:
                    raise
                time.sleep(0.5 * attempt)
        self._ready = True

    def count(self) -> int:
        if not self.ensure_loaded():
            return 0
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def specimens(self, batch_size: int = 1024) -> Iterator[list[Specimen]]:
        """Every reference with its embedding, in batches."""
        if not self.ensure_loaded():
            return
        fields = ["id", "label", "source", "embedding"] + \
            (["specimen"] if self.has_specimens() else [])
        iterator = self.client.query_iterator(self.collection, batch_size=batch_size,
                                              filter="", output_fields=fields)
        try:
            while rows := iterator.next():
                yield [Specimen(id=row["id"], label=row["label"], source=row["source"],
                                embedding=np.asarray(row["embedding"], np.float32),
                                specimen=row.get("specimen") or "") for row in rows]
        finally:
            iterator.close()

    def label_counts(self) -> dict[str, int]:
        """Specimens per label, read in batches (every row's label; a few MB at 100k rows)."""
        if not self.ensure_loaded():
            return {}
        counts: dict[str, int] = {}
        iterator = self.client.query_iterator(self.collection, batch_size=4096, filter="",
                                              output_fields=["label"])
        try:
            while rows := iterator.next():
                for row in rows:
                    counts[row["label"]] = counts.get(row["label"], 0) + 1
        finally:
            iterator.close()
        return counts

    def forget_schema(self) -> None:
        """The collection was replaced (a migration, a move to another encoder): load it
        and read its fields again on next use."""
        self._ready = False
        self._has_specimens = None

    def has_specimens(self) -> bool:
        """Whether the collection keeps each photo's specimen (collections made before it
        did are migrated by `paleon ingest` and `paleon calibrate`: rag.specimen_migration)."""
        if self._has_specimens is None:
            fields = self.client.describe_collection(self.collection)["fields"]
            self._has_specimens = any(f["name"] == "specimen" for f in fields)
        return self._has_specimens

    def search_where(self, vector: np.ndarray, k: int, where: str) -> list[Hit]:
        """Up to k nearest specimens that match a Milvus filter expression."""
        self.ensure_loaded()
        (hits,) = self._search([np.asarray(vector, dtype=np.float32).tolist()], k,
                               _FILTERED, where)
        return _hits(hits)

    def ensure_loaded(self) -> bool:
        """True when the collection exists and is loaded; cheap once it is."""
        if self._ready:
            return True
        if not self.exists():
            return False
        self.client.load_collection(self.collection)
        self._ready = True
        return True

    def search(self, vectors: list[np.ndarray], k: int) -> list[list[Hit]]:
        """For each vector, up to k nearest specimens (cosine), nearest first."""
        if not vectors:
            return []
        if not self.ensure_loaded():
            return [[] for _ in vectors]
        data = [np.asarray(v, dtype=np.float32).tolist() for v in vectors]
        try:
            results = self._search(data, k)
        except MilvusException:
            # Released meanwhile (Milvus restarted, or a reload by `paleon ingest`): load
            # again and retry once.
            self._ready = False
            if not self.ensure_loaded():
                return [[] for _ in vectors]
            results = self._search(data, k)
        return [_hits(hits) for hits in results]

    def _search(self, data: list[list[float]], k: int, params: dict = _SEARCH,
                where: str = "") -> list:
        return self.client.search(self.collection, data=data, limit=k, anns_field="embedding",
                                  filter=where, search_params=params,
                                  output_fields=["label", "source"])


def _hits(found: list) -> list[Hit]:
    return [Hit(id=hit["id"], label=hit["entity"]["label"], source=hit["entity"]["source"],
                score=round(float(hit["distance"]), 4)) for hit in found]
