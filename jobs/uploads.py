"""Uploaded photos: checked against their declared type, then normalised before storage."""

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from configs import UploadSettings
from paleon.errors import InvalidRequest, PayloadTooLarge

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def check_count(count: int, limits: UploadSettings) -> None:
    if count < 1:
        raise InvalidRequest("Attach 1 to 5 photos in the multipart field `image_files`.")
    if count > limits.max_files:
        raise InvalidRequest(
            f"Too many photos: {count}. Send at most {limits.max_files} per job."
        )


def check_declared(name: str, content_type: str | None, size: int | None,
                   limits: UploadSettings) -> str:
    """The declared content type, once it is an accepted one and the size within limits."""
    if content_type is None or content_type not in FORMATS:
        raise InvalidRequest(
            f"File {name!r} has content type {content_type!r}; "
            f"accepted: {', '.join(FORMATS)}."
        )
    if size is not None and size > limits.max_file_bytes:
        raise PayloadTooLarge(
            f"File {name!r} is {size} bytes; the limit is {limits.max_file_bytes} bytes."
        )
    return content_type


def normalise(name: str, content_type: str, data: bytes, limits: UploadSettings) -> bytes:
    """Decode as the declared format, apply EXIF orientation, drop all metadata (GPS
    included), downscale to at most the configured long side and re-encode as JPEG. Blocking
    (decoding): run it on the decode executor, never on the event loop."""
    check_declared(name, content_type, len(data), limits)
    if not data:
        raise InvalidRequest(f"File {name!r} is empty.")
    expected = FORMATS[content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                width, height = image.size
                if width * height > limits.max_pixels:
                    raise InvalidRequest(
                        f"File {name!r} is {width}×{height} pixels; the limit is "
                        f"{limits.max_pixels} pixels (possible decompression bomb)."
                    )
                if expected == "JPEG":
                    # Decode at the smallest DCT scale that still gives ~the stored size: a
                    # 12 MP photo decodes at 1/4 (≈ 1008 px) several times faster than whole.
                    fit = 0.9 * limits.long_side / max(width, height)
                    image.draft("RGB", (max(int(width * fit), 1), max(int(height * fit), 1)))
                image.load()
                upright = ImageOps.exif_transpose(image).convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidRequest(
            f"File {name!r} is too large to decode (decompression bomb)."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(
            f"File {name!r} is not a valid {expected} image ({type(exc).__name__})."
        ) from None
    upright.thumbnail((limits.long_side, limits.long_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=90, optimize=False)
    return out.getvalue()
