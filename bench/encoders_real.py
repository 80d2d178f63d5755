"""Every ENCODERS variant on real photos, in one run: which encoder to ship, by measurement.

    python bench/encoders_real.py [--trilobites DIR] [--extra DIR] [--variants NAME ...]
                                  [--out /tmp/encoders_report.md]

Real photos: `--trilobites` (a specimens.csv with file,specimen,... columns) and, when it
exists, `--extra` laid out as <group>/<specimen>/<n>.jpg or <group>/<photo>.jpg (then each
photo is its own specimen). Every split is by specimen: a photo is never matched against
another photo of its own specimen. Per variant:

- group top-1 / balanced: leave-one-specimen-out nearest neighbour over groups (needs ≥2);
- part balanced: the same among the trilobites, over the part shown (cephalon, pygidium):
  a finer distinction the real photos themselves label;
- real / drawing / margin: for each trilobite photo, the cosine of its best other-specimen
  photo and of its best synthetic drawing (paleon.tools.gallery); the margin (real − drawing,
  mean, and its 5th percentile: the worst photos) say how apart photos and drawings lie;
- "trilobite" top-1 / top-3: the share whose ImageNet top class(es) name a trilobite;
- time: encode time per photo, batch 1, in this process, as a ratio to efficientnet-lite0
  measured in the same rounds (this machine is noisy; rounds interleave the variants).
"""

import argparse
import csv
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paleon.tools.gallery import write_gallery  # noqa: E402
from rag.encoders import ENCODERS, EfficientNetLiteEncoder  # noqa: E402

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
BASELINE = "efficientnet-lite0"


@dataclass(frozen=True, slots=True)
class Photo:
    group: str
    specimen: str  # unique across groups
    data: bytes
    part: str = ""  # the trilobites' specimens.csv names the part shown


@dataclass(frozen=True, slots=True)
class Row:
    variant: str
    identity: str
    group_top1: float | None
    group_balanced: float | None
    part_balanced: float | None
    real: float
    drawing: float
    margin: float
    margin_p5: float
    trilobite_top1: float
    trilobite_top3: float
    ms_per_photo: float = 0.0
    time_ratio: float = 0.0


def trilobite_photos(folder: Path) -> list[Photo]:
    with open(folder / "specimens.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [Photo("trilobites", f"trilobites/{r['specimen']}", (folder / r["file"]).read_bytes(),
                  r["part"]) for r in rows]


def extra_photos(folder: Path) -> list[Photo]:
    photos = []
    for group in sorted(p for p in folder.iterdir() if p.is_dir()):
        for entry in sorted(group.iterdir()):
            if entry.is_dir():  # <group>/<specimen>/<n>.jpg
                files = sorted(p for p in entry.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
                photos += [Photo(group.name, f"{group.name}/{entry.name}", p.read_bytes())
                           for p in files]
            elif entry.suffix.lower() in PHOTO_SUFFIXES:  # <group>/<photo>.jpg
                photos.append(Photo(group.name, f"{group.name}/{entry.stem}", entry.read_bytes()))
    return photos


def encode(encoder: EfficientNetLiteEncoder, images: list[bytes], batch: int):
    """(unit vectors as one matrix, each photo's top ImageNet class names)."""
    vectors, classes = [], []
    for start in range(0, len(images), batch):
        for embedding in encoder.encode(images[start:start + batch]):
            vectors.append(embedding.vector)
            classes.append([c.name for c in embedding.top_classes])
    return np.stack(vectors), classes


def nn_accuracy(vectors: np.ndarray, labels: list[str],
                specimens: list[str]) -> tuple[float, float] | None:
    """Leave-one-specimen-out nearest-neighbour top-1 and balanced accuracy over labels."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        return None
    ids, truth = np.array(specimens), np.array(labels)
    similarity = vectors @ vectors.T
    similarity[ids[:, None] == ids[None, :]] = -np.inf  # own specimen: held out
    right = truth[similarity.argmax(axis=1)] == truth
    recalls = [right[truth == c].mean() for c in classes]
    return float(right.mean()), float(np.mean(recalls))


def photo_vs_drawing(vectors: np.ndarray, specimens: list[str],
                     drawings: np.ndarray) -> tuple[float, float, float, float]:
    """Mean best other-specimen cosine, mean best drawing cosine, margin: mean, 5th percentile."""
    ids = np.array(specimens)
    similarity = vectors @ vectors.T
    similarity[ids[:, None] == ids[None, :]] = -np.inf
    real = similarity.max(axis=1)
    drawing = (vectors @ drawings.T).max(axis=1)
    margin = real - drawing
    return float(real.mean()), float(drawing.mean()), float(margin.mean()), \
        float(np.percentile(margin, 5))


def per_photo_seconds(encoders: dict[str, EfficientNetLiteEncoder], images: list[bytes],
                      rounds: int) -> dict[str, float]:
    """Batch-1 seconds per photo, the best of `rounds` interleaved passes per variant."""
    best = dict.fromkeys(encoders, float("inf"))
    for _ in tqdm(range(rounds), desc="timing", leave=False):
        for name, encoder in encoders.items():
            encoder.encode(images[:1])  # warm: the batch-1 graph, caches
            start = time.perf_counter()
            for image in images:
                encoder.encode([image])
            best[name] = min(best[name], (time.perf_counter() - start) / len(images))
    return best


def table(rows: list[Row]) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    lines = ["| variant | identity | group top-1 | group balanced | part balanced | real "
             "| drawing | margin | margin p5 | trilobite top-1 | trilobite top-3 | ms/photo "
             "| time × lite0 |", "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r.variant} | {r.identity} | {pct(r.group_top1)} | {pct(r.group_balanced)} "
            f"| {pct(r.part_balanced)} | {r.real:.3f} | {r.drawing:.3f} | {r.margin:+.3f} "
            f"| {r.margin_p5:+.3f} "
            f"| {pct(r.trilobite_top1)} | {pct(r.trilobite_top3)} | {r.ms_per_photo:.1f} "
            f"| {r.time_ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trilobites", type=Path,
                        default=Path("/work/shared/realphotos/trilobites"))
    parser.add_argument("--extra", type=Path, default=Path("/work/realphotos_extra"))
    parser.add_argument("--variants", nargs="+", default=list(ENCODERS), choices=list(ENCODERS))
    parser.add_argument("--gallery-per-class", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--timing-photos", type=int, default=32)
    parser.add_argument("--timing-rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("/tmp/encoders_report.md"))
    args = parser.parse_args()
    variants = [BASELINE] + [v for v in args.variants if v != BASELINE]  # the ratios' base

    photos = trilobite_photos(args.trilobites)
    if args.extra.is_dir():
        photos += extra_photos(args.extra)
    trilobites = [i for i, p in enumerate(photos) if p.group == "trilobites"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_gallery(Path(tmp), args.gallery_per_class)
        drawings = [p.read_bytes() for label in paths for p in paths[label]]

    encoders: dict[str, EfficientNetLiteEncoder] = {}
    rows = []
    for name in tqdm(variants, desc="variants"):
        encoder = ENCODERS[name](threads=args.threads)
        encoders[name] = encoder
        vectors, classes = encode(encoder, [p.data for p in photos], args.batch)
        drawing_vectors, _ = encode(encoder, drawings, args.batch)
        groups = nn_accuracy(vectors, [p.group for p in photos], [p.specimen for p in photos])
        trilobite_specimens = [photos[i].specimen for i in trilobites]
        parts = nn_accuracy(vectors[trilobites], [photos[i].part for i in trilobites],
                            trilobite_specimens)
        real, drawing, margin, margin_p5 = photo_vs_drawing(
            vectors[trilobites], trilobite_specimens, drawing_vectors)
        rows.append(Row(
            name, encoder.identity.key(), groups[0] if groups else None,
            groups[1] if groups else None, parts[1] if parts else None, real, drawing, margin,
            margin_p5,
            float(np.mean([classes[i][0] == "trilobite" for i in trilobites])),
            float(np.mean(["trilobite" in classes[i] for i in trilobites]))))

    seconds = per_photo_seconds(encoders, [p.data for p in photos[:args.timing_photos]],
                                args.timing_rounds)
    rows = [replace(r, ms_per_photo=1000 * seconds[r.variant],
                    time_ratio=seconds[r.variant] / seconds[BASELINE]) for r in rows]

    counts = {g: sum(p.group == g for p in photos) for g in sorted({p.group for p in photos})}
    specimens = len({p.specimen for p in photos})
    header = (f"# Encoders on real photos\n\n{len(photos)} photos of {specimens} specimens "
              f"({', '.join(f'{g}: {n}' for g, n in counts.items())}); {len(drawings)} "
              f"synthetic drawings; {args.threads} torch threads; timing: batch 1, best of "
              f"{args.timing_rounds} interleaved passes over {args.timing_photos} photos.\n")
    report = f"{header}\n{table(rows)}\n"
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
