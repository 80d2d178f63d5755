"""Move a collection to another encoder: every reference whose source photo is still at hand
is embedded again; the rest (a correction's photos, which are not kept; a file moved away)
cannot be, and are listed. Vectors of two encoders are never mixed in one collection.

The moved collection takes the old one's name (rag.specimen_rebuild); the old one is kept
beside it, renamed `<name>_before_reembed`, until the next move.
"""

from dataclasses import dataclass, field
from pathlib import Path

from rag.encoders import ImageEncoder
from rag.specimen_migration import migrate
from rag.specimen_rebuild import rebuild, resume
from rag.specimens import Specimen, SpecimenIndex


@dataclass
class MoveReport:
    moved: int = 0
    not_moved: list[str] = field(default_factory=list)  # "id (source): why"
    kept_as: str = ""


def reembed(index: SpecimenIndex, encoder: ImageEncoder, photos: Path,
            progress: bool = True) -> MoveReport:
    """Embed the collection's references again from their photos under `photos` (the folder
    they were ingested from: each row's source is relative to it)."""
    migrate(index, progress)
    report = MoveReport(kept_as=f"{index.collection}_before_reembed")
    resume(index, report.kept_as)

    def moved(s: Specimen) -> Specimen | None:
        path = photos / s.source
        if s.source.startswith("feedback:"):
            report.not_moved.append(f"{s.id} ({s.source}): a correction's photos are not "
                                    "kept, only their embeddings")
        elif not path.is_file():
            report.not_moved.append(f"{s.id} ({s.source}): no such photo under {photos}")
        else:
            try:
                (encoded,) = encoder.encode([path.read_bytes()])
            except Exception as exc:  # one unreadable photo must not stop the move
                report.not_moved.append(f"{s.id} ({s.source}): unreadable "
                                        f"({type(exc).__name__})")
                return None
            return Specimen(s.id, s.label, s.source, encoded.vector, s.specimen_key)
        return None

    report.moved = rebuild(index, encoder.dim, moved, report.kept_as, "re-embed", progress)
    return report
