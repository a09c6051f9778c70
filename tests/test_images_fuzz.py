"""Property-based fuzzing of the image decoder: an (H, W, 3) uint8 array or a DataError.

Every example decodes with a small pixel limit (4 M px), so no input may allocate more than
a few hundred MB or take more than a couple of seconds; peak RSS is checked after each one.
"""

from __future__ import annotations

import resource
import struct
import zlib
from datetime import timedelta

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simdr_lib.data.images import decode_image
from simdr_lib.errors import DataError

pytestmark = pytest.mark.filterwarnings("ignore::simdr_lib.data.images.DataWarning")

MAX_PIXELS = 4_000_000
MAX_RSS_GROWTH_MB = 300
FUZZ = settings(
    max_examples=400,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SIDES = st.one_of(st.sampled_from([0, 1, 2, 255, 256, 4096, 65535]), st.integers(0, 65535))


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def rss_baseline() -> float:
    """Peak RSS (MB) of the process before the first fuzz example."""
    return _max_rss_mb()


def check_decode(data: bytes, baseline_mb: float) -> None:
    """The property: an RGB uint8 image within the pixel limit, or a one-line DataError."""
    try:
        image = decode_image(data, "fuzz.bin", max_pixels=MAX_PIXELS)
    except DataError as exc:
        msg = str(exc)
        assert msg.startswith("fuzz.bin: ") and "\n" not in msg, msg
    else:
        assert isinstance(image, np.ndarray) and image.dtype == np.uint8
        assert image.ndim == 3 and image.shape[2] == 3 and image.flags.c_contiguous
        assert 0 < image.shape[0] * image.shape[1] <= MAX_PIXELS
    growth = _max_rss_mb() - baseline_mb
    assert growth < MAX_RSS_GROWTH_MB, f"peak RSS grew by {growth:.0f} MB"


def _encoded(ext: str, h: int, w: int, seed: int, **params: int) -> bytes:
    pixels = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    flags = [v for kv in params.items() for v in (getattr(cv2, kv[0]), kv[1])]
    ok, buf = cv2.imencode(ext, pixels, flags)
    assert ok
    return buf.tobytes()


JPEGS = (
    _encoded(".jpg", 24, 32, 0),
    _encoded(".jpg", 17, 9, 1, IMWRITE_JPEG_PROGRESSIVE=1),
)
PNG = _encoded(".png", 12, 20, 2)
REAL = (*JPEGS, PNG, _encoded(".bmp", 10, 6, 3), _encoded(".tiff", 8, 8, 4))


def _sof_offset(data: bytes) -> int:
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC2):
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return pos


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real small image with random byte edits, insertions and/or truncation."""
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[pos] = draw(st.integers(0, 255))
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def jpeg_with_random_sof(draw: st.DrawFn) -> bytes:
    """A real JPEG whose frame header claims random (width, height), optionally cut."""
    data = bytearray(draw(st.sampled_from(JPEGS)))
    pos = _sof_offset(bytes(data))
    data[pos + 5 : pos + 9] = struct.pack(">HH", draw(SIDES), draw(SIDES))
    if draw(st.booleans()):
        data[pos + 4] = draw(st.sampled_from([0, 8, 12, 16, 255]))  # precision
    return bytes(data)


@st.composite
def png_with_random_ihdr(draw: st.DrawFn) -> bytes:
    """A real PNG whose IHDR claims random size / depth / colour type (CRC fixed or not)."""
    data = bytearray(PNG)
    big = st.one_of(SIDES, st.integers(0, 2**32 - 1))
    data[16:24] = struct.pack(">II", draw(big), draw(big))
    if draw(st.booleans()):
        data[24] = draw(st.sampled_from([1, 2, 4, 8, 16, 3, 0]))
        data[25] = draw(st.sampled_from([0, 2, 3, 4, 6, 7]))
    if draw(st.booleans()):
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@st.composite
def bmp_header(draw: st.DrawFn) -> bytes:
    """A BITMAPINFOHEADER with random size, depth and compression, then random bytes."""
    width = draw(st.integers(-(2**31), 2**31 - 1) | st.integers(-70000, 70000))
    height = draw(st.integers(-(2**31), 2**31 - 1) | st.integers(-70000, 70000))
    bpp = draw(st.sampled_from([0, 1, 4, 8, 16, 24, 32, 64]))
    compression = draw(st.integers(0, 6))
    body = draw(st.binary(max_size=512))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, compression, 0, 0, 0, 0, 0)
    offset = 14 + len(info)
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + info + body


@st.composite
def tiff_header(draw: st.DrawFn) -> bytes:
    """A little-endian baseline TIFF IFD with random dimensions and strip layout."""
    u32 = st.one_of(st.sampled_from([0, 1, 65535, 2**31 - 1, 2**32 - 1]), st.integers(0, 5000))
    pixels = draw(st.binary(max_size=256))
    entries = [
        (256, 4, 1, draw(u32)),  # ImageWidth
        (257, 4, 1, draw(u32)),  # ImageLength
        (258, 3, 1, draw(st.sampled_from([1, 4, 8, 16, 32]))),  # BitsPerSample
        (259, 3, 1, draw(st.sampled_from([1, 5, 7, 8, 32773]))),  # Compression
        (262, 3, 1, draw(st.sampled_from([0, 1, 2, 3]))),  # Photometric
        (273, 4, 1, 8),  # StripOffsets: pixels right after the header
        (277, 3, 1, draw(st.sampled_from([1, 3, 4]))),  # SamplesPerPixel
        (278, 4, 1, draw(u32)),  # RowsPerStrip
        (279, 4, 1, len(pixels)),  # StripByteCounts
    ]
    ifd_offset = 8 + len(pixels)
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + pixels + ifd


MAGICS = (
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xc0\x00\x11\x08",
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
)


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(rss_baseline: float, data: bytes) -> None:
    check_decode(data, rss_baseline)


@FUZZ
@given(data=st.one_of(mutated(), jpeg_with_random_sof(), png_with_random_ihdr()))
def test_mutated_real_images(rss_baseline: float, data: bytes) -> None:
    check_decode(data, rss_baseline)


@FUZZ
@given(
    data=st.one_of(
        st.tuples(st.sampled_from(MAGICS), st.binary(max_size=2048)).map(b"".join),
        bmp_header(),
        tiff_header(),
    )
)
def test_magic_headers_with_random_bodies(rss_baseline: float, data: bytes) -> None:
    check_decode(data, rss_baseline)


@pytest.mark.parametrize("side", [0, 1, 2000, 2001, 65535])
def test_sof_sides_at_the_limit(rss_baseline: float, side: int) -> None:
    """2000 x 2000 = the limit (decoded, corrupt data); 2001 x 2000 refused; 0 corrupt header."""
    data = bytearray(JPEGS[0])
    pos = _sof_offset(bytes(data))
    data[pos + 5 : pos + 9] = struct.pack(">HH", 2000, side)
    check_decode(bytes(data), rss_baseline)
    if side == 2001:
        with pytest.raises(DataError, match="image is 2001x2000 = 4,002,000 pixels"):
            decode_image(bytes(data), "fuzz.bin", max_pixels=MAX_PIXELS)
