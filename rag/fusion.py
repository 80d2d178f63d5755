"""Turn nearest reference specimens into label scores, per image and per job."""

from collections import defaultdict

NO_SPECIMENS_WARNING = (
    "No reference specimens are indexed yet, so nothing could be compared. "
    "Ingest a gallery with `paleon ingest DIR` (DIR/<label>/*.jpg|png)."
)


def label_vote(hits: list[dict]) -> list[dict]:
    """Similarity-weighted vote over one image's neighbours; scores sum to 1."""
    weights: dict[str, float] = defaultdict(float)
    for hit in hits:
        weights[hit["label"]] += max(hit["score"], 0.0)
    total = sum(weights.values())
    if total <= 0:
        return []
    ranked = sorted(weights.items(), key=lambda item: item[1], reverse=True)
    return [{"label": label, "score": round(w / total, 4)} for label, w in ranked]


def consensus(votes_per_image: list[list[dict]]) -> list[dict]:
    """Average the per-image votes: the images are views of one specimen."""
    voting = [votes for votes in votes_per_image if votes]
    if not voting:
        return []
    totals: dict[str, float] = defaultdict(float)
    for votes in voting:
        for vote in votes:
            totals[vote["label"]] += vote["score"] / len(voting)
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return [{"label": label, "score": round(score, 4)} for label, score in ranked]


def identify(hits_per_image: list[list[dict]], encoder_classes: list[list[dict]]) -> dict:
    """The job's result: consensus label, candidates, per-image evidence, warnings."""
    per_image = []
    for index, (hits, classes) in enumerate(zip(hits_per_image, encoder_classes, strict=True)):
        per_image.append(
            {
                "index": index,
                "votes": label_vote(hits),
                "similar_specimens": hits,
                "encoder_classes": classes,
            }
        )
    candidates = consensus([image["votes"] for image in per_image])
    warnings = [] if any(hits_per_image) else [NO_SPECIMENS_WARNING]
    best = candidates[0] if candidates else None
    similar = sorted(
        (hit for hits in hits_per_image for hit in hits), key=lambda h: h["score"], reverse=True
    )
    return {
        "identification": (
            {"taxon": best["label"], "confidence": best["score"]} if best else None
        ),
        "candidates": candidates[:5],
        "similar_specimens": _unique(similar)[:10],
        "per_image": per_image,
        "warnings": warnings,
    }


def _unique(hits: list[dict]) -> list[dict]:
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit["id"] not in seen:
            seen.add(hit["id"])
            out.append(hit)
    return out
