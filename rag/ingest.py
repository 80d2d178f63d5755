"""Ingest a labelled folder (DIR/<label>/*.jpg|png, or DIR/<label>/<specimen>/*.jpg) into
the specimens collection, and bring the knowledge collection in step with the knowledge
base."""

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from rag import thumbnails
from rag.encoders import ImageEncoder
from rag.knowledge.index import sync_knowledge
from rag.specimen_migration import migrate
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


@dataclass(frozen=True)
class Photo:
    """A photo found under a gallery folder: its label and the specimen it shows."""

    label: str
    path: Path
    specimen: str = ""  # empty: the photo is its own specimen


def scan(root: Path, group_by: str | None = None) -> list[Photo]:
    """Every photo in DIR/<label>/*.jpg (each its own specimen) and DIR/<label>/<specimen>/
    *.jpg, sorted for stable batches. `group_by`, a regular expression, names the specimen
    from the file name instead: its first group, or else its whole match (a name it does not
    match is its own specimen)."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of <label>/ sub-folders")
    pattern = re.compile(group_by) if group_by else None
    photos = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        for path in folder.iterdir():
            if path.is_dir() and not path.name.startswith("."):
                photos += [Photo(folder.name, inner, f"{folder.name}/{path.name}")
                           for inner in path.iterdir() if _is_photo(inner)]
            elif _is_photo(path):
                photos.append(Photo(folder.name, path, _named(pattern, folder.name, path)))
    return sorted(photos, key=lambda p: (p.label, str(p.path)))


def _is_photo(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES and path.is_file()


def _named(pattern: re.Pattern | None, label: str, path: Path) -> str:
    match = pattern.search(path.name) if pattern else None
    if match is None:
        return ""
    return f"{label}/{match.group(1) if match.groups() else match.group(0)}"


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ingest(root: Path, encoder: ImageEncoder, index: SpecimenIndex, batch_size: int = 32,
           progress: bool = True, group_by: str | None = None) -> IngestReport:
    """Idempotent: a photo's id is the SHA-256 of its bytes, so re-ingest adds nothing."""
    photos = scan(root, group_by)
    migrate(index, progress)  # a collection from before specimens were kept
    report = ingest_photos(root, photos, encoder, index, batch_size, progress)
    report.knowledge = sync_knowledge(index.client)
    return report


def ingest_photos(root: Path, photos: list[Photo], encoder: ImageEncoder,
                  index: SpecimenIndex, batch_size: int = 32,
                  progress: bool = True) -> IngestReport:
    """Ingest these photos from under root."""
    report = IngestReport(found=len(photos))
    index.create()
    pictures = ThumbnailStore(index.client)
    with tqdm(total=len(photos), unit="photo", desc="ingest", disable=not progress) as bar:
        for batch in _batches(photos, batch_size):
            loaded = [(photo, photo.path.read_bytes()) for photo in batch]
            ids = [hashlib.sha256(data).hexdigest()[:32] for _, data in loaded]
            present = index.existing_ids(ids)
            todo = [(i, *item) for i, item in zip(ids, loaded, strict=True) if i not in present]
            report.already_present += len(batch) - len(todo)
            specimens = _encode(todo, encoder, root, report)
            report.added += index.insert(specimens)
            # Also for specimens ingested before thumbnails were kept.
            unseen = pictures.missing([i for i in ids if i in present]) | \
                {s.id for s in specimens}
            pictures.put({i: thumbnail for i, (_, data) in zip(ids, loaded, strict=True)
                          if i in unseen and (thumbnail := _thumbnail(data))})
            report.labels.update(photo.label for photo in batch)
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
    for photo_id, photo, data in todo:
        try:
            (encoded,) = encoder.encode([data])
        except Exception as exc:  # one bad file must not stop the gallery
            report.unreadable.append(f"{photo.path}: {type(exc).__name__}")
            continue
        specimens.append(Specimen(id=photo_id, label=photo.label,
                                  source=str(photo.path.relative_to(root)),
                                  embedding=encoded.vector, specimen=photo.specimen))
    return specimens
