"""The classifier's compiled model (TorchScript, frozen, channels-last, oneDNN fusion) gives
what eager PyTorch gives, photo by photo and batch by batch."""

import numpy as np

from paleon.tools import gallery
from rag.encoders import EfficientNetLite0Encoder


def test_the_compiled_model_matches_eager_pytorch():
    photos = gallery.mixed_photos(6)
    compiled = EfficientNetLite0Encoder(threads=1)
    eager = EfficientNetLite0Encoder(threads=1, compiled=False)
    assert compiled.channels_last and not eager.channels_last
    # One at a time, then batches of 2 and 3 (each shape is its own fused graph).
    one_by_one = [compiled.encode([photo])[0] for photo in photos]
    batched = compiled.encode(photos[:2]) + compiled.encode(photos[2:5]) + \
        compiled.encode(photos[5:])
    expected = eager.encode(photos)
    for got in (one_by_one, batched):
        for mine, theirs in zip(got, expected, strict=True):
            assert float(np.abs(mine.vector - theirs.vector).max()) < 1e-4
            assert abs(float(np.linalg.norm(mine.vector)) - 1.0) < 1e-5
            assert [c.index for c in mine.top_classes] == [c.index for c in theirs.top_classes]
