"""Uploaded photos: inspected when they arrive (`inspect`: headers only, no decoding), then
normalised by the job that uses them (`prepare` / `normalise`: one decode, EXIF applied,
metadata dropped, long side limited), so accepting an upload never waits behind decoding."""

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


def inspect(name: str, content_type: str | None, data: bytes, limits: UploadSettings) -> str:
    """What can be known without decoding, cheaply enough for the event loop: the declared
    type and size, the format in the header, the pixel count (decompression bombs), and that
    the file is whole (no truncated upload). Returns the declared content type."""
    kind = check_declared(name, content_type, len(data), limits)
    if not data:
        raise InvalidRequest(f"File {name!r} is empty.")
    expected = FORMATS[kind]
    with _readable(name, expected), Image.open(io.BytesIO(data), formats=[expected]) as image:
        _check_pixels(name, image, limits)
    if not _whole(expected, data):
        raise InvalidRequest(f"File {name!r} is not a valid {expected} image (truncated).")
    return kind


def prepare(index: int, data: bytes, limits: UploadSettings,
            then: Callable[[Image.Image], object] | None = None) -> bytes:
    """`normalise` for a photo that `inspect` accepted, by its position in the job (the
    worker has the bytes, not the upload's name or declared type); `then` gets the decoded,
    upright, downscaled picture too (one decode for the thumbnail as well)."""
    name = f"photo {index + 1}"
    known = list(FORMATS.values())
    with _readable(name, "JPEG, PNG or WebP"), Image.open(io.BytesIO(data), formats=known) as image:
        # Pillow's JPEG reader names a multi-picture JPEG (phones' MPO) "MPO".
        detected = "JPEG" if image.format == "MPO" else image.format
    kind = next((kind for kind, fmt in FORMATS.items() if fmt == detected), None)
    if kind is None:
        raise InvalidRequest(f"File {name!r} is not a JPEG, PNG or WebP image ({detected}).")
    return normalise(name, kind, data, limits, then)


def _whole(fmt: str, data: bytes) -> bool:
    """The format's end marker is there. JPEG: the main image's EOI (phones may append data
    after it, such as a motion photo's video or an MPO's second picture); PNG: an IEND
    chunk; WebP: the RIFF length covers the data."""
    if fmt == "JPEG":
        scan = _first_scan(data)
        # Entropy-coded data never holds FF D9 (an FF in it is followed by 00 or a
        # restart marker), so the first one after the first scan is the main image's EOI.
        return scan is not None and data.find(b"\xff\xd9", scan) >= 0
    if fmt == "PNG":
        return data.rfind(b"IEND") > 0
    return len(data) >= 8 + int.from_bytes(data[4:8], "little")


def _first_scan(data: bytes) -> int | None:
    """Where the first JPEG scan's data begins, by walking the marker segments from SOI
    (their lengths skip EXIF thumbnails, which hold markers of their own); None if the
    segments end before a scan."""
    position = 2  # after SOI
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            position += 2
            continue
        end = position + 2 + int.from_bytes(data[position + 2:position + 4], "big")
        if marker == 0xDA:
            return end if end <= len(data) else None
        position = end
    return None


def _check_pixels(name: str, image: Image.Image, limits: UploadSettings) -> None:
    width, height = image.size
    if width * height > limits.max_pixels:
        raise InvalidRequest(
            f"File {name!r} is {width}×{height} pixels; the limit is "
            f"{limits.max_pixels} pixels (possible decompression bomb)."
        )


@contextmanager
def _readable(name: str, expected: str) -> Iterator[None]:
    """Pillow's ways of saying a file is not a usable image, as one clear 400."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidRequest(
            f"File {name!r} is too large to decode (decompression bomb)."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(
            f"File {name!r} is not a valid {expected} image ({type(exc).__name__})."
        ) from None


def normalise(name: str, content_type: str, data: bytes, limits: UploadSettings,
              then: Callable[[Image.Image], object] | None = None) -> bytes:
    """Decode as the declared format, apply EXIF orientation, drop all metadata (GPS
    included), downscale to at most the configured long side and re-encode as JPEG. Blocking
    (decoding): the job task runs it, never an event loop that serves requests."""
    check_declared(name, content_type, len(data), limits)
    if not data:
        raise InvalidRequest(f"File {name!r} is empty.")
    expected = FORMATS[content_type]
    with _readable(name, expected), Image.open(io.BytesIO(data), formats=[expected]) as image:
        _check_pixels(name, image, limits)
        width, height = image.size
        if expected == "JPEG":
            # Decode at the smallest DCT scale that still gives ~the stored size: a
            # 12 MP photo decodes at 1/4 (≈ 1008 px) several times faster than whole.
            fit = 0.9 * limits.long_side / max(width, height)
            image.draft("RGB", (max(int(width * fit), 1), max(int(height * fit), 1)))
        image.load()
        # In place: a photo that needs no turning is not copied (a copy of a decoded photo
        # was a tenth of a job worker's CPU).
        ImageOps.exif_transpose(image, in_place=True)
        upright = image if image.mode == "RGB" else image.convert("RGB")
        upright.thumbnail((limits.long_side, limits.long_side), Image.Resampling.LANCZOS)
    # Pillow's JPEG writer takes a comment (and more) from the image's own info: none
    # may reach the stored photo, so only pixels are written.
    upright.info.clear()
    if then is not None:
        then(upright)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=90, optimize=False)
    return out.getvalue()

