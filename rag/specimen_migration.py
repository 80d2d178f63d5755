"""Collections ingested before each photo's specimen was kept, brought up to date: rebuilt
(rag.specimen_rebuild) into a collection that has the field. A photo of a correction belongs
to the correction's specimen; any other photo is its own specimen, as it was treated before.
"""

from dataclasses import replace

from rag.specimen_rebuild import rebuild, resume
from rag.specimens import Specimen, SpecimenIndex


def specimen_of(s: Specimen) -> str:
    return s.source if s.source.startswith("feedback:") else s.id


def migrate(index: SpecimenIndex, progress: bool = False) -> int:
    """Rebuild the collection so that it keeps specimens; the rows copied (0: nothing to
    do). Idempotent; a migration stopped before its end is started again, one stopped
    between its renames finished."""
    aside = f"{index.collection}_before_migration"
    if resume(index, aside):
        index.client.drop_collection(aside)
        return 0
    if not index.exists() or index.has_specimens():
        return 0
    copied = rebuild(index, index.dim, lambda s: replace(s, specimen=specimen_of(s)), aside,
                     "migrate", progress)
    index.client.drop_collection(aside)
    return copied
