"""Measure identification on a labelled folder: top-1/top-5, per-class recall, confusion,
calibration (ECE, NLL), and optionally fit the fusion temperature.

A stated age per class (a folder named `<label>@<age>`, or a file of label: age) is applied
as the identification's age prior; the report then gives top-1 with and without it."""

import hashlib
import math
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from configs.calibration import Calibration
from rag.compose import compose
from rag.encoders import ImageEncoder
from rag.fusion import age_prior, combine, image_evidence, label_key
from rag.geology import AgeInterval, parse_age
from rag.ingest import ingest_photos, scan
from rag.knowledge import KnowledgeBase
from rag.pipeline import model_info
from rag.records import Hit, ImageNetClass
from rag.result import IdentificationResult
from rag.specimens import SpecimenIndex

TEMPERATURES = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2)


@dataclass
class Query:
    label: str  # the label key: knowledge-base id when the folder names an entry
    id: str
    hits: list[Hit]
    classes: list[ImageNetClass]
    age: AgeInterval | None = None


@dataclass
class EvalReport:
    queries: int
    references: int
    top1: float
    top5: float
    per_class_recall: dict[str, float]
    confusion: dict[str, dict[str, int]]  # true label → predicted top-1 → count
    outcomes: dict[str, int]  # identified / rolled_up / unidentified
    ece: float  # expected calibration error of the top-1 confidence, 10 bins
    nll: float  # mean negative log-likelihood of the true label
    calibration: dict[str, float]
    fitted_temperature: float | None = None
    fitted_nll: float | None = None
    with_age: int = 0  # queries with a stated age
    top1_without_prior: float | None = None  # when any query has an age
    fixed_by_prior: int = 0  # wrong top-1 from the photos alone, right with the age
    broken_by_prior: int = 0  # right from the photos alone, wrong with the age
    unreadable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def split(photos: list[tuple[str, Path]], holdout: float) -> tuple[list, list]:
    """Per label, the `holdout` share of photos (at least one, ordered by a hash of the name:
    stable, no seed) are queries; the rest are references."""
    by_label: dict[str, list[Path]] = defaultdict(list)
    for label, path in photos:
        by_label[label].append(path)
    references, queries = [], []
    for label, paths in sorted(by_label.items()):
        paths.sort(key=lambda p: hashlib.sha256(f"{label}/{p.name}".encode()).hexdigest())
        cut = max(1, round(len(paths) * holdout)) if len(paths) > 1 else 0
        queries += [(label, p) for p in paths[:cut]]
        references += [(label, p) for p in paths[cut:]]
    return references, queries


def stated_ages(photos: list[tuple[str, Path]], ages: dict[str, str] | None
                ) -> tuple[list[tuple[str, Path]], dict[str, AgeInterval]]:
    """The photos under their plain labels (a folder `<label>@<age>` is `<label>`), and the
    age per label: from the folder names, then from `ages` (label → age), which wins."""
    plain, stated = [], {}
    for label, path in photos:
        name, _, age = label.partition("@")
        plain.append((name.strip(), path))
        if age.strip():
            stated[name.strip()] = age.strip()
    stated.update(ages or {})
    try:
        return plain, {label: parse_age(age) for label, age in stated.items()}
    except ValueError as exc:
        raise ValueError(f"stated age: {exc}") from None


def _search(photos: list[tuple[str, Path]], encoder: ImageEncoder, index: SpecimenIndex,
            kb: KnowledgeBase, k: int, progress: bool,
            ages: dict[str, AgeInterval]) -> tuple[list[Query], list[str]]:
    out, unreadable = [], []
    for label, path in tqdm(photos, unit="photo", desc="eval", disable=not progress):
        data = path.read_bytes()
        own_id = hashlib.sha256(data).hexdigest()[:32]
        try:
            (encoded,) = encoder.encode([data])
        except Exception as exc:  # one bad photo must not stop the run
            unreadable.append(f"{path}: {type(exc).__name__}")
            continue
        (hits,) = index.search([encoded.vector], k + 1)
        hits = [hit for hit in hits if hit.id != own_id][:k]  # never find itself
        out.append(Query(label_key(kb, label), own_id, hits, encoded.top_classes,
                         ages.get(label)))
    return out, unreadable


def score(queries: list[Query], kb: KnowledgeBase, cal: Calibration, encoder: str,
          references: int) -> EvalReport:
    info = model_info(encoder, kb, cal, None)
    top1 = top5 = 0
    confusion: dict[str, Counter] = defaultdict(Counter)
    outcomes: Counter = Counter()
    bins: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    nll = 0.0
    fixed = broken = 0
    without_prior = 0
    for q in queries:
        result = compose([q.hits], [q.classes], kb, cal, info, age=q.age)
        keys = [c.taxon_id or c.taxon for c in result.candidates]
        predicted = _top1(result)
        confidence = result.candidates[0].confidence if result.candidates else 0.0
        correct = predicted == q.label
        correct_without = correct if q.age is None else \
            _top1(compose([q.hits], [q.classes], kb, cal, info)) == q.label
        without_prior += correct_without
        fixed += correct and not correct_without
        broken += correct_without and not correct
        top1 += correct
        top5 += q.label in keys[:5]
        confusion[q.label][predicted] += 1
        outcomes[result.identification.status] += 1
        bins[min(int(confidence * 10), 9)].append((confidence, correct))
        nll += _nll(q, kb, cal)
    n = max(len(queries), 1)
    ece = sum(abs(sum(c for c, _ in b) / len(b) - sum(ok for _, ok in b) / len(b)) * len(b)
              for b in bins.values()) / n
    recall = {label: round(row[label] / sum(row.values()), 4)
              for label, row in sorted(confusion.items())}
    return EvalReport(
        queries=len(queries), references=references, top1=round(top1 / n, 4),
        top5=round(top5 / n, 4), per_class_recall=recall,
        confusion={label: dict(row) for label, row in sorted(confusion.items())},
        outcomes=dict(outcomes), ece=round(ece, 4), nll=round(nll / n, 4),
        calibration=cal.model_dump(), with_age=sum(q.age is not None for q in queries),
        top1_without_prior=round(without_prior / n, 4)
        if any(q.age is not None for q in queries) else None,
        fixed_by_prior=fixed, broken_by_prior=broken)


def _top1(result: IdentificationResult) -> str:
    first = result.candidates[0] if result.candidates else None
    return (first.taxon_id or first.taxon) if first else "(nothing)"


def _nll(q: Query, kb: KnowledgeBase, cal: Calibration) -> float:
    evidence = combine([image_evidence(q.hits, q.classes, kb, cal)])
    if q.age is not None:
        evidence = age_prior(evidence, q.age, kb, cal)
    return -math.log(max(evidence.scores.get(q.label, 0.0), 1e-6))


def fit_temperature(queries: list[Query], kb: KnowledgeBase,
                    cal: Calibration) -> tuple[float, float]:
    """Temperature scaling: the T of TEMPERATURES with the lowest held-out NLL."""
    def mean_nll(t: float) -> float:
        trial = cal.model_copy(update={"temperature": t})
        return sum(_nll(q, kb, trial) for q in queries) / max(len(queries), 1)
    best = min(TEMPERATURES, key=mean_nll)
    return best, round(mean_nll(best), 4)


def evaluate(root: Path, encoder: ImageEncoder, index: SpecimenIndex, kb: KnowledgeBase,
             cal: Calibration, *, k: int, holdout: float | None = None, calibrate: bool = False,
             progress: bool = True, ages: dict[str, str] | None = None) -> EvalReport:
    """Without `holdout`, DIR is queried against the indexed specimens; with it, DIR is
    split into references (indexed into a temporary collection, dropped after) and queries."""
    if holdout is not None and not 0 < holdout < 1:
        raise ValueError(f"--holdout is a fraction between 0 and 1, not {holdout}")
    photos, stated = stated_ages(scan(root), ages)
    if not photos:
        raise ValueError(f"{root} holds no photos in <label>/ sub-folders")
    if holdout is None:
        queries, unreadable = _search(photos, encoder, index, kb, k, progress, stated)
        references = index.count()
    else:
        reference_photos, query_photos = split(photos, holdout)
        if not reference_photos or not query_photos:
            raise ValueError(f"holdout {holdout} leaves no references or no queries")
        index = SpecimenIndex(index.client, index.dim, f"eval_{uuid.uuid4().hex[:12]}")
        try:
            report = ingest_photos(root, reference_photos, encoder, index, progress=progress)
            queries, unreadable = _search(query_photos, encoder, index, kb, k, progress,
                                         stated)
            references = report.total_in_index
        finally:
            index.client.drop_collection(index.collection)
    result = score(queries, kb, cal, encoder.name, references)
    result.unreadable = unreadable
    if calibrate:
        result.fitted_temperature, result.fitted_nll = fit_temperature(queries, kb, cal)
    return result
