"""Measure identification on a labelled folder, split by specimen: no specimen's photos are
both references and queries. Scoring is in rag/eval_report.py.

With `holdout`, the references go into a temporary collection and, unless told not to, the
calibration is fitted on that collection alone (its references searched against each
other, rag/calibrate/), never on the queries. Without it, DIR is queried against the
indexed collection under the fit stored with it.

A stated age per class (a folder named `<label>@<age>`, or a file of label: age) is applied
as the identification's age prior; the report then gives top-1 with and without it."""

import hashlib
import uuid
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from configs.calibration import Calibration
from rag.calibrate.run import calibrate as fit_collection
from rag.calibrate.store import CalibrationStore
from rag.encoders import ImageEncoder
from rag.eval_report import EvalReport, Query, score
from rag.fusion import label_key
from rag.geology import AgeInterval, parse_age
from rag.ingest import Photo, ingest_photos, scan
from rag.knowledge import KnowledgeBase
from rag.pipeline import calibration_info
from rag.result import CalibrationInfo
from rag.specimens import SpecimenIndex

__all__ = ["EvalReport", "evaluate", "split"]


def split(photos: list[Photo], holdout: float) -> tuple[list[Photo], list[Photo]]:
    """Per label, the `holdout` share of specimens (at least one, ordered by a hash of the
    specimen: stable, no seed) are queries, with all their photos; the rest references."""
    by_label: dict[str, dict[str, list[Photo]]] = defaultdict(lambda: defaultdict(list))
    for photo in photos:
        by_label[photo.label][photo.specimen or f"{photo.label}/{photo.path.name}"].append(photo)
    references: list[Photo] = []
    queries: list[Photo] = []
    for _, specimens in sorted(by_label.items()):
        order = sorted(specimens, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
        # At least one specimen each side, when there are two.
        cut = min(max(1, round(len(order) * holdout)), len(order) - 1)
        queries += [p for s in order[:cut] for p in specimens[s]]
        references += [p for s in order[cut:] for p in specimens[s]]
    return references, queries


def stated_ages(photos: list[Photo], ages: dict[str, str] | None
                ) -> tuple[list[Photo], dict[str, AgeInterval]]:
    """The photos under their plain labels (a folder `<label>@<age>` is `<label>`), and the
    age per label: from the folder names, then from `ages` (label → age), which wins."""
    plain, stated = [], {}
    for photo in photos:
        name, _, age = photo.label.partition("@")
        specimen = photo.specimen.replace(photo.label, name.strip(), 1)
        plain.append(Photo(name.strip(), photo.path, specimen))
        if age.strip():
            stated[name.strip()] = age.strip()
    stated.update(ages or {})
    try:
        return plain, {label: parse_age(age) for label, age in stated.items()}
    except ValueError as exc:
        raise ValueError(f"stated age: {exc}") from None


def _search(photos: list[Photo], encoder: ImageEncoder, index: SpecimenIndex,
            kb: KnowledgeBase, k: int, progress: bool,
            ages: dict[str, AgeInterval]) -> tuple[list[Query], list[str]]:
    out, unreadable = [], []
    for photo in tqdm(photos, unit="photo", desc="eval", disable=not progress):
        data = photo.path.read_bytes()
        own_id = hashlib.sha256(data).hexdigest()[:32]
        try:
            (encoded,) = encoder.encode([data])
        except Exception as exc:  # one bad photo must not stop the run
            unreadable.append(f"{photo.path}: {type(exc).__name__}")
            continue
        (hits,) = index.search([encoded.vector], k + 1)
        hits = [hit for hit in hits if hit.id != own_id][:k]  # never find itself
        out.append(Query(label_key(kb, photo.label), own_id, hits, encoded.top_classes,
                         ages.get(photo.label), photo.specimen or own_id))
    return out, unreadable


def evaluate(root: Path, encoder: ImageEncoder, index: SpecimenIndex, kb: KnowledgeBase,
             cal: Calibration, *, k: int, holdout: float | None = None,
             calibrate: bool = True, group_by: str | None = None, progress: bool = True,
             ages: dict[str, str] | None = None) -> EvalReport:
    """Without `holdout`, DIR is queried against the indexed specimens (under their stored
    fit, when `calibrate`); with it, DIR is split by specimen into references (indexed into
    a temporary collection, dropped after; the fit made on them, when `calibrate`) and
    queries."""
    if holdout is not None and not 0 < holdout < 1:
        raise ValueError(f"--holdout is a fraction between 0 and 1, not {holdout}")
    photos, stated = stated_ages(scan(root, group_by), ages)
    if not photos:
        raise ValueError(f"{root} holds no photos in <label>/ sub-folders")
    used: CalibrationInfo = calibration_info(cal)
    note = "the settings' defaults"
    if holdout is None:
        if calibrate and (stored := CalibrationStore(index.client, index.collection).current()):
            used = stored.model_copy(update={"parameters": cal.with_fit(stored.parameters)})
            note = f"the collection's fit, version {stored.version}"
        queries, unreadable = _search(photos, encoder, index, kb, k, progress, stated)
        references, reference_specimens = index.count(), 0
    else:
        reference_photos, query_photos = split(photos, holdout)
        if not reference_photos or not query_photos:
            raise ValueError(f"holdout {holdout} leaves no references or no queries")
        index = SpecimenIndex(index.client, index.dim, f"eval_{uuid.uuid4().hex[:12]}")
        try:
            report = ingest_photos(root, reference_photos, encoder, index, progress=progress)
            if calibrate:
                fitted = fit_collection(index, kb, cal, encoder.name, k).fit
                if fitted.fitted:
                    used = CalibrationInfo(source="fitted", encoder=encoder.identity.key(),
                                           figures=fitted.figures,
                                           parameters=fitted.calibration)
                    note = "fitted on the reference side"
                else:
                    note = fitted.reason
            queries, unreadable = _search(query_photos, encoder, index, kb, k, progress,
                                         stated)
            references = report.total_in_index
            reference_specimens = len({p.specimen or str(p.path) for p in reference_photos})
        finally:
            index.client.drop_collection(index.collection)
    result = score(queries, kb, used, encoder.name, references)
    result.unreadable = unreadable
    result.reference_specimens = reference_specimens
    result.calibration_note = note
    return result
