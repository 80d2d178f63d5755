"""Does a head learned from the reference collection beat nearest neighbours? By measurement.

    python bench/head_vs_neighbours.py [--trilobites DIR] [--folds 10] [--min-stage 5]
                                       [--gallery-per-class 20] [--out /tmp/head_report.md]

All candidates read the L2-normalised efficientnet-lite0 embeddings (one thread), and every
split keeps a specimen's photos on one side (StratifiedGroupKFold by specimen):

- kNN as the service scores it (rag/fusion.py): the k=10 neighbours, each label weighted
  Σ exp((s − s0)/T), top label. s0 and the open-set share shift no label against another, so
  the probabilities here are the label weights normalised among themselves;
- prototypes: the normalised mean per label, nearest by cosine (its softmax, T=0.05, has the
  same top label and serves as the probabilities of "kNN + prototypes");
- logistic regression (lbfgs: multinomial) for C × class_weight;
- kNN + logistic regression: the mean of their probabilities, the LR fixed up front (--combo-c,
  balanced) rather than picked from the results.

"vs kNN" is McNemar against kNN T=0.05: b = photos kNN gets right and the method wrong, c the
reverse, p the exact two-sided binomial p of b against c. The real photos are all trilobites,
so their label sets (part shown; geological stage) are proxies, not the four-group problem.
"""

import argparse
import csv
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paleon.tools.gallery import write_gallery  # noqa: E402
from rag.encoders import build_encoder  # noqa: E402

Predictor = Callable[[np.ndarray], np.ndarray]  # query vectors → (queries, labels) probabilities
Fitter = Callable[[np.ndarray, np.ndarray, int], Predictor]  # (vectors, label ids, labels)
BASELINE = "kNN k=10 T=0.05"


def knn(k: int, temperature: float) -> Fitter:
    def fit(x: np.ndarray, y: np.ndarray, n: int) -> Predictor:
        def predict(q: np.ndarray) -> np.ndarray:
            sims = q @ x.T
            top = np.argsort(-sims, axis=1)[:, :k]
            s = np.take_along_axis(sims, top, axis=1)
            weights = np.exp((s - s[:, :1]) / temperature)  # relative to the best: no overflow
            probs = np.zeros((len(q), n))
            np.add.at(probs, (np.arange(len(q))[:, None], y[top]), weights)
            return probs / probs.sum(axis=1, keepdims=True)
        return predict
    return fit


def prototypes(temperature: float) -> Fitter:
    def fit(x: np.ndarray, y: np.ndarray, n: int) -> Predictor:
        centres = np.stack([x[y == c].sum(axis=0) for c in range(n)])  # a label absent: zeros
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)

        def predict(q: np.ndarray) -> np.ndarray:
            logits = q @ centres.T / temperature
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            return probs / probs.sum(axis=1, keepdims=True)
        return predict
    return fit


def logistic(c: float, balanced: bool) -> Fitter:
    def fit(x: np.ndarray, y: np.ndarray, n: int) -> Predictor:
        model = LogisticRegression(C=c, class_weight="balanced" if balanced else None,
                                   max_iter=5000).fit(x, y)

        def predict(q: np.ndarray) -> np.ndarray:
            probs = np.zeros((len(q), n))
            probs[:, model.classes_] = model.predict_proba(q)
            return probs
        return predict
    return fit


def average(*fitters: Fitter) -> Fitter:
    def fit(x: np.ndarray, y: np.ndarray, n: int) -> Predictor:
        predictors = [f(x, y, n) for f in fitters]
        return lambda q: np.mean([p(q) for p in predictors], axis=0)
    return fit


def candidates(cs: list[float], combo_c: float) -> dict[str, Fitter]:
    methods: dict[str, Fitter] = {f"kNN k=10 T={t}": knn(10, t) for t in (0.05, 0.02, 0.1)}
    methods["prototypes (cosine)"] = prototypes(0.05)
    for c in cs:
        for balanced in (False, True):
            methods[f"LR C={c}{' balanced' if balanced else ''}"] = logistic(c, balanced)
    methods[f"kNN + LR C={combo_c} balanced"] = average(knn(10, 0.05), logistic(combo_c, True))
    methods["kNN + prototypes"] = average(knn(10, 0.05), prototypes(0.05))
    return methods


def evaluate(vectors: np.ndarray, labels: list[str], specimens: list[str], folds: int,
             methods: dict[str, Fitter]) -> str:
    names = sorted(set(labels))
    y, groups = np.array([names.index(label) for label in labels]), np.array(specimens)
    predicted = {m: np.empty(len(y), dtype=int) for m in methods}
    fit_seconds: dict[str, list[float]] = {m: [] for m in methods}
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():  # a label with fewer specimens than folds: still split
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        splits = list(splitter.split(vectors, y, groups))
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])  # the point of the split
        for name, fitter in methods.items():
            start = time.process_time()
            predictor = fitter(vectors[train], y[train], len(names))
            fit_seconds[name].append(time.process_time() - start)
            predicted[name][test] = predictor(vectors[test]).argmax(axis=1)

    base_right = predicted[BASELINE] == y
    lines = ["| method | top-1 | balanced | worst label | errors | vs kNN: b / c (p) "
             "| fit CPU s/fold |", "|---|---|---|---|---|---|---|"]
    for name in methods:
        right = predicted[name] == y
        b, c = int((base_right & ~right).sum()), int((right & ~base_right).sum())
        p = binomtest(b, b + c).pvalue if b + c else 1.0
        worst = min(range(len(names)), key=lambda k: right[y == k].mean())
        hits, size = int(right[y == worst].sum()), int((y == worst).sum())
        lines.append(f"| {name} | {100 * right.mean():.1f}% "
                     f"| {100 * balanced_accuracy_score(y, predicted[name]):.1f}% "
                     f"| {names[worst]} {hits}/{size} | {int((~right).sum())} "
                     f"| {b} / {c} ({p:.2f}) "
                     f"| {np.mean(fit_seconds[name]):.4f} |")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(Counter(labels).items()))
    return (f"{len(y)} images, {len(set(specimens))} specimens, {folds} folds; {counts}\n\n"
            + "\n".join(lines))


def scale_probe(vectors: np.ndarray, methods: dict[str, Fitter], refs: int, n: int) -> str:
    """Fit CPU seconds on `refs` references over `n` labels: real embeddings as label centres,
    jittered and renormalised (timing only; the accuracy of this set means nothing)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, n, refs)
    x = vectors[rng.choice(len(vectors), n, replace=False)][y]
    x = x + rng.normal(0, 0.7 / np.sqrt(x.shape[1]), x.shape)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    lines = [f"| method | fit CPU s ({refs} refs × {x.shape[1]}-d, {n} labels) |", "|---|---|"]
    for name, fitter in methods.items():
        start = time.process_time()
        fitter(x, y, n)
        lines.append(f"| {name} | {time.process_time() - start:.2f} |")
    return "\n".join(lines)


def encode(images: list[bytes], batch: int = 8) -> np.ndarray:
    encoder = build_encoder("efficientnet-lite0", threads=1)
    vectors = [e.vector for s in range(0, len(images), batch)
               for e in encoder.encode(images[s:s + batch])]
    return np.stack(vectors).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trilobites", type=Path,
                        default=Path("/work/shared/realphotos/trilobites"))
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--min-stage", type=int, default=5,
                        help="specimens a geological stage needs to be a label")
    parser.add_argument("--gallery-per-class", type=int, default=20)
    parser.add_argument("--cs", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--combo-c", type=float, default=10.0)
    parser.add_argument("--scale-refs", type=int, default=5000)
    parser.add_argument("--scale-labels", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("/tmp/head_report.md"))
    args = parser.parse_args()
    methods = candidates(args.cs, args.combo_c)
    sections = []

    def report(title: str, body: str) -> None:
        print(f"\n## {title}\n\n{body}", flush=True)
        sections.append(f"## {title}\n\n{body}\n")

    with open(args.trilobites / "specimens.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    photos = encode([(args.trilobites / r["file"]).read_bytes() for r in rows])
    specimens = [r["specimen"] for r in rows]
    report("Real photos, part shown (proxy: cephalon vs pygidium)",
           evaluate(photos, [r["part"] for r in rows], specimens, args.folds, methods))

    def specimens_per(column: str) -> Counter[str]:
        return Counter(v for v, _ in {(r[column], r["specimen"]) for r in rows} if v)

    genera = {g: k for g, k in specimens_per("genus").items() if k >= 2}
    stages = {s for s, k in specimens_per("min_age").items() if k >= args.min_stage}
    keep = [i for i, r in enumerate(rows) if r["min_age"] in stages]
    report(f"Real photos, geological stage with ≥{args.min_stage} specimens (proxy, many-class)",
           f"Genus is no many-class set here: genera with ≥2 specimens: {len(genera)} "
           f"({', '.join(genera)}). The stage (min_age) is used instead: it speaks of the "
           f"fauna, not of one look.\n\n"
           + evaluate(photos[keep], [rows[i]["min_age"] for i in keep],
                      [specimens[i] for i in keep], args.folds, methods))

    for hard in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_gallery(Path(tmp), args.gallery_per_class, hard=hard)
            items = [(label, p.read_bytes()) for label in paths for p in paths[label]]
        vectors = encode([data for _, data in items])
        report(f"Synthetic drawings{' (hard=True)' if hard else ''}: sanity check",
               evaluate(vectors, [label for label, _ in items],
                        [str(i) for i in range(len(items))], args.folds, methods))

    report("Fit time at collection scale",
           scale_probe(photos, methods, args.scale_refs, args.scale_labels))
    args.out.write_text(f"# {__doc__.split(chr(10))[0]}\n\n" + "\n".join(sections))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main()
