"""A specimens collection rebuilt row by row into a new one, which then takes its name: how
a collection gains a field (rag.specimen_migration) or moves to another encoder
(rag.reembed). Milvus cannot change a collection's fields in place.

The old collection is renamed aside before the new one takes its name, never dropped
first: a stop in between loses nothing, and `resume` puts the finished copy in place.
"""

from collections.abc import Callable

from tqdm import tqdm

from rag.specimens import Specimen, SpecimenIndex


def staging(index: SpecimenIndex) -> str:
    return f"{index.collection}_rebuilding"


def resume(index: SpecimenIndex, aside: str) -> bool:
    """Finish a rebuild that stopped between its two renames; True when there was one."""
    client = index.client
    if index.exists() or not client.has_collection(aside) \
            or not client.has_collection(staging(index)):
        return False
    client.rename_collection(staging(index), index.collection)
    index.forget_schema()
    return True


def rebuild(index: SpecimenIndex, dim: int, transform: Callable[[Specimen], Specimen | None],
            aside: str, desc: str, progress: bool = False) -> int:
    """Copy every reference through `transform` (None leaves it out) into a collection of
    `dim`-d vectors that then takes the index's name; the old one is kept as `aside`
    (replacing an earlier one of that name). The rows copied."""
    client = index.client
    target = SpecimenIndex(client, dim, staging(index))
    if target.exists():
        client.drop_collection(target.collection)
    target.create()
    copied = 0
    with tqdm(unit="photo", desc=desc, disable=not progress) as bar:
        for batch in index.specimens():
            copied += target.insert([row for s in batch if (row := transform(s)) is not None])
            bar.update(len(batch))
    target.seal_and_load()
    if client.has_collection(aside):
        client.drop_collection(aside)
    client.rename_collection(index.collection, aside)
    client.rename_collection(target.collection, index.collection)
    index.forget_schema()
    return copied
