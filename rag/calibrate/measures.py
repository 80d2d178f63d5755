"""How well confidences mean what they say: ECE, Brier score, risk against coverage."""

import numpy as np


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |accuracy − mean confidence| per equal-width bin,
    weighted by the bin's share of answers."""
    if len(confidence) == 0:
        return 0.0
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += abs(confidence[inside].mean() - correct[inside].mean()) * inside.sum()
    return float(total / len(confidence))


def brier(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Mean squared gap between the confidence and the outcome (0 right, 1 wrong)."""
    return float(np.mean((confidence - correct) ** 2)) if len(confidence) else 0.0


def risk_coverage(confidence: np.ndarray, correct: np.ndarray
                  ) -> tuple[list[dict[str, float]], float]:
    """Answers kept from the most confident down: at each confidence threshold, the share
    kept (coverage) and the share of those that are wrong (risk); and the area under that
    curve (AURC, lower is better: a confidence that ranks answers well keeps the wrong ones
    for last). A constant confidence ranks nothing and scores the plain error rate."""
    if len(confidence) == 0:
        return [], 0.0
    order = np.argsort(-confidence, kind="stable")
    wrong = 1 - correct[order].astype(float)
    kept = np.arange(1, len(order) + 1)
    risks = np.cumsum(wrong) / kept
    # Ties share one point: a threshold cannot split answers of equal confidence.
    last_of_tie = np.r_[confidence[order][1:] != confidence[order][:-1], True]
    aurc = float(np.mean(risks[last_of_tie][np.searchsorted(
        np.flatnonzero(last_of_tie), np.arange(len(order)))]))
    curve = [{"threshold": round(float(t), 2),
              "coverage": round(float(np.mean(confidence >= t)), 4),
              "risk": round(float(1 - correct[confidence >= t].mean()), 4)
              if np.any(confidence >= t) else 0.0}
             for t in np.arange(0.0, 1.0, 0.1)]
    return curve, round(aurc, 4)
