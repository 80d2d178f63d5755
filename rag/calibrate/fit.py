"""The fit: temperature and open-set similarity by likelihood (temperature scaling with an
open set), the confidence map by Platt scaling, and the threshold of an identification by
the wrong answers it lets through. Seconds on a CPU for a few thousand trials."""

from dataclasses import dataclass, field

import numpy as np

from configs.calibration import Calibration
from rag.calibrate.measures import brier, ece
from rag.calibrate.trials import Trials
from rag.records import Hit

TEMPERATURES = (0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.13, 0.16, 0.2)
OPEN_SET = tuple(round(s, 2) for s in np.arange(0.10, 0.96, 0.01))
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.5, 0.991, 0.01))
MIN_TRIALS = 20  # fewer trials of groups that can be found: the defaults stay
MAX_WRONG = 0.02  # identified and wrong, at most this share of the trials
WRONG_COST = 3.0  # a wrong identification costs as much as three right ones are worth


@dataclass(frozen=True)
class Fit:
    calibration: Calibration
    fitted: bool
    reason: str = ""  # why the defaults were kept
    figures: dict[str, float] = field(default_factory=dict)


class _Arrays:
    """Trials' neighbours as padded arrays: similarity, a label index per row, the truth."""

    def __init__(self, rows: list[list[Hit]], truths: list[str] | None):
        k = max((len(r) for r in rows), default=1)
        n = len(rows)
        self.sims = np.full((n, k), -np.inf)
        labels = -1 - np.tile(np.arange(k), (n, 1))  # padding: a label of its own, weight 0
        self.truth = np.zeros((n, k), bool)
        self.count = np.array([max(len(r), 1) for r in rows], float)
        names: dict[str, int] = {}
        for i, row in enumerate(rows):
            for j, hit in enumerate(row):
                self.sims[i, j] = hit.score
                labels[i, j] = names.setdefault(hit.label, len(names))
                self.truth[i, j] = truths is not None and hit.label == truths[i]
        self.same = labels[:, :, None] == labels[:, None, :]  # (n, k, k)
        self.labels = labels

    def probabilities(self, t: float, s0: float) -> tuple[np.ndarray, ...]:
        """P(truth), P(open set), the top label's probability and whether it is the truth."""
        exponent = (self.sims - s0) / t
        top = np.maximum(exponent.max(axis=1, initial=0.0), 0.0)[:, None]
        weights = np.exp(exponent - top)  # padding: exp(-inf) = 0
        unknown = self.count * np.exp(-top[:, 0])
        total = weights.sum(axis=1) + unknown
        per_label = (self.same * weights[:, None, :]).sum(axis=2)
        best = per_label.argmax(axis=1)
        rows = np.arange(len(best))
        return ((weights * self.truth).sum(axis=1) / total, unknown / total,
                per_label[rows, best] / total, self.truth[rows, best])


def fit(trials: Trials, defaults: Calibration) -> Fit:
    """The calibration these trials support, with the figures it reaches on them; the
    defaults, and why, when they are too few."""
    inside = trials.inside()
    if len(inside) < MIN_TRIALS or len(trials.reachable) < 2:
        return Fit(defaults, False, (
            f"too few references to fit: {len(inside)} photos of {len(trials.reachable)} "
            f"group(s) with two specimens or more (at least {MIN_TRIALS} photos of two "
            "groups are needed); the defaults answer"))
    seen = _Arrays([t.inside for t in inside], [t.label for t in inside])
    outside = trials.outside()
    unseen = _Arrays([t.outside for t in outside], None) if outside else None

    def loss(t: float, s0: float) -> float:
        p_true, _, _, _ = seen.probabilities(t, s0)
        value = float(np.mean(-np.log(np.maximum(p_true, 1e-9))))
        if unseen is not None:
            _, p_unknown, _, _ = unseen.probabilities(t, s0)
            value += float(np.mean(-np.log(np.maximum(p_unknown, 1e-9))))
        return value

    # Without photos of groups the collection lacks, nothing tells where the open set
    # begins: s0 keeps its default.
    grid = [(t, s0) for t in TEMPERATURES
            for s0 in (OPEN_SET if unseen is not None else (defaults.open_set_similarity,))]
    # T also decides which group leads (a nearest neighbour's say against the majority's):
    # only temperatures that rank within 1 % of the best take part. s0 changes no ranking.
    right_at = {t: float(seen.probabilities(t, 0.5)[3].mean()) for t in TEMPERATURES}
    ranks_well = {t for t, r in right_at.items() if r >= max(right_at.values()) - 0.01}
    t, s0 = min((pair for pair in grid if pair[0] in ranks_well), key=lambda pair: loss(*pair))
    _, _, top, correct = seen.probabilities(t, s0)
    slope, offset = _platt(top, correct)
    trial_cal = defaults.model_copy(update={
        "temperature": t, "open_set_similarity": s0, "confidence_slope": slope,
        "confidence_offset": offset})
    shown = np.array([trial_cal.confidence(p) for p in top])
    unseen_shown = np.array([trial_cal.confidence(p) for p in unseen.probabilities(t, s0)[2]]
                            ) if unseen is not None else np.array([])
    threshold = _threshold(shown, correct)
    calibration = trial_cal.model_copy(update={"threshold": threshold})
    figures = {
        "trials": len(inside), "open_set_trials": len(outside), "references": trials.references,
        "specimens": trials.specimens, "groups": len(trials.reachable),
        "top1": round(float(correct.mean()), 4), "ece": round(ece(shown, correct), 4),
        "brier": round(brier(shown, correct), 4), "nll": round(loss(t, s0), 4),
        "identified_right": round(float(np.mean((shown >= threshold) & correct)), 4),
        "identified_wrong": round(float(np.mean((shown >= threshold) & ~correct)), 4)}
    if len(unseen_shown):
        figures["open_set_named"] = round(float(np.mean(unseen_shown >= threshold)), 4)
    return Fit(calibration, True, "", figures)


def _platt(top: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """slope and offset of sigmoid(slope · logit(p) + offset) ≈ P(right | p), by Platt's
    method: cross-entropy against his smoothed targets ((n₊ + 1)/(n₊ + 2) for a right
    answer, 1/(n₋ + 2) for a wrong one), so that a collection whose trials are all right
    still gets a finite map. The slope stays at least 1: a flatter map would lift the
    faint probabilities of photos unlike every reference (the open set) along with the
    rest, and no trial shows what such photos are."""
    from scipy.optimize import minimize

    p = np.clip(top, 1e-6, 1 - 1e-6)
    x = np.log(p / (1 - p))
    right, wrong = int(correct.sum()), int((~correct).sum())
    target = np.where(correct, (right + 1) / (right + 2), 1 / (wrong + 2))

    def loss(params: np.ndarray) -> float:
        z = params[0] * x + params[1]
        return float(np.mean(np.logaddexp(0, -z) * target + np.logaddexp(0, z) * (1 - target)))

    bounds = [(1.0, 20.0), (-20.0, 20.0)]
    slope, offset = minimize(loss, np.array([1.0, 0.0]), bounds=bounds, method="L-BFGS-B").x
    return round(float(slope), 4), round(float(offset), 4)


def _threshold(shown: np.ndarray, correct: np.ndarray) -> float:
    """The threshold that names the most right answers, a wrong one costing WRONG_COST,
    with at most MAX_WRONG of the trials identified and wrong; the highest of equals.
    Photos of groups the collection lacks are kept out by s0, fitted on them, and not by
    the threshold: raising it for them would leave right answers of the groups it holds
    unnamed (their share named is reported as `open_set_named`)."""
    best, best_value = THRESHOLDS[-1], -np.inf
    for t in THRESHOLDS:
        named = shown >= t
        right, wrong = float(np.sum(named & correct)), float(np.sum(named & ~correct))
        if wrong > MAX_WRONG * len(shown):
            continue
        value = right - WRONG_COST * wrong
        if value >= best_value:
            best, best_value = t, value
    return float(best)
