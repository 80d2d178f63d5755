"""Evidence fusion: neighbours → calibrated per-image scores → one specimen → a named rank.

Calibration. For one photo with neighbours j (cosine similarity s_j, label l_j) each label
gets the weight Σ_{j: l_j = label} exp((s_j - s0) / T), and an open-set "none of these" gets
one unit per neighbour: the weight a neighbour at exactly s0 would have. Normalised, these are
a temperature-scaled softmax with an open-set reference: confidence falls when neighbours
disagree (their weight is split) and when they are only faintly similar (the open set wins).
The confidence shown is a Platt map of that probability (`Calibration.confidence`). T, s0,
the map and the threshold are fitted per collection by `paleon calibrate` (rag/calibrate/),
on photos of the collection's own references searched against the other specimens.

ImageNet's own classes are weak evidence, kept apart from the collection's: they answer,
as a roll-up to the taxon a class stands for, only when the collection names nothing.
"""

import math
from collections import defaultdict
from dataclasses import dataclass

from configs.calibration import Calibration
from rag.geology import AgeInterval
from rag.knowledge import KnowledgeBase
from rag.records import Hit, ImageNetClass
from rag.result import WeakEvidence


@dataclass(frozen=True)
class ImageEvidence:
    scores: dict[str, float]  # label key → probability, without the open set
    unknown: float
    best_similarity: float | None
    weak: list[WeakEvidence]  # ImageNet classes that pointed at knowledge-base entries
    views: int = 1  # photos combined into this evidence


def label_key(kb: KnowledgeBase, label: str) -> str:
    """A gallery label as a knowledge-base id when it names an entry, else as it is."""
    entry = kb.resolve(label)
    return entry.id if entry else label


def image_evidence(hits: list[Hit], classes: list[ImageNetClass], kb: KnowledgeBase,
                   cal: Calibration) -> ImageEvidence:
    # Weights relative to the largest exponent (log-sum-exp): no overflow at any T.
    exponents = [(hit.score - cal.open_set_similarity) / cal.temperature for hit in hits]
    top = max([0.0, *exponents])
    weights: dict[str, float] = defaultdict(float)
    for hit, exponent in zip(hits, exponents, strict=True):
        weights[label_key(kb, hit.label)] += math.exp(exponent - top)
    unknown_weight = max(len(hits), 1) * math.exp(-top)
    total = sum(weights.values()) + unknown_weight
    scores = {key: w / total for key, w in weights.items()}
    best = max((hit.score for hit in hits), default=None)
    return ImageEvidence(scores, unknown_weight / total, best, weak_evidence(classes, kb))


def weak_evidence(classes: list[ImageNetClass], kb: KnowledgeBase) -> list[WeakEvidence]:
    out = []
    for c in classes:
        ids = kb.imagenet.get(c.name)
        if ids:
            taxon = kb.by_id[ids[0]].scientific_name if len(ids) == 1 \
                else kb.common_ancestor(ids)
            out.append(WeakEvidence(imagenet_class=c.name, taxon=taxon, taxon_ids=ids,
                                    score=c.score))
    return out


def combine(images: list[ImageEvidence]) -> ImageEvidence:
    """The photos are views of one specimen: average their distributions (robust to one bad
    view, unlike a product, which lets one confident photo veto the rest)."""
    scores: dict[str, float] = defaultdict(float)
    for image in images:
        for key, p in image.scores.items():
            scores[key] += p / len(images)
    bests = [i.best_similarity for i in images if i.best_similarity is not None]
    return ImageEvidence(dict(scores), sum(i.unknown for i in images) / len(images),
                         max(bests, default=None), [w for i in images for w in i.weak],
                         sum(i.views for i in images))


def per_entry(kb: KnowledgeBase, labels: dict[str, int]) -> dict[str, int]:
    """Counts per gallery label as counts per label key (aliases of one entry summed)."""
    counts: dict[str, int] = defaultdict(int)
    for label, n in labels.items():
        counts[label_key(kb, label)] += n
    return dict(counts)


def range_consistent(key: str, age: AgeInterval | None, kb: KnowledgeBase) -> bool | None:
    """Whether the entry's range overlaps the stated age; None without an age or an entry."""
    entry = kb.by_id.get(key)
    if age is None or entry is None:
        return None
    return age.overlaps(entry.range.first_ma, entry.range.last_ma)


def age_prior(evidence: ImageEvidence, age: AgeInterval, kb: KnowledgeBase,
              cal: Calibration) -> ImageEvidence:
    """The stated age as a soft prior (Bayes' rule): a group whose range misses it keeps
    `age_mismatch_weight` of its weight; groups without a range and the open set keep all
    of theirs. Renormalised, so the weight a misfit loses goes to what fits the age, and
    to the open set when nothing does."""
    weighted = {key: p * (cal.age_mismatch_weight
                          if range_consistent(key, age, kb) is False else 1.0)
                for key, p in evidence.scores.items()}
    total = sum(weighted.values()) + evidence.unknown
    if total <= 0:
        return evidence
    return ImageEvidence({key: p / total for key, p in weighted.items()},
                         evidence.unknown / total, evidence.best_similarity, evidence.weak,
                         evidence.views)


def ranked(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True)
class Decision:
    status: str  # identified | rolled_up | unidentified
    key: str | None  # entry id / gallery label (identified) or taxon name (rolled_up)
    confidence: float
    source: str = "references"  # or "imagenet": a roll-up on weak evidence alone


def ancestor_scores(scores: dict[str, float], kb: KnowledgeBase) -> dict[str, float]:
    """Probability of every lineage node: the sum over the entries below it."""
    nodes: dict[str, float] = defaultdict(float)
    for key, p in scores.items():
        entry = kb.by_id.get(key)
        for taxon in entry.lineage if entry else ():
            nodes[taxon.name] += p
    return dict(nodes)


def decide(evidence: ImageEvidence, kb: KnowledgeBase, cal: Calibration,
           age: AgeInterval | None = None) -> Decision:
    """Name the finest taxon that is confident; else its deepest confident ancestor (as
    iNaturalist does); else what ImageNet's classes alone say strongly enough; else
    nothing."""
    top = ranked(evidence.scores)
    best = cal.confidence(top[0][1]) if top else 0.0
    if top and best >= cal.threshold:
        return Decision("identified", top[0][0], best)
    nodes = ancestor_scores(evidence.scores, kb)
    confident = [(kb.depths[name], c, name) for name, p in nodes.items()
                 if (c := cal.confidence(p)) >= cal.threshold and kb.ranks[name] != "kingdom"]
    if confident:
        _, c, name = max(confident)
        return Decision("rolled_up", name, c)
    return weak_decision(evidence, kb, cal, age) or Decision("unidentified", None, best)


def weak_decision(evidence: ImageEvidence, kb: KnowledgeBase, cal: Calibration,
                  age: AgeInterval | None) -> Decision | None:
    """A roll-up on ImageNet's classes alone: a class's probability, averaged over the
    photos, shared among the entries it may show, weighed by the stated age like the
    collection's evidence (so a Miocene 'chambered nautilus' leans to nautiloids), then
    summed up the lineage; the deepest taxon at `weak_roll_up` or more, below kingdom."""
    shares: dict[str, float] = defaultdict(float)
    for w in evidence.weak:
        weights = [1.0 if range_consistent(key, age, kb) is not False
                   else cal.age_mismatch_weight for key in w.taxon_ids]
        # The class's probability goes to the entries that fit the age; only when none
        # does, it shrinks as the collection's evidence would.
        scale = w.score * max(weights) / sum(weights) / evidence.views
        for key, weight in zip(w.taxon_ids, weights, strict=True):
            shares[key] += scale * weight
    # Only where the collection has nothing to say (the open set holds most of the weight),
    # or where ImageNet's taxon contains the collection's own best guess: weak evidence never
    # overrules the collection's references.
    top = ranked(evidence.scores)
    lineage = {t.name for t in kb.by_id[top[0][0]].lineage} \
        if top and top[0][0] in kb.by_id else set()
    strong = [(kb.depths[name], p, name) for name, p in ancestor_scores(shares, kb).items()
              if p >= cal.weak_roll_up and kb.ranks[name] != "kingdom"
              and (evidence.unknown >= 0.5 or name in lineage)]
    if not strong:
        return None
    _, p, name = max(strong)
    return Decision("rolled_up", name, min(p, 1.0) * cal.weak_evidence_trust, "imagenet")


def pseudofossil_share(scores: dict[str, float], kb: KnowledgeBase) -> float:
    return sum(p for key, p in scores.items()
               if key in kb.by_id and kb.by_id[key].kind == "pseudofossil")
