from rag.fusion import NO_SPECIMENS_WARNING, consensus, identify, label_vote


def hit(label, score, id_=None):
    return {"id": id_ or f"{label}-{score}", "label": label, "source": "s", "score": score}


def test_vote_is_similarity_weighted():
    votes = label_vote([hit("ammonite", 0.9), hit("trilobite", 0.6), hit("ammonite", 0.3)])
    assert votes[0] == {"label": "ammonite", "score": round(1.2 / 1.8, 4)}
    assert abs(sum(v["score"] for v in votes) - 1) < 1e-3


def test_consensus_averages_views_of_one_specimen():
    ranked = consensus([
        [{"label": "ammonite", "score": 0.6}, {"label": "nautilus", "score": 0.4}],
        [{"label": "ammonite", "score": 1.0}],
        [],  # an image with no neighbours does not dilute the others
    ])
    assert ranked[0] == {"label": "ammonite", "score": 0.8}
    assert ranked[1] == {"label": "nautilus", "score": 0.2}


def test_identify_with_no_specimens_warns_how_to_ingest():
    result = identify([[]], [[{"index": 69, "name": "trilobite", "score": 0.2}]])
    assert result["identification"] is None and result["candidates"] == []
    assert result["warnings"] == [NO_SPECIMENS_WARNING] and "paleon ingest" in result["warnings"][0]
    assert result["per_image"][0]["encoder_classes"][0]["name"] == "trilobite"


def test_identify_dedupes_similar_specimens_across_images():
    shared = hit("crinoid", 0.8, id_="spec-1")
    result = identify([[shared], [shared, hit("crinoid", 0.5)]], [[], []])
    assert result["identification"] == {"taxon": "crinoid", "confidence": 1.0}
    assert [s["id"] for s in result["similar_specimens"]].count("spec-1") == 1
