"""Evidence fusion and local composition on a small fixed knowledge base."""

import pytest

from configs.calibration import Calibration
from rag import notices
from rag.compose import compose
from rag.fusion import combine, decide, image_evidence
from rag.geology import parse_age
from rag.pipeline import model_info
from rag.records import Hit, ImageNetClass, NoticeCode
from rag.result import WeakEvidence
from tests.kb_fixture import KB

CAL = Calibration()
INFO = model_info("efficientnet-lite0", KB, CAL, None)


def hit(label, score, id_=None):
    return Hit(id=id_ or f"{label}-{score}", label=label, source=f"{label}/x.jpg", score=score)


def neighbours(*pairs):
    """neighbours(("ammonoids", 5, 0.9), ...): count hits of one label at one similarity."""
    return [hit(label, score, f"{label}-{score}-{i}")
            for label, count, score in pairs for i in range(count)]


def result(hits_per_image, classes=None):
    classes = classes or [[] for _ in hits_per_image]
    return compose(hits_per_image, classes, KB, CAL, INFO)


def codes(out):
    return [notice.code for notice in out.notices]


def test_confidence_falls_when_the_neighbours_disagree():
    agree = image_evidence(neighbours(("ammonoids", 10, 0.85)), [], KB, CAL)
    split = image_evidence(neighbours(("ammonoids", 5, 0.85), ("nautiloids", 5, 0.85)), [], KB,
                           CAL)
    assert agree.scores["ammonoids"] > 0.95
    assert split.scores["ammonoids"] == pytest.approx(split.scores["nautiloids"])
    assert split.scores["ammonoids"] < 0.5 < agree.scores["ammonoids"]


def test_confidence_falls_with_similarity_towards_the_open_set():
    confidences = [image_evidence(neighbours(("trilobites", 10, s)), [], KB, CAL).scores[
        "trilobites"] for s in (0.9, 0.7, 0.62, 0.5)]
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[2] == pytest.approx(0.5)  # at s0 a neighbour is a coin toss
    assert confidences[3] < 0.1


def test_similarity_weighting_favours_closer_neighbours():
    evidence = image_evidence(neighbours(("ammonoids", 3, 0.9), ("nautiloids", 7, 0.7)), [], KB,
                              CAL)
    assert evidence.scores["ammonoids"] > evidence.scores["nautiloids"]


def test_a_confident_taxon_is_identified_with_its_knowledge():
    out = result([neighbours(("ammonite", 10, 0.88))])  # an alias resolves to the entry
    ident = out.identification
    assert ident.status == "identified" and ident.taxon_id == "ammonoids"
    assert ident.taxon == "Ammonoids" and ident.rank == "subclass"
    assert [t.name for t in ident.lineage] == ["Animalia", "Mollusca", "Cephalopoda", "Ammonoids"]
    assert ident.geologic_range.first_ma == 409 and ident.geologic_range.periods[0] == "Devonian"
    assert ident.description and ident.diagnostic_features and ident.references
    assert ident.look_alikes[0].name == "Concretions"
    assert "10 of the 10 nearest" in ident.explanation
    assert out.candidates[0].taxon_id == "ammonoids" and out.notices == out.warnings == []


def test_split_evidence_rolls_up_to_the_common_ancestor():
    out = result([neighbours(("ammonoids", 5, 0.85), ("nautiloids", 5, 0.84))])
    ident = out.identification
    assert ident.status == "rolled_up" and ident.taxon == "Cephalopoda" and ident.rank == "class"
    assert ident.confidence >= CAL.threshold > out.candidates[0].confidence
    assert [t.name for t in ident.lineage] == ["Animalia", "Mollusca", "Cephalopoda"]
    # The range covers both groups: the oldest first appearance, the youngest last.
    assert ident.geologic_range.first_ma == 495 and ident.geologic_range.last_ma == 0
    assert "Ammonoids" in ident.description and "Nautiloids" in ident.description
    assert {c.taxon_id for c in out.candidates[:2]} == {"ammonoids", "nautiloids"}


def test_split_across_phyla_does_not_roll_up_to_a_kingdom():
    out = result([neighbours(("trilobites", 5, 0.85), ("nautiloids", 5, 0.85))])
    assert out.identification.status == "unidentified" and out.identification.taxon is None
    assert codes(out) == [NoticeCode.UNIDENTIFIED]
    assert out.warnings == [notices.unidentified().message]
    assert {c.taxon_id for c in out.candidates[:2]} == {"trilobites", "nautiloids"}


def test_nothing_similar_is_unidentified_but_not_called_a_pseudofossil():
    # A fossil the collection does not cover resembles no reference either: only evidence of
    # a pseudofossil says "may not be a fossil".
    out = result([neighbours(("trilobites", 10, 0.45))])
    assert out.identification.status == "unidentified"
    assert out.per_image[0].unknown > 0.9
    assert codes(out) == [NoticeCode.UNIDENTIFIED]
    assert "unlike every reference specimen" in out.identification.explanation
    assert "collection lacks this group" in out.identification.explanation
    assert out.candidates[0].taxon_id == "trilobites"  # the closest group is still given


def test_pseudofossil_neighbours_warn_it_may_not_be_a_fossil():
    out = result([neighbours(("concretions", 8, 0.8), ("ammonoids", 2, 0.8))])
    assert out.identification.taxon_id == "concretions"
    assert codes(out) == [NoticeCode.NOT_A_FOSSIL]
    assert "may not be a fossil" in out.warnings[0] and "Concretions" in out.warnings[0]


def test_imagenet_classes_are_weak_evidence_kept_apart_from_the_collection():
    hits = neighbours(("ammonoids", 5, 0.8), ("nautiloids", 5, 0.8))
    classes = [ImageNetClass(117, "chambered nautilus", 0.9), ImageNetClass(1, "imagenet-1", 0.05)]
    without = image_evidence(hits, [], KB, CAL)
    with_weak = image_evidence(hits, classes, KB, CAL)
    assert with_weak.scores == without.scores  # the collection's evidence is its own
    # The class may show ammonoids or nautiloids: it stands for their common ancestor.
    assert with_weak.weak == [WeakEvidence(imagenet_class="chambered nautilus",
                                           taxon="Cephalopoda",
                                           taxon_ids=["ammonoids", "nautiloids"], score=0.9)]
    out = result([hits], [classes])
    assert out.per_image[0].weak_evidence[0].taxon == "Cephalopoda"
    # The collection answered (a roll-up to Cephalopoda from its neighbours), not ImageNet.
    assert "nearest" in out.identification.explanation or "split" in out.identification.explanation


def test_strong_imagenet_evidence_alone_rolls_up_to_what_the_class_stands_for():
    faint = neighbours(("brachiopods", 10, 0.42))  # real photo against drawings: nothing close
    nautilus = [[ImageNetClass(117, "chambered nautilus", 0.7)]]
    out = result([faint], nautilus)
    ident = out.identification
    assert ident.status == "rolled_up" and ident.taxon == "Cephalopoda" and ident.rank == "class"
    assert ident.confidence == pytest.approx(0.7 * CAL.weak_evidence_trust, abs=1e-4)
    assert "image model" in ident.explanation and "'chambered nautilus'" in ident.explanation
    assert NoticeCode.NOT_A_FOSSIL not in codes(out)
    # A stated Miocene age leaves nautiloids only: the roll-up names them.
    aged = compose([faint], nautilus, KB, CAL, INFO, age=parse_age("Miocene"))
    assert aged.identification.status == "rolled_up"
    assert aged.identification.taxon == "Nautiloids"
    trilobite = result([faint], [[ImageNetClass(69, "trilobite", 0.5)]])
    assert trilobite.identification.taxon == "Trilobites"
    # Weak evidence below `weak_roll_up` names nothing.
    weak = result([faint], [[ImageNetClass(69, "trilobite", CAL.weak_roll_up - 0.01)]])
    assert weak.identification.status == "unidentified"


def test_the_confidence_shown_is_the_fitted_map_of_the_probability():
    fitted = CAL.model_copy(update={"confidence_slope": 0.5, "confidence_offset": 0.3})
    hits = [neighbours(("ammonoids", 10, 0.8))]
    raw = compose(hits, [[]], KB, CAL, INFO).candidates[0].confidence
    mapped = compose(hits, [[]], KB, fitted, INFO)
    assert mapped.candidates[0].confidence == pytest.approx(fitted.confidence(raw), abs=1e-3)
    assert mapped.identification.confidence == mapped.candidates[0].confidence


def test_views_of_one_specimen_are_combined_and_kept_per_image():
    good = neighbours(("trilobites", 10, 0.9))
    blurry = neighbours(("trilobites", 4, 0.66), ("brachiopods", 6, 0.64))
    out = result([good, good, blurry])
    assert out.identification.taxon_id == "trilobites" and len(out.per_image) == 3
    assert out.per_image[2].candidates[0].taxon_id == "brachiopods"
    assert out.per_image[0].candidates[0].confidence > out.identification.confidence
    evidence = combine([image_evidence(h, [], KB, CAL) for h in (good, blurry)])
    assert decide(evidence, KB, CAL).key == "trilobites"


def test_photos_that_disagree_are_flagged():
    out = result([neighbours(("trilobites", 10, 0.9)), neighbours(("ammonoids", 10, 0.9))])
    assert codes(out) == [NoticeCode.UNIDENTIFIED, NoticeCode.PHOTOS_DISAGREE]
    assert "photos disagree (Ammonoids, Trilobites)" in out.warnings[1]


def test_a_label_outside_the_knowledge_base_is_named_without_facts():
    out = result([neighbours(("mystery_clam", 10, 0.9))])
    assert out.identification.taxon == "mystery_clam" and out.identification.taxon_id is None
    assert codes(out) == [NoticeCode.LABEL_WITHOUT_ENTRY]
    assert out.warnings[0].startswith("'mystery_clam' is a reference label with no knowledge-base")


def test_no_specimens_warns_how_to_ingest():
    out = result([[]], [[ImageNetClass(69, "trilobite", 0.2)]])
    assert out.identification.status == "unidentified"
    assert out.notices == [notices.empty_index()] and "paleon ingest" in out.warnings[0]
    assert out.per_image[0].encoder_classes == [ImageNetClass(69, "trilobite", 0.2)]


def test_similar_specimens_are_deduplicated_across_images():
    shared = hit("brachiopods", 0.8, id_="spec-1")
    out = result([[shared], [shared, hit("brachiopods", 0.7)]])
    assert [s.id for s in out.similar_specimens].count("spec-1") == 1
    assert out.similar_specimens[0].taxon_id == "brachiopods"


def test_the_best_match_leads_similar_specimens_across_photos():
    out = result([[hit("ammonoids", 0.95, "x"), *neighbours(("nautiloids", 10, 0.5))],
                  [hit("trilobites", 0.9, "z"), hit("ammonoids", 0.5, "x"),
                   *neighbours(("brachiopods", 10, 0.6))]])
    ids = [s.id for s in out.similar_specimens]
    assert ids[:2] == ["x", "z"] and out.similar_specimens[0].score == 0.95
    assert ids.count("x") == 1


def test_extreme_temperatures_do_not_overflow():
    for temperature in (0.001, 1.0):
        cal = CAL.model_copy(update={"temperature": temperature, "open_set_similarity": -1})
        evidence = image_evidence(neighbours(("ammonoids", 3, 1.0)), [], KB, cal)
        assert 0 <= evidence.unknown <= 1 and evidence.scores["ammonoids"] <= 1


def test_the_json_carries_warnings_and_their_codes_in_one_order():
    clam = neighbours(("mystery_clam", 10, 0.9))
    out = result([clam, clam, neighbours(("trilobites", 10, 0.9))])
    data = out.model_dump(mode="json")
    assert [n["code"] for n in data["notices"]] == ["photos_disagree", "label_without_entry"]
    assert data["warnings"] == [n["message"] for n in data["notices"]]
    again = type(out).model_validate(data)  # as a stored result is read back
    assert again.notices == out.notices and again.warnings == out.warnings


# The stated age as a prior (rag.fusion.age_prior) ----------------------------------------


def with_age(hits_per_image, age, cal=CAL, references=None):
    from rag.geology import parse_age

    return compose(hits_per_image, [[] for _ in hits_per_image], KB, cal, INFO,
                   age=parse_age(age), locality="Calvert Cliffs, Maryland",
                   references=references)


def test_a_post_cretaceous_age_turns_an_ammonoid_look_into_a_nautiloid():
    close = [neighbours(("ammonoids", 3, 0.86), ("nautiloids", 2, 0.85))]
    photos_alone = result(close)
    assert photos_alone.candidates[0].taxon_id == "ammonoids"
    out = with_age(close, "Miocene")
    assert out.identification.taxon_id == "nautiloids"
    assert out.identification.range_consistent is True
    by_id = {c.taxon_id: c for c in out.candidates}
    assert by_id["ammonoids"].range_consistent is False
    assert by_id["nautiloids"].range_consistent is True
    # Down-weighted by the configured factor, then renormalised with the open set.
    before = {c.taxon_id: c.confidence for c in photos_alone.candidates}
    assert by_id["ammonoids"].confidence_before_prior == before["ammonoids"]
    assert by_id["nautiloids"].confidence_before_prior == before["nautiloids"]
    ratio_before = before["ammonoids"] / before["nautiloids"]
    ratio_after = by_id["ammonoids"].confidence / by_id["nautiloids"].confidence
    assert ratio_after == pytest.approx(ratio_before * CAL.age_mismatch_weight, rel=0.01)
    assert sum(c.confidence for c in out.candidates) <= 1.0
    assert by_id["nautiloids"].confidence > before["nautiloids"]
    # What happened is said: the context, the warning with its code, the explanation.
    assert out.context.age.input == "Miocene"
    assert (out.context.age.first_ma, out.context.age.last_ma) == (23.03, 5.333)
    assert out.context.locality == "Calvert Cliffs, Maryland"
    assert NoticeCode.OUT_OF_RANGE in codes(out)
    warning = out.warnings[codes(out).index(NoticeCode.OUT_OF_RANGE)]
    assert "Ammonoids are not known after 66 Ma; the stated age is Miocene" in warning
    assert "down-weighted" in out.identification.explanation


def test_an_age_before_a_group_appeared_is_said_so():
    out = with_age([neighbours(("nautiloids", 5, 0.9))], "Ediacaran")
    assert "Nautiloids are not known before 495 Ma" in out.warnings[-1]
    assert out.candidates[0].range_consistent is False


def test_an_age_in_range_changes_nothing_and_warns_nothing():
    close = [neighbours(("ammonoids", 3, 0.86), ("nautiloids", 2, 0.85))]
    out, alone = with_age(close, "150"), result(close)
    assert [c.confidence for c in out.candidates] == [c.confidence for c in alone.candidates]
    assert all(c.range_consistent for c in out.candidates)
    assert NoticeCode.OUT_OF_RANGE not in codes(out)
    assert "Every likely group is known from the stated age" in out.identification.explanation


def test_the_factor_is_a_setting_and_nothing_is_ruled_out():
    close = [neighbours(("ammonoids", 5, 0.9))]
    neutral = with_age(close, "Pleistocene", cal=CAL.model_copy(
        update={"age_mismatch_weight": 1.0}))
    assert neutral.candidates[0].confidence == result(close).candidates[0].confidence
    strong = with_age(close, "Pleistocene")
    assert strong.candidates[0].taxon_id == "ammonoids"  # down-weighted, still a candidate
    assert strong.candidates[0].confidence < result(close).candidates[0].confidence
    # Nothing fits the age: the weight goes to the open set, not to a group.
    assert strong.identification.status != "identified" or \
        strong.identification.confidence < result(close).identification.confidence


def test_without_an_age_the_result_has_an_empty_context():
    out = result([neighbours(("ammonoids", 5, 0.9))])
    assert out.context.age is None and out.context.locality is None
    assert out.candidates[0].range_consistent is None
    assert out.candidates[0].confidence_before_prior is None


def test_links_are_searches_for_the_scientific_name():
    out = result([neighbours(("ammonoids", 5, 0.9))])
    links = out.identification.links
    assert links.pbdb == "https://paleobiodb.org/classic/checkTaxonInfo?taxon_name=Ammonoids"
    assert links.gbif.endswith("/species/search?q=Ammonoids")
    assert links.wikipedia.endswith("Special:Search?search=Ammonoids")
    assert out.candidates[0].links == links
    rolled = result([neighbours(("ammonoids", 5, 0.85), ("nautiloids", 5, 0.85))])
    assert rolled.identification.status == "rolled_up"
    assert rolled.identification.links.pbdb.endswith("taxon_name=Cephalopoda")
    unknown = result([neighbours(("mystery_label", 5, 0.95))])
    assert unknown.candidates[0].links is None


def test_few_references_are_warned_about():
    hits = [neighbours(("ammonoids", 5, 0.9))]
    few = with_age(hits, "150", references={"ammonoids": 2})
    assert NoticeCode.FEW_REFERENCES in codes(few)
    assert few.identification.reference_count == 2
    assert "only 2 specimen(s) of Ammonoids" in few.warnings[-1]
    enough = with_age(hits, "150", references={"ammonoids": CAL.few_references})
    assert NoticeCode.FEW_REFERENCES not in codes(enough)
    assert result(hits).identification.reference_count is None  # not counted: no warning


@pytest.mark.parametrize(("age", "group"), [("Paleogene", "ammonoids"), ("Danian", "ammonoids"),
                                            ("Cenozoic", "ammonoids")])
def test_a_range_that_ends_where_the_age_begins_does_not_fit(age, group):
    """Ammonoids end at the K-Pg boundary (66.0 Ma), where the Paleogene begins."""
    out = with_age([neighbours((group, 5, 0.9))], age)
    assert out.candidates[0].range_consistent is False
    assert NoticeCode.OUT_OF_RANGE in codes(out)
    at_the_boundary = with_age([neighbours((group, 5, 0.9))], "66")
    assert at_the_boundary.candidates[0].range_consistent is True


def test_weak_evidence_never_overrules_the_collection():
    # The collection recognises the photo (little open-set weight) but cannot decide between
    # two phyla: a strong ImageNet class of a third group does not get to name it.
    split = neighbours(("brachiopods", 5, 0.7), ("trilobites", 5, 0.7))
    out = result([split], [[ImageNetClass(117, "chambered nautilus", 0.9)]])
    assert out.per_image[0].unknown < 0.5
    assert out.identification.status == "unidentified"
    # One that contains the collection's best guess may.
    leaning = neighbours(("trilobites", 6, 0.66), ("brachiopods", 4, 0.66))
    out = result([leaning], [[ImageNetClass(69, "trilobite", 0.8)]])
    assert out.identification.status == "rolled_up" and out.identification.taxon == "Trilobites"
