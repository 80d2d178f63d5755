"""The deployments through their handles, as the job task calls them."""

import numpy as np
from ray import serve

from paleon.tools import gallery
from rag.encoders import EfficientNetLite0Encoder


def test_classifier_batches_concurrent_calls_and_keeps_their_order(serve_app):
    classifier = serve.get_deployment_handle("VisionClassifier", "paleon")
    info = classifier.info.remote().result()
    assert info == {"encoder": "efficientnet-lite0", "dim": 1280, "max_batch_size": 8}
    images = [gallery.held_out(label, 1)[0] for label in gallery.CLASSES]
    responses = [classifier.embed.remote(image) for image in images]
    results = [response.result() for response in responses]
    local = EfficientNetLite0Encoder(threads=1).encode(images)
    for result, expected in zip(results, local, strict=True):
        assert result.vector.shape == (1280,)
        assert np.allclose(result.vector, expected.vector, atol=1e-4)
        assert result.top_classes[0].index == expected.top_classes[0].index


def test_retriever_answers_per_embedding(serve_app):
    retriever = serve.get_deployment_handle("Retriever", "paleon")
    vector = np.ones(1280, dtype=np.float32) / np.sqrt(1280)
    hits = retriever.search.remote([vector, vector], 3).result()
    assert len(hits) == 2 and hits[0] == hits[1]
    assert "specimens" in retriever.ping.remote().result()


def test_reconfigure_applies_batch_settings_on_the_replica(serve_app):
    # Serve calls reconfigure() with user_config on deploy and on every config change;
    # here it is called directly to check what it changes (the cluster test redeploys).
    classifier = serve.get_deployment_handle("VisionClassifier", "paleon")
    try:
        classifier.reconfigure.remote({"max_batch_size": 3, "batch_wait_timeout_s": 0.05}).result()
        assert classifier.info.remote().result()["max_batch_size"] == 3
    finally:
        classifier.reconfigure.remote({"max_batch_size": 8, "batch_wait_timeout_s": 0.01}).result()
    assert classifier.info.remote().result()["max_batch_size"] == 8
