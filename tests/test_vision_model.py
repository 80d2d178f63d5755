"""The OpenAI-compatible generator against a loopback Chat Completions server."""

import asyncio
import base64
import io
import json
import logging

import numpy as np
import pytest
from PIL import Image

from configs.calibration import Calibration
from paleon.tools import gallery
from rag import notices, pipeline
from rag.compose import compose
from rag.records import Embedding, Hit, Notice, NoticeCode
from rag.vision_model import VisionAnswer, VisionModel, refine
from tests.fake_openai import FakeOpenAI
from tests.kb_fixture import KB

API_KEY = "sk-test-do-not-leak-0123456789"
PHOTO = gallery.held_out("nautiloids", 1)[0]
# Retrieval alone: ammonoids, confidently.
HITS = [[Hit(id=f"a{i}", label="ammonoids", source="ammonoids/a.jpg", score=0.85)
         for i in range(10)]]
ENCODED = [Embedding(vector=np.zeros(4, dtype=np.float32), top_classes=[],
                     encoder="efficientnet-lite0")]
GOOD = json.dumps({"taxon_id": "nautiloids", "confidence": 0.82,
                   "rationale": "Smooth shell with simple, gently curved septa.",
                   "observed_features": ["simple sutures", "smooth shell"]})


@pytest.fixture
def fake():
    server = FakeOpenAI()
    yield server
    server.close()


def identify(fake, timeout_s=5.0, retries=2, budget=None, hits=None, documents=None):
    vision = VisionModel(API_KEY, fake.url, "fake-vision", timeout_s, retries, image_side=128)

    async def knowledge(ids):
        return [{"id": i, "name": KB.by_id[i].name, "document": f"about {i}"} for i in ids]

    return asyncio.run(pipeline.identify(
        [PHOTO], ENCODED, hits or HITS, kb=KB, cal=Calibration(),
        documents=documents or knowledge, vision=vision, vision_budget_s=budget))


def answer(taxon_id="nautiloids", confidence=0.82, **more) -> str:
    return json.dumps({"taxon_id": taxon_id, "confidence": confidence,
                       "rationale": "Seen on the photo.", "observed_features": [], **more})


def test_a_good_answer_refines_the_identification(fake):
    fake.script = [("answer", GOOD)]
    result = identify(fake)
    ident = result["identification"]
    assert ident["source"] == "vision-model" and ident["taxon_id"] == "nautiloids"
    assert ident["confidence"] == 0.82 and ident["observed_features"] == ["simple sutures",
                                                                          "smooth shell"]
    assert ident["description"] == KB.by_id["nautiloids"].description  # grounded in the KB
    assert "Retrieval alone gave Nautiloids" in ident["explanation"]
    assert result["candidates"][0]["taxon_id"] == "ammonoids"  # the evidence is kept
    assert result["model"]["generator"] == "openai-compatible"
    assert result["model"]["generator_model"] == "fake-vision"
    assert result["warnings"] == ["The vision model named Nautiloids, which differs from the "
                                  "reference collection's evidence (see candidates)."]
    assert [n["code"] for n in result["notices"]] == ["vision_model_disagrees"]

    (request,) = fake.requests
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"
    body = request["body"]
    assert body["model"] == "fake-vision"
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert schema["schema"]["properties"]["taxon_id"]["enum"] == sorted(KB.by_id)
    parts = body["messages"][1]["content"]
    text = parts[0]["text"]
    assert "ammonoids: " in text and "[ammonoids] about ammonoids" in text
    assert "[concretions]" in text  # a look-alike of the candidates is retrieved too
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert max(sent.size) <= 128  # downscaled


@pytest.mark.parametrize("content, reason", [
    ("this is not JSON {", "did not match the schema"),
    (answer(confidence=0.3), "the vision model was not confident (Nautiloids, 30%)"),
    (json.dumps({"taxon_id": "nautiloids", "confidence": 7, "rationale": "x",
                 "observed_features": []}), "did not match the schema"),
    (json.dumps({"taxon_id": "unicorns", "confidence": 0.9, "rationale": "x",
                 "observed_features": []}), "'unicorns', which is not in the knowledge base"),
])
def test_an_unusable_answer_leaves_the_local_result(fake, content, reason):
    fake.script = [("answer", content)]
    result = identify(fake)
    assert result["identification"]["source"] == "retrieval"
    assert result["identification"]["taxon_id"] == "ammonoids"
    (warning,) = result["warnings"]
    assert warning.startswith("The retrieval result is shown: ") and reason in warning
    assert result["notices"] == [{"code": "vision_model_unused", "message": warning}]


def test_rate_limited_then_answered(fake):
    fake.script = [("status", 429), ("status", 503), ("answer", GOOD)]
    result = identify(fake, retries=2)
    assert result["identification"]["source"] == "vision-model"
    assert len(fake.requests) == 3


def test_persistent_errors_fall_back_with_a_warning(fake):
    fake.script = [("status", 500)]
    result = identify(fake, retries=1)
    assert len(fake.requests) == 2  # one try and one retry
    assert result["identification"]["source"] == "retrieval"
    assert result["warnings"] == ["The retrieval result is shown: the vision model answered "
                                  "HTTP 500."]


def test_a_timeout_falls_back(fake):
    fake.script = [("sleep", 3.0, GOOD)]
    result = identify(fake, timeout_s=0.3, retries=0)
    assert result["identification"]["source"] == "retrieval"
    assert result["warnings"] == ["The retrieval result is shown: the vision model timed out."]


def test_the_job_budget_bounds_the_vision_model(fake):
    fake.script = [("sleep", 3.0, GOOD)]
    result = identify(fake, timeout_s=10, retries=2, budget=0.3)
    assert result["identification"]["source"] == "retrieval"
    assert "did not answer in time" in result["warnings"][0]


def test_the_api_key_never_reaches_results_or_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.script = [("status", 429), ("answer", "not json")]
    result = identify(fake, retries=1)
    assert API_KEY not in json.dumps(result)
    assert API_KEY not in caplog.text
    assert base64.b64encode(PHOTO[:30]).decode()[:20] not in caplog.text  # no photo bytes
    assert "vision model not used" in caplog.text


def test_a_quirky_server_or_a_failed_lookup_never_fails_the_job(fake):
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": None}]}
    fake.script = [("raw", json.dumps(body))]
    result = identify(fake)
    assert result["identification"]["source"] == "retrieval"
    assert "did not match the schema" in result["warnings"][0]

    async def broken(ids):
        raise RuntimeError("milvus down")

    fake.script = [("answer", GOOD)]
    result = identify(fake, documents=broken)
    assert result["identification"]["source"] == "retrieval"
    assert result["warnings"] == ["The retrieval result is shown: the vision model step failed "
                                  "(RuntimeError)."]


def test_a_confident_answer_replaces_an_unidentified_result(fake):
    faint = [[Hit(id=f"t{i}", label="trilobites", source="t.jpg", score=0.45)
              for i in range(10)]]
    long = answer(rationale="x" * 5000, observed_features=[f"f{i}" for i in range(20)])
    fake.script = [("answer", long)]
    result = identify(fake, hits=faint)
    ident = result["identification"]
    assert ident["status"] == "identified" and ident["taxon_id"] == "nautiloids"
    assert len(ident["observed_features"]) == 12  # a long answer is trimmed, not refused
    # Retrieval's "unidentified" goes; nothing called it a pseudofossil.
    assert [n["code"] for n in result["notices"]] == ["vision_model_disagrees"]
    assert not any("similar enough" in w for w in result["warnings"])


def test_a_pseudofossil_answer_warns_it_may_not_be_a_fossil(fake):
    fake.script = [("answer", answer("concretions", 0.9))]
    result = identify(fake)
    assert result["identification"]["taxon_id"] == "concretions"
    assert [n["code"] for n in result["notices"]] == ["vision_model_disagrees", "not_a_fossil"]
    assert "may not be a fossil" in result["warnings"][1] and "Concretions" in result["warnings"][1]


def local_result(hits):
    return compose(hits, [[] for _ in hits], KB, Calibration(),
                   pipeline.model_info("efficientnet-lite0", KB, Calibration(), None))


def test_refine_decides_by_notice_code_not_by_wording():
    concretions = VisionAnswer(taxon_id="concretions", confidence=0.9, rationale="Plain nodule.")
    local = local_result(HITS)
    worded = Notice(NoticeCode.NOT_A_FOSSIL, "Reworded: perhaps a rock.")
    # A not-a-fossil notice, however worded, is not given twice.
    refined = refine(local.model_copy(update={"notices": [worded]}), concretions, KB,
                     Calibration())
    assert [n.code for n in refined.notices] == [NoticeCode.NOT_A_FOSSIL,
                                                 NoticeCode.VISION_MODEL_DISAGREES]
    assert refined.notices[0] is worded
    # Wording alone is no notice: a message that merely mentions it does not stop one.
    lookalike = Notice(NoticeCode.PHOTOS_DISAGREE, "This may not be a fossil, or two.")
    refined = refine(local.model_copy(update={"notices": [lookalike]}), concretions, KB,
                     Calibration())
    assert [n.code for n in refined.notices][-1] == NoticeCode.NOT_A_FOSSIL


def test_refine_drops_the_unidentified_notice_by_its_code():
    nautiloids = VisionAnswer(taxon_id="nautiloids", confidence=0.9, rationale="Septa.")
    reworded = Notice(NoticeCode.UNIDENTIFIED, "Reworded: nothing close enough.")
    disagree = notices.photos_disagree(["Ammonoids", "Nautiloids"])
    local = local_result(HITS).model_copy(update={"notices": [reworded, disagree]})
    refined = refine(local, nautiloids, KB, Calibration())
    assert [n.code for n in refined.notices] == [NoticeCode.PHOTOS_DISAGREE,
                                                 NoticeCode.VISION_MODEL_DISAGREES]
    assert refined.warnings == [n.message for n in refined.notices]
