"""The encoders: the compiled model (TorchScript, frozen, channels-last, oneDNN fusion) gives
what eager PyTorch gives, and every ENCODERS variant builds and gives unit vectors of its
dim, told apart by its identity."""

import io

import numpy as np
import pytest
from PIL import Image

from paleon.tools import gallery
from rag.encoders import ENCODERS, EfficientNetLite0Encoder, EfficientNetLiteEncoder, build_encoder


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


# Built once per test session: each costs a model load and a TorchScript compile.
_built: dict[str, EfficientNetLiteEncoder] = {}


def _encoder(name: str) -> EfficientNetLiteEncoder:
    if name not in _built:
        encoder = build_encoder(name, threads=1)
        assert isinstance(encoder, EfficientNetLiteEncoder)
        _built[name] = encoder
    return _built[name]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # lossless: JPEG's 8×8 blocks would break the symmetry
    return buffer.getvalue()


def _mirror_symmetric(photo: bytes) -> bytes:
    """The photo's left half beside its own mirror image."""
    pixels = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
    half = pixels[:, : pixels.shape[1] // 2]
    return _png(Image.fromarray(np.concatenate([half, half[:, ::-1]], axis=1)))


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite0-flip",
                                  "efficientnet-lite0-google", "efficientnet-lite2"])
def test_a_variant_builds_and_gives_unit_vectors_of_its_dim(name):
    encoder = _encoder(name)
    photos = gallery.mixed_photos(3)
    got = encoder.encode(photos[:1]) + encoder.encode(photos[1:])
    assert encoder.name == name and encoder.identity == ENCODERS[name].identity
    assert encoder.dim == ENCODERS[name].dim and encoder.side == encoder.identity.input_size
    for embedding in got:
        assert embedding.vector.shape == (encoder.dim,) and embedding.vector.dtype == np.float32
        assert abs(float(np.linalg.norm(embedding.vector)) - 1.0) < 1e-5
        assert embedding.encoder == name and len(embedding.top_classes) == 3
    assert encoder.encode([]) == []


def test_two_views_of_a_symmetric_photo_are_one_view():
    symmetric = _mirror_symmetric(gallery.mixed_photos(1)[0])
    one = _encoder("efficientnet-lite0").encode([symmetric])[0]
    two = _encoder("efficientnet-lite0-flip").encode([symmetric])[0]
    assert float(one.vector @ two.vector) > 0.999
    assert [c.index for c in one.top_classes] == [c.index for c in two.top_classes]
    # A lopsided photo is not its own mirror image: the second view does change something.
    lopsided = gallery.mixed_photos(2)[1]
    one, two = (_encoder(n).encode([lopsided])[0] for n in
                ("efficientnet-lite0", "efficientnet-lite0-flip"))
    assert float(one.vector @ two.vector) < 0.999


def test_google_and_imagenet_normalisation_give_different_vectors():
    photo = gallery.mixed_photos(1)
    imagenet = _encoder("efficientnet-lite0").encode(photo)[0].vector
    google = _encoder("efficientnet-lite0-google").encode(photo)[0].vector
    assert float(imagenet @ google) < 0.999


def test_every_variant_has_its_own_identity():
    keys = [spec.identity.key() for spec in ENCODERS.values()]
    assert len(set(keys)) == len(ENCODERS) >= 6
    assert str(ENCODERS["efficientnet-lite0"].identity) == "efficientnet-lite0/224/imagenet/1"
    assert ENCODERS["efficientnet-lite2"].identity.input_size == 260
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("efficientnet-lite9")
