"""Small pictures: a 256 px WebP, upright and without metadata, of a job's first photo and
of every reference specimen (kept in Milvus by rag.thumbnail_store). Pillow only: the job
workers make one per job and import nothing of Milvus."""

import io

from PIL import Image, ImageOps

SIDE = 256


def make(data: bytes, side: int = SIDE) -> bytes:
    """A WebP at most `side` px, upright, no metadata (GPS included), from a photo's bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (side, side))  # JPEG: decode at a reduced scale
        image.load()
        upright = ImageOps.exif_transpose(image).convert("RGB")
    return from_image(upright, side)


def from_image(image: Image.Image, side: int = SIDE) -> bytes:
    """The same from a decoded, upright picture (a copy is made: `image` is left as it is).

    Made for every job, so cheap: a reducing gap, bilinear, and WebP's fastest method take
    ~3 ms of CPU here, against ~9 ms for Pillow's defaults from the JPEG (LANCZOS, method
    4) (docs/benchmarks.md, run 16)."""
    small = image.convert("RGB") if image.mode != "RGB" else image.copy()
    small.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=1.5)
    small.info.clear()
    out = io.BytesIO()
    small.save(out, "WEBP", quality=75, method=0)
    return out.getvalue()
