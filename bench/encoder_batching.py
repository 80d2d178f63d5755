"""Raw encoder images/s by batch size and device, in one run (decode + resize + model).

    python bench/encoder_batching.py [--devices cpu cuda] [--batches 1 8 32 64]
                                     [--models eager compiled]

Prints each figure as a ratio to the first row (the first model, device and batch):
batching pays on a GPU, not on a small CPU. `compiled` is what the classifier runs on a CPU
(TorchScript, frozen, channels-last, oneDNN fusion; rag/encoders.py; on a GPU it runs
eager too); `eager` is plain PyTorch, as the peer and the kit's raw.py run it. The served
pipeline's batch size is `max_batch_size` in serve_config.yaml.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paleon.tools import gallery  # noqa: E402
from rag.encoders import EfficientNetLite0Encoder  # noqa: E402


def rate(encoder: EfficientNetLite0Encoder, images: list[bytes], batch: int,
         seconds: float) -> float:
    encoder.encode(images[:batch])  # warm-up (CUDA kernels, allocator)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        encoder.encode([images[(done + i) % len(images)] for i in range(batch)])
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", nargs="+", default=["cpu"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="+", choices=["compiled", "eager"],
                        default=["compiled"])
    args = parser.parse_args()
    images = gallery.mixed_photos(64)
    baseline = None
    first = f"{args.models[0]} {args.devices[0]} batch {args.batches[0]}"
    for model in args.models:
        for device in args.devices:
            encoder = EfficientNetLite0Encoder(device=device, threads=args.threads,
                                               compiled=model == "compiled")
            for batch in args.batches:
                value = rate(encoder, images, batch, args.seconds)
                baseline = baseline or value
                print(f"{model:>8} {device:>5} batch {batch:>3}: {value:8.1f} images/s "
                      f"({value / baseline:5.2f}× {first})")


if __name__ == "__main__":
    main()
