"""`paleon eval`: the synthetic gallery, split into references and queries."""

import json

import pytest

from paleon.tools import gallery
from tests.support import run_cli


@pytest.fixture(scope="module")
def env(settings):
    return {"MILVUS_URI": settings["milvus_uri"], "REDIS_URL": settings["redis_url"]}


@pytest.fixture(scope="module")
def report(tmp_path_factory, env):
    root = tmp_path_factory.mktemp("eval-gallery")
    gallery.write_gallery(root, per_class=16, seed=20_000)  # every class, close pairs included
    out = root.parent / "eval.json"
    done = run_cli("eval", str(root), "--holdout", "0.3", "--json", str(out), env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


def test_holdout_top1_on_the_synthetic_gallery(report):
    printed, data = report
    assert set(data["per_class_recall"]) == set(gallery.CLASSES)
    assert data["queries"] + data["references"] == 16 * len(gallery.CLASSES)
    assert data["top1"] >= 0.9, data["confusion"]
    assert data["top5"] >= data["top1"]
    assert sum(sum(row.values()) for row in data["confusion"].values()) == data["queries"]
    assert sum(data["outcomes"].values()) == data["queries"]
    assert 0 <= data["ece"] <= 1 and data["nll"] >= 0 and 0 <= data["brier"] <= 1
    # The calibration was fitted on the reference side, never on the queries.
    assert data["calibration"]["source"] == "fitted"
    assert data["calibration"]["figures"]["trials"] == data["references"]
    assert data["calibration_note"] == "fitted on the reference side"
    oc = data["outcome_correct"]
    assert sum(oc["identified"].values()) + sum(oc["rolled_up"].values()) + \
        oc["unidentified"] == data["queries"]
    assert oc["identified"]["wrong"] <= 0.03 * data["queries"]
    assert data["ece"] <= 0.1 and data["balanced_top1"] >= 0.9
    assert [point["threshold"] for point in data["risk_coverage"]][:2] == [0.0, 0.1]
    assert 0 <= data["aurc"] <= 1 - data["top1"] + 0.05
    assert f"top-1 {data['top1']:.1%}" in printed and "confusion" in printed
    assert "identified:" in printed and "AURC" in printed
    assert "nautiloids" in printed and "bivalves" in printed


def test_the_temporary_reference_collection_is_dropped(report, milvus_server):
    from rag.specimens import connect

    assert not [c for c in connect(milvus_server["uri"]).list_collections()
                if c.startswith("eval_")]


def test_bad_arguments_are_refused_clearly(tmp_path, env):
    missing = run_cli("eval", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
    gallery.write_gallery(tmp_path / "g", per_class=2, classes=("ferns",))
    for fraction in ("0", "1.5"):
        bad = run_cli("eval", str(tmp_path / "g"), "--holdout", fraction, env=env)
        assert bad.returncode == 2 and "between 0 and 1" in bad.stderr


def test_the_age_prior_fixes_confusions_of_close_groups(tmp_path, env):
    """Hard-to-tell nautiloids from Neogene rock: the photos alone confuse some with
    ammonoids, which are not known after 66 Ma; the stated age fixes them."""
    root = tmp_path / "g"
    gallery.write_gallery(root, per_class=20, seed=40_000, hard=True,
                          classes=("ammonoids", "nautiloids", "trilobites"),
                          folders={"nautiloids": "nautiloids@Neogene"})
    ages = tmp_path / "ages.yaml"
    ages.write_text("ammonoids: Jurassic\n")
    out = tmp_path / "r.json"
    done = run_cli("eval", str(root), "--holdout", "0.8", "--ages", str(ages), "--json",
                   str(out), env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert set(data["per_class_recall"]) == {"ammonoids", "nautiloids", "trilobites"}
    assert data["with_age"] == 32  # 16 queries each of the two classes with an age
    assert data["fixed_by_prior"] > 0 and data["broken_by_prior"] == 0
    assert data["top1"] > data["top1_without_prior"]
    assert data["per_class_recall"]["nautiloids"] == 1.0
    assert "with the stated age" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("ammonoids: the dawn of time\n")
    refused = run_cli("eval", str(root), "--holdout", "0.5", "--ages", str(bad), env=env)
    assert refused.returncode == 2 and "stated age" in refused.stderr
