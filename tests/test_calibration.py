"""The calibration fitted to a collection: the fit, where it is stored, the measures, and
the specimen grouping that keeps a specimen's photos on one side of every split."""

from pathlib import Path

import numpy as np
import pytest

from configs.calibration import Calibration
from rag.calibrate.fit import MAX_WRONG, fit
from rag.calibrate.measures import ece, risk_coverage
from rag.calibrate.store import CalibrationStore, EncoderMismatch
from rag.calibrate.trials import Trial, Trials
from rag.evaluate import split
from rag.ingest import Photo, scan
from rag.records import Hit
from rag.specimen_migration import migrate
from rag.specimens import SpecimenIndex, connect


def trial(label: str, i: int, rng: np.random.Generator) -> Trial:
    """A reference searched against the rest: its own group's neighbours a little closer
    than the others', as on real photos (similarities 0.4-0.8), sometimes not."""
    groups = ["ammonoids", "bivalves", "trilobites"]
    hits = []
    for j in range(10):
        own = rng.random() < 0.7
        other = groups[(groups.index(label) + 1 + j % 2) % 3]
        hits.append(Hit(f"{label}{i}-{j}", label if own else other, "x.jpg",
                        round(float(rng.normal(0.66 if own else 0.55, 0.06)), 4)))
    hits.sort(key=lambda h: -h.score)
    foreign = [Hit(f"f{i}-{j}", groups[(groups.index(label) + 1) % 3], "x.jpg",
                   round(float(rng.normal(0.52, 0.05)), 4)) for j in range(10)]
    return Trial(label, f"{label}/{i}", hits, sorted(foreign, key=lambda h: -h.score))


def trials(n: int, seed: int = 0) -> Trials:
    rng = np.random.default_rng(seed)
    made = [trial(label, i, rng) for label in ("ammonoids", "bivalves", "trilobites")
            for i in range(n)]
    return Trials(made, len(made), len(made), {"ammonoids", "bivalves", "trilobites"})


def test_a_fit_on_real_looking_similarities():
    result = fit(trials(60), Calibration())
    assert result.fitted and result.reason == ""
    c, f = result.calibration, result.figures
    # The open set begins between the other groups' similarities and the own group's.
    assert 0.5 <= c.open_set_similarity <= 0.7
    assert c.confidence_slope >= 1
    assert f["identified_wrong"] <= MAX_WRONG and f["identified_right"] > 0.5
    assert f["ece"] <= 0.1 and f["trials"] == 180 and f["groups"] == 3


def test_too_few_references_keep_the_defaults_and_say_so():
    defaults = Calibration()
    result = fit(trials(3), defaults)
    assert not result.fitted and result.calibration == defaults
    assert "too few references" in result.reason and "defaults" in result.reason


def test_the_measures():
    right = np.array([1, 1, 0, 1, 0], bool)
    ranked = np.array([0.9, 0.8, 0.3, 0.7, 0.2])
    constant = np.full(5, 0.6)
    _, good = risk_coverage(ranked, right)
    _, flat = risk_coverage(constant, right)
    assert good < flat == pytest.approx(0.4)  # a constant ranks nothing: the error rate
    assert ece(constant, right) == pytest.approx(0.0)  # ... even when it is calibrated
    assert ece(np.array([0.95, 0.95]), np.array([0, 0], bool)) == pytest.approx(0.95)


def test_a_specimen_stays_on_one_side_of_a_split():
    photos = [Photo("trilobites", Path(f"t/{s}/{v}.jpg"), f"trilobites/{s}")
              for s in range(10) for v in range(3)]
    references, queries = split(photos, 0.3)
    assert len(queries) == 9 and len(references) == 21
    assert not {p.specimen for p in references} & {p.specimen for p in queries}


def test_scan_finds_specimen_folders_and_names_from_a_pattern(tmp_path):
    for name in ("trilobites/AMNH_1/a.jpg", "trilobites/AMNH_1/b.jpg", "ammonoids/x_1.jpg",
                 "ammonoids/x_2.jpg", "ammonoids/y.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = {p.path.name: p.specimen for p in scan(tmp_path)}
    assert found == {"a.jpg": "trilobites/AMNH_1", "b.jpg": "trilobites/AMNH_1",
                     "x_1.jpg": "", "x_2.jpg": "", "y.jpg": ""}
    grouped = {p.path.name: p.specimen for p in scan(tmp_path, group_by=r"^(\w)_")}
    assert grouped["x_1.jpg"] == grouped["x_2.jpg"] == "ammonoids/x"
    assert grouped["y.jpg"] == ""  # no match: its own specimen


@pytest.fixture
def milvus(milvus_server):
    client = connect(milvus_server["uri"])
    yield client
    client.close()


def test_fits_are_stored_versioned_and_marked_stale(milvus):
    store = CalibrationStore(milvus, "calibration_test")
    assert store.current() is None and not store.mark_stale("nothing to mark")
    first = store.save(Calibration(temperature=0.03), {"top1": 0.9}, "enc/224/imagenet/1")
    second = store.save(Calibration(temperature=0.04), {"top1": 0.95}, "enc/224/imagenet/1")
    assert (first.version, second.version) == (1, 2)
    assert store.current() == second and store.version(1) == first
    assert store.mark_stale("3 photos added")
    current = store.current()
    assert current is not None and current.stale and current.stale_reason == "3 photos added"
    assert current.parameters.temperature == 0.04 and current.figures == {"top1": 0.95}
    # Another store of the same name sees the same fit: every replica reads Milvus.
    assert CalibrationStore(milvus, "calibration_test").current() == current
    assert CalibrationStore(milvus, "another").current() is None


def test_a_collection_remembers_its_encoder(milvus):
    store = CalibrationStore(milvus, "encoder_test")
    store.check_encoder("efficientnet-lite0/224/imagenet/1", legacy="")
    store.check_encoder("efficientnet-lite0/224/imagenet/1", legacy="")
    with pytest.raises(EncoderMismatch, match="holds embeddings of efficientnet-lite0"):
        store.check_encoder("efficientnet-lite2/260/imagenet/1", legacy="")


def test_an_older_collection_is_migrated_to_keep_specimens(milvus):
    from pymilvus import DataType

    name = "migration_test"
    if milvus.has_collection(name):
        milvus.drop_collection(name)
    schema = milvus.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("label", DataType.VARCHAR, max_length=128)
    schema.add_field("source", DataType.VARCHAR, max_length=512)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=4)
    params = milvus.prepare_index_params()
    params.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    milvus.create_collection(name, schema=schema, index_params=params)
    rows = [{"id": "a", "label": "trilobites", "source": "trilobites/a.jpg"},
            {"id": "f-0", "label": "crinoids", "source": "feedback:7"},
            {"id": "f-1", "label": "crinoids", "source": "feedback:7"}]
    milvus.insert(name, [{**row, "embedding": [1.0, 0.0, 0.0, float(i)]}
                         for i, row in enumerate(rows)])
    index = SpecimenIndex(milvus, 4, name)
    assert not index.has_specimens()
    assert migrate(index) == 3 and index.has_specimens()
    got = {s.id: s.specimen for batch in index.specimens() for s in batch}
    assert got == {"a": "a", "f-0": "feedback:7", "f-1": "feedback:7"}
    assert migrate(index) == 0  # idempotent
    milvus.drop_collection(name)


class _FourDimensions:
    """An encoder of 4-d vectors from a photo's first byte: enough to see rows move."""

    name = "four"
    dim = 4

    def __init__(self):
        from rag.encoders import EncoderIdentity

        self.identity = EncoderIdentity("four", 4, "imagenet", 1)

    def encode(self, images):
        from rag.records import Embedding

        return [Embedding(np.array([1.0, float(b[0]), 0.0, 0.0], np.float32) /
                          np.hypot(1.0, float(b[0])), [], self.name) for b in images]


def test_moving_a_collection_to_another_encoder(milvus, tmp_path):
    from rag.reembed import reembed
    from rag.specimens import Specimen

    (tmp_path / "trilobites").mkdir()
    (tmp_path / "trilobites" / "a.jpg").write_bytes(b"\x02a")
    (tmp_path / "trilobites" / "b.jpg").write_bytes(b"\x03b")
    index = SpecimenIndex(milvus, 4, "reembed_test")
    for name in (index.collection, f"{index.collection}_before_reembed"):
        if milvus.has_collection(name):
            milvus.drop_collection(name)
    index.create()
    old = np.array([0.0, 0.0, 1.0, 0.0], np.float32)
    index.insert([Specimen("a", "trilobites", "trilobites/a.jpg", old, "s1"),
                  Specimen("b", "trilobites", "trilobites/b.jpg", old, "s1"),
                  Specimen("gone", "trilobites", "trilobites/gone.jpg", old),
                  Specimen("f-0", "crinoids", "feedback:9", old, "feedback:9")])
    index.seal_and_load()
    report = reembed(index, _FourDimensions(), tmp_path, progress=False)
    assert report.moved == 2 and len(report.not_moved) == 2
    assert any("gone" in line and "no such photo" in line for line in report.not_moved)
    assert any("feedback:9" in line and "not kept" in line for line in report.not_moved)
    moved = SpecimenIndex(milvus, 4, "reembed_test")
    rows = {s.id: s for batch in moved.specimens() for s in batch}
    assert set(rows) == {"a", "b"} and rows["a"].specimen == "s1"
    assert rows["a"].embedding[2] == pytest.approx(0.0)  # the new encoder's vector
    assert milvus.has_collection(report.kept_as)  # the old one kept until the next move
    for name in (moved.collection, report.kept_as):
        milvus.drop_collection(name)


def test_a_fit_sets_only_what_it_fits():
    settings = Calibration(not_fossil=0.5, age_mismatch_weight=0.2, weak_roll_up=0.3)
    fitted = Calibration(temperature=0.02, open_set_similarity=0.7, confidence_offset=2.0,
                         threshold=0.9, not_fossil=0.1, weak_roll_up=0.9)
    served = settings.with_fit(fitted)
    assert (served.temperature, served.open_set_similarity, served.confidence_offset,
            served.threshold) == (0.02, 0.7, 2.0, 0.9)
    assert (served.not_fossil, served.age_mismatch_weight, served.weak_roll_up) == \
        (0.5, 0.2, 0.3)  # the deployment's own settings


def test_a_move_to_another_encoder_retires_the_fit_and_staleness_is_its_own_key(milvus):
    store = CalibrationStore(milvus, "retire_test")
    first = store.save(Calibration(), {"top1": 0.9}, "a/224/imagenet/1")
    assert store.mark_stale("2 photos added")
    second = store.save(Calibration(threshold=0.8), {"top1": 0.95}, "a/224/imagenet/1")
    current = store.current()
    assert current is not None and not current.stale  # the mark was the old version's
    assert current.version == second.version == first.version + 1
    store.moved_to("b/260/imagenet/1")
    assert store.current() is None and store.encoder() == "b/260/imagenet/1"
    assert store.version(second.version) is not None  # kept in the history


def test_a_migration_stopped_between_its_renames_is_finished(milvus):
    from rag.specimens import Specimen

    name = "migration_resume_test"
    for leftover in (name, f"{name}_rebuilding", f"{name}_before_migration"):
        if milvus.has_collection(leftover):
            milvus.drop_collection(leftover)
    copy = SpecimenIndex(milvus, 4, f"{name}_rebuilding")
    copy.create()
    copy.insert([Specimen("a", "trilobites", "t/a.jpg", np.array([1.0, 0, 0, 0]), "s")])
    copy.seal_and_load()
    old = SpecimenIndex(milvus, 4, f"{name}_before_migration")
    old.create()  # the old collection, renamed aside; the copy not yet in place
    index = SpecimenIndex(milvus, 4, name)
    assert not index.exists()
    migrate(index)
    assert index.exists() and not milvus.has_collection(old.collection)
    assert [s.id for batch in index.specimens() for s in batch] == ["a"]
    milvus.drop_collection(name)
