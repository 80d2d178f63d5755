"""Scoring an evaluation: the answer each query was shown, whether it was right, and how
well the confidences mean what they say.

The answer shown is the identification when it names a taxon (identified or rolled up),
else the first candidate. It is right when the taxon it names is the query's group or an
ancestor of it. A roll-up is `vague` when the ancestor lies above class rank (Mollusca says
little, Animalia nothing): right, but not counted as a useful answer. (A group named
itself is never vague, whatever its rank: brachiopods are a phylum.)
"""

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from rag.calibrate.measures import brier, ece, risk_coverage
from rag.compose import compose
from rag.fusion import age_prior, combine, image_evidence
from rag.geology import AgeInterval
from rag.knowledge import KnowledgeBase
from rag.pipeline import model_info
from rag.records import Hit, ImageNetClass, NoticeCode
from rag.result import CalibrationInfo, IdentificationResult

ABOVE_CLASS = {"kingdom", "phylum", "subphylum", "division", "category"}


@dataclass
class Query:
    label: str  # the label key: knowledge-base id when the folder names an entry
    id: str
    hits: list[Hit]
    classes: list[ImageNetClass]
    age: AgeInterval | None = None
    specimen: str = ""


@dataclass
class EvalReport:
    queries: int
    references: int
    top1: float
    top5: float
    per_class_recall: dict[str, float]
    confusion: dict[str, dict[str, int]]  # true label → predicted top-1 → count
    outcomes: dict[str, int]  # identified / rolled_up / unidentified
    ece: float  # of the answer shown (module docstring), 10 bins
    nll: float  # mean negative log-likelihood of the true label
    calibration: dict
    balanced_top1: float = 0.0  # mean of per_class_recall
    brier: float = 0.0
    aurc: float = 0.0  # area under the risk-coverage curve of the answer shown
    risk_coverage: list[dict[str, float]] = field(default_factory=list)
    outcome_correct: dict = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)  # right / vague / wrong / none
    right_balanced: float = 0.0  # right (class rank or below), averaged over the groups
    wrong_share: float = 0.0  # named a wrong group, or called a fossil "not a fossil"
    not_a_fossil_said: int = 0  # fossils told they may not be one
    query_specimens: int = 0
    reference_specimens: int = 0
    calibration_note: str = ""
    with_age: int = 0  # queries with a stated age
    top1_without_prior: float | None = None  # when any query has an age
    fixed_by_prior: int = 0  # wrong top-1 from the photos alone, right with the age
    broken_by_prior: int = 0  # right from the photos alone, wrong with the age
    unreadable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def shown(result: IdentificationResult) -> tuple[str | None, float, str | None]:
    """The taxon the answer shown names (entry id or taxon name), its confidence, its rank."""
    ident = result.identification
    if ident.status != "unidentified":
        return ident.taxon_id or ident.taxon, ident.confidence, ident.rank
    first = result.candidates[0] if result.candidates else None
    if first is None:
        return None, 0.0, None
    return first.taxon_id or first.taxon, first.confidence, first.rank


def is_right(named: str | None, truth: str, kb: KnowledgeBase) -> bool:
    if named is None:
        return False
    entry = kb.by_id.get(truth)
    return named == truth or (entry is not None and any(t.name == named
                                                        for t in entry.lineage))


def score(queries: list[Query], kb: KnowledgeBase, cal: CalibrationInfo, encoder: str,
          references: int) -> EvalReport:
    info = model_info(encoder, kb, cal, None)
    params = cal.parameters
    top1 = top5 = 0
    confusion: dict[str, Counter] = defaultdict(Counter)
    outcomes: Counter = Counter()
    correct_by: dict[str, dict[str, int]] = {
        "identified": {"right": 0, "wrong": 0}, "rolled_up": {"right": 0, "wrong": 0}}
    answers: Counter = Counter()
    useful: dict[str, list[bool]] = defaultdict(list)
    confidences, rights = [], []
    nll = 0.0
    fixed = broken = without_prior = not_fossil = 0
    for q in queries:
        result = compose([q.hits], [q.classes], kb, params, info, age=q.age)
        keys = [c.taxon_id or c.taxon for c in result.candidates]
        predicted = keys[0] if keys else "(nothing)"
        correct = predicted == q.label
        correct_without = correct if q.age is None else \
            _top1(compose([q.hits], [q.classes], kb, params, info)) == q.label
        without_prior += correct_without
        fixed += correct and not correct_without
        broken += correct_without and not correct
        top1 += correct
        top5 += q.label in keys[:5]
        confusion[q.label][predicted] += 1
        status = result.identification.status
        outcomes[status] += 1
        named, confidence, rank = shown(result)
        right = is_right(named, q.label, kb)
        confidences.append(confidence)
        rights.append(right)
        said_not_fossil = any(n.code == NoticeCode.NOT_A_FOSSIL for n in result.notices) \
            and q.label in kb.by_id and kb.by_id[q.label].kind != "pseudofossil"
        not_fossil += said_not_fossil
        if status == "unidentified":
            answers["wrong" if said_not_fossil else "none"] += 1
        else:
            correct_by[status]["right" if right else "wrong"] += 1
            vague = named != q.label and rank in ABOVE_CLASS
            verdict = "wrong" if not right or said_not_fossil else \
                "vague" if vague else "right"
            answers[verdict] += 1
        useful[q.label].append(status != "unidentified" and right and not said_not_fossil
                               and not (named != q.label and rank in ABOVE_CLASS))
        nll += _nll(q, kb, params)
    n = max(len(queries), 1)
    conf, ok = np.array(confidences, float), np.array(rights, bool)
    curve, aurc = risk_coverage(conf, ok)
    recall = {label: round(row[label] / sum(row.values()), 4)
              for label, row in sorted(confusion.items())}
    return EvalReport(
        queries=len(queries), references=references, top1=round(top1 / n, 4),
        top5=round(top5 / n, 4), per_class_recall=recall,
        confusion={label: dict(row) for label, row in sorted(confusion.items())},
        outcomes=dict(outcomes), ece=round(ece(conf, ok), 4), nll=round(nll / n, 4),
        calibration=cal.model_dump(mode="json"),
        balanced_top1=round(float(np.mean(list(recall.values()))), 4) if recall else 0.0,
        brier=round(brier(conf, ok), 4), aurc=aurc, risk_coverage=curve,
        outcome_correct={**correct_by, "unidentified": outcomes.get("unidentified", 0)},
        answers={k: answers.get(k, 0) for k in ("right", "vague", "wrong", "none")},
        right_balanced=round(float(np.mean([np.mean(v) for v in useful.values()])), 4)
        if useful else 0.0,
        wrong_share=round(answers.get("wrong", 0) / n, 4), not_a_fossil_said=not_fossil,
        query_specimens=len({q.specimen or q.id for q in queries}),
        with_age=sum(q.age is not None for q in queries),
        top1_without_prior=round(without_prior / n, 4)
        if any(q.age is not None for q in queries) else None,
        fixed_by_prior=fixed, broken_by_prior=broken)


def _top1(result: IdentificationResult) -> str:
    first = result.candidates[0] if result.candidates else None
    return (first.taxon_id or first.taxon) if first else "(nothing)"


def _nll(q: Query, kb: KnowledgeBase, cal) -> float:
    evidence = combine([image_evidence(q.hits, q.classes, kb, cal)])
    if q.age is not None:
        evidence = age_prior(evidence, q.age, kb, cal)
    return -math.log(max(evidence.scores.get(q.label, 0.0), 1e-6))
