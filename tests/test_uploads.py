import io

import pytest
from PIL import Image

from configs import UploadSettings
from jobs.uploads import check_count, inspect, normalise, prepare
from paleon.errors import InvalidRequest, PayloadTooLarge

LIMITS = UploadSettings(max_files=5, max_file_bytes=10 * 2**20, max_pixels=40_000_000,
                      long_side=512)


FORMATS_AND_TYPES = [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def photo_with_gps_and_rotation() -> bytes:
    image = Image.new("RGB", (800, 400), "red")
    image.paste(Image.new("RGB", (100, 400), "blue"), (0, 0))  # a blue band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    return encode(image, "JPEG", exif=exif)


def test_exif_orientation_applied_and_metadata_stripped():
    stored = normalise("field.jpg", "image/jpeg", photo_with_gps_and_rotation(), LIMITS)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (256, 512)  # rotated upright, long side downscaled to 512
        assert not image.getexif()  # no orientation, maker or GPS left
        assert "exif" not in image.info
        top_left = image.getpixel((128, 20))
        assert top_left[2] > 150 and top_left[0] < 100  # the blue band is now on top


@pytest.mark.parametrize("fmt,kind", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_are_accepted(fmt, kind):
    data = encode(Image.new("RGBA", (64, 64), (0, 255, 0, 128)), fmt)
    with Image.open(io.BytesIO(normalise("x", kind, data, LIMITS))) as image:
        assert image.format == "JPEG" and image.mode == "RGB"


def test_bytes_must_match_the_declared_type():
    png = encode(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(InvalidRequest, match="'fake.jpg' is not a valid JPEG"):
        normalise("fake.jpg", "image/jpeg", png, LIMITS)


@pytest.mark.parametrize("check", [inspect, normalise], ids=["on arrival", "in the job"])
def test_garbage_and_truncated_images_are_refused(check):
    with pytest.raises(InvalidRequest, match="'noise.png'"):
        check("noise.png", "image/png", b"\x89PNG not really", LIMITS)
    noise = Image.effect_noise((256, 256), 50).convert("RGB")
    for fmt, kind in FORMATS_AND_TYPES:
        whole = encode(noise, fmt)
        with pytest.raises(InvalidRequest, match=f"'cut' is not a valid {fmt}"):
            check("cut", kind, whole[: len(whole) // 3], LIMITS)


def test_data_after_the_end_of_a_jpeg_is_not_truncation():
    # Phones append data after a JPEG's end (a motion photo's video, maker trailers).
    whole = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    assert inspect("motion.jpg", "image/jpeg", whole + b"ftypmp4" + bytes(500), LIMITS)
    # An appended video holds any bytes, start-of-scan markers included.
    video = b"ftypmp4" + b"\xff\xda\x00\x0c" + bytes(500)
    assert inspect("motion.jpg", "image/jpeg", whole + video, LIMITS)
    assert prepare(0, whole + video, LIMITS)


def test_a_multi_picture_jpeg_is_a_jpeg():
    # Phones' MPO files: two JPEGs in one, which Pillow's JPEG reader names "MPO".
    first, second = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (64, 48), "blue")
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    mpo = out.getvalue()
    assert inspect("pair.jpg", "image/jpeg", mpo, LIMITS) == "image/jpeg"
    with Image.open(io.BytesIO(prepare(0, mpo, LIMITS))) as image:
        assert image.format == "JPEG" and image.getpixel((10, 10))[0] > 200  # the first


def test_a_truncated_jpeg_with_a_thumbnail_is_still_truncated():
    # An EXIF thumbnail carries its own EOI, before the main image's first scan.
    image = Image.effect_noise((256, 256), 50).convert("RGB")
    thumbnail = encode(Image.new("RGB", (16, 16)), "JPEG")
    exif = Image.Exif()
    exif[0x010F] = "maker"
    data = encode(image, "JPEG", exif=exif.tobytes() + thumbnail)
    assert inspect("whole.jpg", "image/jpeg", data, LIMITS)
    with pytest.raises(InvalidRequest, match="truncated"):
        inspect("cut.jpg", "image/jpeg", data[: len(data) - 200], LIMITS)


def test_inspecting_reads_headers_only(monkeypatch):
    data = photo_with_gps_and_rotation()
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded"))
    assert inspect("a.jpg", "image/jpeg", data, LIMITS) == "image/jpeg"


def test_empty_file_is_refused():
    with pytest.raises(InvalidRequest, match="empty"):
        normalise("zero.jpg", "image/jpeg", b"", LIMITS)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("1", (12_000, 12_000)), "PNG")  # 144 MP in a few hundred KB
    assert len(bomb) < 2**20
    with pytest.raises(InvalidRequest, match="decompression bomb"):
        normalise("bomb.png", "image/png", bomb, LIMITS)


def test_content_type_and_size_limits():
    with pytest.raises(InvalidRequest, match="text/plain"):
        normalise("notes.txt", "text/plain", b"hello", LIMITS)
    with pytest.raises(PayloadTooLarge, match="'big.jpg'"):
        normalise("big.jpg", "image/jpeg", b"\xff" * (LIMITS.max_file_bytes + 1), LIMITS)


@pytest.mark.parametrize("count", [0, 6])
def test_file_count(count):
    with pytest.raises(InvalidRequest):
        check_count(count, LIMITS)
    check_count(5, LIMITS)


def test_a_large_jpeg_decodes_at_the_dct_scale_nearest_the_stored_size():
    limits = UploadSettings(long_side=1024)
    big = encode(Image.new("RGB", (4000, 3000), "gray"), "JPEG")
    with Image.open(io.BytesIO(normalise("phone.jpg", "image/jpeg", big, limits))) as image:
        assert image.size == (1000, 750)  # decoded at 1/4: no full decode, no resize
    png = encode(Image.new("RGB", (4000, 3000), "gray"), "PNG")  # no DCT scales: resized
    with Image.open(io.BytesIO(normalise("scan.png", "image/png", png, limits))) as image:
        assert image.size == (1024, 768)


def _with_metadata(fmt: str) -> bytes:
    """A photo carrying every kind of ancillary data its format can hold."""
    from PIL import ImageCms, PngImagePlugin

    image = Image.new("RGB", (64, 48), "orange")
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPS 51.5N</x:xmpmeta>'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    if fmt == "JPEG":
        return encode(image, fmt, exif=exif, xmp=xmp, icc_profile=icc,
                      comment=b"found at 51.5N 0.1W")
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "found at 51.5N 0.1W")  # tEXt
        text.add_itxt("Location", "51.5N 0.1W")  # iTXt
        text.add_text("Note", "51.5N " * 50, zip=True)  # zTXt
        return encode(image, fmt, pnginfo=text, exif=exif, icc_profile=icc)
    return encode(image, fmt, exif=exif, xmp=xmp, icc_profile=icc)


@pytest.mark.parametrize("fmt,kind", FORMATS_AND_TYPES)
def test_no_ancillary_data_survives_normalisation(fmt, kind):
    data = _with_metadata(fmt)
    assert b"51.5N" in data  # the test photo does carry it
    stored = normalise("meta", kind, data, LIMITS)
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif()
        assert set(image.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density"}
    for marker in (b"51.5N", b"xmpmeta", b"Exif", b"ICC_PROFILE"):
        assert marker not in stored
