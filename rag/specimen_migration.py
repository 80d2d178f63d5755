"""Collections ingested before each photo's specimen was kept, brought up to date.

Milvus (milvus-lite included) cannot add a field to a collection, so the rows are copied
into a new collection that has it, which then takes the old one's name. A photo of a
correction belongs to the correction's specimen; any other photo is its own specimen, as it
was treated before.
"""

from tqdm import tqdm

from rag.specimens import Specimen, SpecimenIndex

_BATCH = 1024


def specimen_of(row: dict) -> str:
    source = str(row.get("source", ""))
    return source if source.startswith("feedback:") else row["id"]


def migrate(index: SpecimenIndex, progress: bool = False) -> int:
    """Copy the collection into one that keeps specimens; the rows copied (0: nothing to
    do). Idempotent: a copy that an interrupted run left unfinished is started again, and
    one it finished but did not yet put in place is put in place."""
    client = index.client
    target = SpecimenIndex(client, index.dim, f"{index.collection}_migrating")
    before = f"{index.collection}_before_migration"
    if not index.exists() and client.has_collection(before):
        # Stopped between the two renames: the copy is complete.
        client.rename_collection(target.collection, index.collection)
        client.drop_collection(before)
        index.forget_schema()
        return 0
    if not index.exists() or index.has_specimens():
        return 0
    if target.exists():
        client.drop_collection(target.collection)
    target.create()
    index.ensure_loaded()
    copied = 0
    iterator = client.query_iterator(index.collection, batch_size=_BATCH, filter="",
                                     output_fields=["id", "label", "source", "embedding"])
    try:
        with tqdm(unit="photo", desc="migrate", disable=not progress) as bar:
            while rows := iterator.next():
                copied += target.insert([
                    Specimen(id=row["id"], label=row["label"], source=row["source"],
                             embedding=row["embedding"], specimen=specimen_of(row))
                    for row in rows])
                bar.update(len(rows))
    finally:
        iterator.close()
    target.seal_and_load()
    # Renamed aside, not dropped, until the copy has its name: a stop in between loses
    # nothing (the next run finishes it, above).
    client.rename_collection(index.collection, before)
    client.rename_collection(target.collection, index.collection)
    client.drop_collection(before)
    index.forget_schema()
    return copied
