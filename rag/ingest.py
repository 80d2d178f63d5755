"""Ingest a labelled folder (DIR/<label>/*.jpg|png) into the specimens collection, and bring
the knowledge collection in step with the knowledge base."""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from rag import thumbnails
from rag.encoders import ImageEncoder
from rag.knowledge.index import sync_knowledge
from rag.specimens import Specimen, SpecimenIndex
from rag.thumbnail_store import ThumbnailStore

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass
class IngestReport:
    found: int = 0
    added: int = 0
    already_present: int = 0
    unreadable: list[str] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    total_in_index: int = 0
    knowledge: dict[str, int] = field(default_factory=dict)  # what sync_knowledge did


def scan(root: Path) -> list[tuple[str, Path]]:
    """(label, path) for every photo one level below root, sorted for stable batches."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of <label>/ sub-folders")
    return sorted(
        (folder.name, path)
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
        for path in folder.iterdir()
        if path.suffix.lower() in SUFFIXES and path.is_file()
    )


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ingest(root: Path, encoder: ImageEncoder, index: SpecimenIndex, batch_size: int = 32,
           progress: bool = True) -> IngestReport:
    """Idempotent: a specimen's id is the SHA-256 of its bytes, so re-ingest adds nothing."""
    report = ingest_photos(root, scan(root), encoder, index, batch_size, progress)
    report.knowledge = sync_knowledge(index.client)
    return report


def ingest_photos(root: Path, photos: list[tuple[str, Path]], encoder: ImageEncoder,
                  index: SpecimenIndex, batch_size: int = 32,
                  progress: bool = True) -> IngestReport:
    """Ingest these (label, path) photos from under root."""
    report = IngestReport(found=len(photos))
    index.create()
    pictures = ThumbnailStore(index.client)
    with tqdm(total=len(photos), unit="photo", desc="ingest", disable=not progress) as bar:
        for batch in _batches(photos, batch_size):
            loaded = [(label, path, path.read_bytes()) for label, path in batch]
            ids = [hashlib.sha256(data).hexdigest()[:32] for _, _, data in loaded]
            present = index.existing_ids(ids)
            todo = [(i, *item) for i, item in zip(ids, loaded, strict=True) if i not in present]
            report.already_present += len(batch) - len(todo)
            specimens = _encode(todo, encoder, root, report)
            report.added += index.insert(specimens)
            # Also for specimens ingested before thumbnails were kept.
            unseen = pictures.missing([i for i in ids if i in present]) | \
                {s.id for s in specimens}
            pictures.put({i: thumbnail for i, _, _, data in
                          ((i, *item) for i, item in zip(ids, loaded, strict=True))
                          if i in unseen and (thumbnail := _thumbnail(data))})
            report.labels.update(label for label, _ in batch)
            bar.update(len(batch))
    index.seal_and_load()
    report.total_in_index = index.count()
    return report


def _thumbnail(data: bytes) -> bytes | None:
    try:
        return thumbnails.make(data)
    except Exception:  # unreadable: _encode reports it
        return None


def _encode(todo: list, encoder: ImageEncoder, root: Path, report: IngestReport) -> list:
    specimens = []
    for specimen_id, label, path, data in todo:
        try:
            (encoded,) = encoder.encode([data])
        except Exception as exc:  # one bad file must not stop the gallery
            report.unreadable.append(f"{path}: {type(exc).__name__}")
            continue
        specimens.append(Specimen(id=specimen_id, label=label,
                                  source=str(path.relative_to(root)),
                                  embedding=encoded.vector))
    return specimens
