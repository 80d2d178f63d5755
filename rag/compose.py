"""The local generator: the result composed from the evidence and the knowledge entries.

No model writes text here: every sentence is a template over numbers from the evidence and
facts from `fossils.yaml`.
"""

from urllib.parse import quote_plus

from configs.calibration import Calibration
from rag import notices
from rag.fusion import (
    Decision,
    ImageEvidence,
    age_prior,
    combine,
    decide,
    image_evidence,
    label_key,
    pseudofossil_share,
    range_consistent,
    ranked,
)
from rag.geology import AgeInterval, periods_between
from rag.knowledge import Entry, KnowledgeBase
from rag.records import Hit, ImageNetClass, Notice
from rag.result import (
    Candidate,
    Context,
    GeologicRangeOut,
    Identification,
    IdentificationResult,
    Links,
    ModelInfo,
    PerImage,
    SimilarSpecimen,
    StatedAge,
)


def links(scientific_name: str) -> Links:
    """Searches for the name at the Paleobiology Database, GBIF and Wikipedia."""
    name = quote_plus(scientific_name)
    return Links(pbdb=f"https://paleobiodb.org/classic/checkTaxonInfo?taxon_name={name}",
                 gbif=f"https://www.gbif.org/species/search?q={name}",
                 wikipedia=f"https://en.wikipedia.org/wiki/Special:Search?search={name}")


def candidates(scores: dict[str, float], kb: KnowledgeBase, cal: Calibration, n: int = 5,
               age: AgeInterval | None = None,
               before: dict[str, float] | None = None) -> list[Candidate]:
    """The top `n` groups at their calibrated confidence; with an age, each says whether it
    fits and, given `before` (the scores without the prior), its confidence from the photos
    alone."""
    out = []
    for key, p in ranked(scores)[:n]:
        entry = kb.by_id.get(key)
        out.append(Candidate(
            taxon_id=entry.id if entry else None, taxon=entry.name if entry else key,
            rank=entry.rank if entry else None, confidence=round(cal.confidence(p), 4),
            confidence_before_prior=None if before is None
            else round(cal.confidence(before.get(key, 0.0)), 4),
            range_consistent=range_consistent(key, age, kb),
            links=links(entry.scientific_name) if entry else None))
    return out


def _similar(hits: list[Hit], kb: KnowledgeBase) -> list[SimilarSpecimen]:
    out = []
    for hit in hits:
        entry = kb.resolve(hit.label)
        out.append(SimilarSpecimen(id=hit.id, label=hit.label, score=hit.score,
                                   source=hit.source, taxon_id=entry.id if entry else None))
    return out


def from_entry(entry: Entry, confidence: float, explanation: str,
               **more: object) -> Identification:
    """An identification of a knowledge-base entry: every fact from the entry itself."""
    return Identification(
        status="identified", taxon=entry.name, taxon_id=entry.id,
        scientific_name=entry.scientific_name, rank=entry.rank, lineage=entry.lineage,
        confidence=round(confidence, 4),
        geologic_range=GeologicRangeOut(**entry.range.model_dump()),
        description=entry.description, diagnostic_features=entry.diagnostic_features,
        look_alikes=entry.look_alikes, references=entry.references, explanation=explanation,
        links=links(entry.scientific_name), **more)


def _rolled_up_taxon(decision: Decision) -> str:
    """The taxon a rolled-up decision names (its key, which `decide` always sets then)."""
    if decision.key is None:
        raise ValueError("a rolled-up decision must name the taxon it rolls up to")
    return decision.key


def _rolled_up(name: str, decision: Decision, evidence: ImageEvidence, kb: KnowledgeBase,
               explanation: str) -> Identification:
    members = kb.descendants(name)
    first = max(e.range.first_ma for e in members)
    last = min(e.range.last_ma for e in members)
    if decision.source == "imagenet":
        inside = [kb.by_id[key].name for w in evidence.weak for key in w.taxon_ids
                  if any(t.name == name for t in kb.by_id[key].lineage)]
        inside = list(dict.fromkeys(inside))
        fit = (f"The photos look like {', '.join(inside)} to the image model, and the "
               "reference collection has nothing close enough to say more.")
    else:
        inside = [kb.by_id[key].name for key, p in ranked(evidence.scores)
                  if key in kb.by_id and any(t.name == name for t in kb.by_id[key].lineage)
                  and p >= 0.05]
        fit = (f"The photos fit several groups within it ({', '.join(inside)}), and none of "
               "them on its own confidently.")
    description = (
        f"{name} ({kb.ranks[name]}). {fit} The knowledge base holds {len(members)} "
        f"group(s) in {name}: {', '.join(e.name for e in members)}.")
    return Identification(
        status="rolled_up", taxon=name, scientific_name=name, rank=kb.ranks[name],
        lineage=kb.lineage(name), confidence=round(decision.confidence, 4),
        geologic_range=GeologicRangeOut(first_ma=first, last_ma=last,
                                        periods=periods_between(first, last)),
        description=description,
        look_alikes=[look for e in members if e.name in inside for look in e.look_alikes
                     if look.name not in inside][:5],
        references=list(dict.fromkeys(r for e in members if e.name in inside
                                      for r in e.references))[:5],
        explanation=explanation, links=links(name))


def _explain(decision: Decision, evidence: ImageEvidence, hits: list[list[Hit]],
             kb: KnowledgeBase, cal: Calibration) -> str:
    top = ranked(evidence.scores)
    named = [(kb.by_id[k].name if k in kb.by_id else k, p) for k, p in top[:3]]
    if decision.status == "identified":
        matching = sum(1 for image in hits for hit in image
                       if label_key(kb, hit.label) == decision.key)
        total = sum(len(image) for image in hits)
        best = f"; the closest is {evidence.best_similarity:.2f} similar (cosine)" \
            if evidence.best_similarity is not None else ""
        return (f"{matching} of the {total} nearest reference specimens across {len(hits)} "
                f"photo(s) are {named[0][0]}{best}. Confidence {decision.confidence:.0%}.")
    split = " and ".join(f"{name} ({cal.confidence(p):.0%})" for name, p in named[:2])
    if decision.source == "imagenet":
        taxon = _rolled_up_taxon(decision)
        seen = ", ".join(dict.fromkeys(f"'{w.imagenet_class}' ({w.score:.0%})"
                                       for w in evidence.weak))
        return (f"No reference specimen is similar enough to name a group, but the image "
                f"model recognises {seen} in the photos, which points to {kb.ranks[taxon]} "
                f"{taxon}. This comes from a general image model, not from the reference "
                f"collection: confidence {decision.confidence:.0%}.")
    if decision.status == "rolled_up":
        taxon = _rolled_up_taxon(decision)
        return (f"The evidence is split between {split}; no single group reaches "
                f"{cal.threshold:.0%}, but together they are {kb.ranks[taxon]} "
                f"{taxon} at {decision.confidence:.0%}.")
    unlike = "" if evidence.best_similarity is None or evidence.unknown < 0.5 else (
        f" The photos are unlike every reference specimen (the closest is "
        f"{evidence.best_similarity:.2f} similar), which usually means the collection lacks "
        "this group, or its references look different (drawings rather than photos, "
        "another lighting or background).")
    return (f"No group reaches {cal.threshold:.0%} confidence"
            + (f"; the closest are {split}." if named else ".") + unlike)


def _notices(decision: Decision, evidence: ImageEvidence, per_image: list[ImageEvidence],
             hits: list[list[Hit]], kb: KnowledgeBase, cal: Calibration) -> list[Notice]:
    if not any(hits):
        return [notices.empty_index()]
    out = []
    if decision.status == "unidentified":
        out.append(notices.unidentified())
    # Only evidence of a pseudofossil says so: a fossil the collection does not cover
    # resembles no reference either, and is no less a fossil for it.
    pseudo = pseudofossil_share(evidence.scores, kb)
    if pseudo >= cal.not_fossil:
        names = [kb.by_id[k].name for k, p in ranked(evidence.scores)
                 if k in kb.by_id and kb.by_id[k].kind == "pseudofossil" and p >= 0.05]
        out.append(notices.not_a_fossil(f"it looks like {', '.join(names)} ({pseudo:.0%})"))
    leaders = [ranked(image.scores)[0] for image in per_image if image.scores]
    tops = {key for key, p in leaders if cal.confidence(p) >= cal.threshold}
    if len(tops) > 1:
        out.append(notices.photos_disagree(
            sorted(kb.by_id[k].name if k in kb.by_id else k for k in tops)))
    if decision.status == "identified" and decision.key not in kb.by_id:
        out.append(notices.label_without_entry(str(decision.key)))
    return out


def _context_notices(visual: ImageEvidence, decision: Decision, age: AgeInterval | None,
                     references: dict[str, int] | None, kb: KnowledgeBase,
                     cal: Calibration) -> list[Notice]:
    out = []
    top = ranked(visual.scores)
    if age is not None and top and range_consistent(top[0][0], age, kb) is False:
        entry = kb.by_id[top[0][0]]
        out.append(notices.out_of_range(entry.name, entry.range.first_ma, entry.range.last_ma,
                                        age))
    if (references is not None and decision.status == "identified"
            and decision.key in kb.by_id
            and (count := references.get(decision.key, 0)) < cal.few_references):
        out.append(notices.few_references(kb.by_id[decision.key].name, count))
    return out


def compose(hits: list[list[Hit]], classes: list[list[ImageNetClass]], kb: KnowledgeBase,
            cal: Calibration, model: ModelInfo, *, age: AgeInterval | None = None,
            locality: str | None = None,
            references: dict[str, int] | None = None) -> IdentificationResult:
    """The whole local result for one job: photos' neighbours and encoder classes in; the
    stated age, when given, as a prior over the groups (rag.fusion.age_prior); `references`,
    when known, the reference specimens per knowledge-base id."""
    per_image = [image_evidence(h, c, kb, cal) for h, c in zip(hits, classes, strict=True)]
    visual = combine(per_image)
    evidence = visual if age is None else age_prior(visual, age, kb, cal)
    decision = decide(evidence, kb, cal, age)
    explanation = _explain(decision, evidence, hits, kb, cal) + _prior_explained(
        visual, evidence, age, kb)
    if decision.status == "identified" and decision.key in kb.by_id:
        identification = from_entry(
            kb.by_id[decision.key], decision.confidence, explanation,
            range_consistent=range_consistent(decision.key, age, kb),
            reference_count=None if references is None else references.get(decision.key, 0))
    elif decision.status == "identified":
        identification = Identification(status="identified", taxon=decision.key,
                                        confidence=round(decision.confidence, 4),
                                        explanation=explanation)
    elif decision.status == "rolled_up":
        identification = _rolled_up(_rolled_up_taxon(decision), decision, evidence, kb,
                                    explanation)
    else:
        identification = Identification(status="unidentified",
                                         confidence=round(decision.confidence, 4),
                                         explanation=explanation)
    best: dict[str, Hit] = {}  # each specimen once, at its best score, best first
    for hit in sorted((h for image in hits for h in image), key=lambda h: -h.score):
        best.setdefault(hit.id, hit)
    stated = None if age is None else StatedAge(input=age.input, first_ma=age.first_ma,
                                                last_ma=age.last_ma, unit=age.name)
    return IdentificationResult(
        identification=identification,
        candidates=candidates(evidence.scores, kb, cal, age=age,
                              before=None if age is None else visual.scores),
        similar_specimens=_similar(list(best.values())[:10], kb),
        per_image=[PerImage(index=i, candidates=candidates(
                                e.scores, kb, cal, age=age,
                                before=None if age is None else e.scores),
                            unknown=round(e.unknown, 4), best_similarity=e.best_similarity,
                            similar_specimens=_similar(h, kb), encoder_classes=c,
                            weak_evidence=e.weak)
                   for i, (e, h, c) in enumerate(zip(per_image, hits, classes, strict=True))],
        model=model,
        context=Context(age=stated, locality=locality),
        notices=_notices(decision, evidence, per_image, hits, kb, cal)
        + (_context_notices(visual, decision, age, references, kb, cal) if any(hits) else []),
    )


def _prior_explained(visual: ImageEvidence, evidence: ImageEvidence, age: AgeInterval | None,
                     kb: KnowledgeBase) -> str:
    if age is None:
        return ""
    misfits = [kb.by_id[key].name for key, p in ranked(visual.scores)
               if p >= 0.05 and range_consistent(key, age, kb) is False]
    if not misfits:
        return f" Every likely group is known from the stated age, {age.describe()}."
    return (f" The stated age, {age.describe()}, lies outside the range of "
            f"{', '.join(misfits[:3])}, so {'it was' if len(misfits) == 1 else 'they were'} "
            "down-weighted.")
