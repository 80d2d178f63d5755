"""Identification of real photographs (tests/data/trilobites: TriloMorph, CC BY 4.0), not
drawings: with trilobites among the references, and with a collection that has none.

The other groups are the synthetic gallery's drawings: these tests hold what the service
does with real photos; the figures on several groups of real photos are in
docs/identification.md."""

import csv
import shutil
from pathlib import Path

import pytest

from configs.calibration import Calibration
from paleon.tools import gallery
from rag.calibrate.run import calibrate
from rag.calibrate.store import CalibrationStore
from rag.encoders import build_encoder
from rag.evaluate import evaluate
from rag.ingest import ingest_photos, scan
from rag.knowledge import load_knowledge
from rag.specimens import SpecimenIndex, connect

DATA = Path(__file__).parent / "data" / "trilobites"
OTHERS = tuple(c for c in gallery.CLASSES if c != "trilobites")


def real_trilobites(root: Path) -> Path:
    """The photos as DIR/trilobites/<specimen>/*.jpg: views of one specimen stay together."""
    with (DATA / "specimens.csv").open() as f:
        for row in csv.DictReader(f):
            folder = root / "trilobites" / row["specimen"]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(DATA / row["file"], folder / row["file"])
    return root


@pytest.fixture(scope="module")
def encoder():
    return build_encoder("efficientnet-lite0", threads=2)


@pytest.fixture(scope="module")
def milvus(milvus_server):
    client = connect(milvus_server["uri"])
    yield client
    client.close()


def test_real_trilobites_among_the_references_are_identified_as_trilobites(
        tmp_path, encoder, milvus):
    root = real_trilobites(tmp_path / "mixed")
    gallery.write_gallery(root, per_class=8, classes=OTHERS)
    report = evaluate(root, encoder, SpecimenIndex(milvus, encoder.dim), load_knowledge(),
                      Calibration(), k=10, holdout=0.3, progress=False)
    assert report.calibration_note == "fitted on the reference side"
    assert report.per_class_recall["trilobites"] >= 0.9, report.confusion
    # Identified when right, never identified as another group.
    assert report.outcome_correct["identified"]["wrong"] == 0
    assert report.outcome_correct["identified"]["right"] >= 0.8 * report.queries
    assert report.not_a_fossil_said == 0 and report.answers["wrong"] == 0


def test_a_collection_without_trilobites_never_names_another_group(tmp_path, encoder, milvus):
    drawings = tmp_path / "drawings"
    gallery.write_gallery(drawings, per_class=8, classes=OTHERS)
    index = SpecimenIndex(milvus, encoder.dim, "real_photos_none")
    store = CalibrationStore(milvus, index.collection)
    try:
        ingest_photos(drawings, scan(drawings), encoder, index, progress=False)
        fitted = calibrate(index, load_knowledge(), Calibration(), encoder.name, 10, store)
        assert fitted.fit.fitted and fitted.stored is not None
        report = evaluate(real_trilobites(tmp_path / "real"), encoder, index,
                          load_knowledge(), Calibration(), k=10, progress=False)
    finally:
        milvus.drop_collection(index.collection)
    assert report.calibration_note == f"the collection's fit, version {fitted.stored.version}"
    outcomes = report.outcome_correct
    assert outcomes["identified"] == {"right": 0, "wrong": 0}  # no group of drawings named
    assert outcomes["rolled_up"]["wrong"] == 0 and report.answers["wrong"] == 0
    assert report.not_a_fossil_said == 0  # a fossil the collection lacks is still a fossil
    # The encoder's own "trilobite" class names some of them (weak evidence, rolled up).
    assert outcomes["rolled_up"]["right"] >= 0.15 * report.queries
