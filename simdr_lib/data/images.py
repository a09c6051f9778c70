"""The project's only image decoder: every image becomes an ``(H, W, 3) uint8 RGB`` array.

Grayscale, gray+alpha and BGRA inputs are converted to RGB, 16-bit inputs are reduced to 8 bits,
and anything that is not a complete, decodable image raises :class:`DataError` naming the path.

Resource limits. Before any pixel is decoded, the width x height stated by the header is read
(JPEG: the first SOFn frame header; PNG: IHDR; BMP / TIFF / WebP: PIL's lazy ``Image.open``)
and images above ``max_pixels`` (config key ``data.max_image_pixels``) are refused, so a few
hundred bytes claiming 30000 x 30000 px cannot make the decoder allocate gigabytes. Only these
five formats are decoded; anything else is "not a decodable image".

Frames. The stored pixel grid is decoded, EXIF orientation ignored (``IMREAD_UNCHANGED``, like
HRNet's and PaddleDetection's ``IMREAD_IGNORE_ORIENTATION``). When the caller knows the size
the annotation file states (``expect_size=(W, H)``, the json's ``width`` / ``height``), that
size tells which frame was annotated:

* decoded size == json size: the stored frame is used (also for EXIF orientations 2-4, which
  keep the size, and for square images, as the peers do);
* else, if the EXIF orientation is 5-8 (width / height transposed) and applying it gives the
  json size, the oriented image is returned (the annotation tool showed the rotated photo);
* else :class:`DataError` (resized or replaced after annotation): training on it would put
  every keypoint in the wrong place.

``apply_exif=True`` (user photos without annotations, ``simdr infer`` on images / folders)
returns what an image viewer shows, like PaddleDetection's deploy decoder
(``cv2.imdecode(..., 1)``).

Corrupt JPEG data. libjpeg prints warnings such as "Corrupt JPEG data: 3 extraneous bytes
before marker 0xd9" to the C-level stderr without naming the file and still decodes the image
(COCO has a few such files). File descriptor 2 is captured around the JPEG decode and a
libjpeg complaint becomes one :class:`DataWarning` whose message starts with the path, shown on
one line (Python's default warning filter shows it once per file and process; a DataLoader
worker is a process of its own). Captures are serialized by a lock because file descriptor 2
is shared by all threads of the process.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from simdr_lib.errors import DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS = 100_000_000  # the default of config key data.max_image_pixels

_JPEG_SOI = b"\xff\xd8"
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Frame headers SOF0-3, 5-7, 9-11, 13-15 (0xC4 DHT, 0xC8 JPG and 0xCC DAC are not frames).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset((0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7))
_PNG_MAX_SIDE = 2**31 - 1
_PIL_HEADER_FORMATS = ("BMP", "TIFF", "WEBP")  # sized by PIL; JPEG / PNG are parsed here
_PIL_EXIF_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")
_EXIF_ORIENTATION_TAG = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
# Beginnings of libjpeg(-turbo) warning messages (JWRN_* and the file-structure errors).
_LIBJPEG_MESSAGES = (
    "Corrupt JPEG data",
    "Premature end of JPEG file",
    "Invalid JPEG file structure",
    "Inconsistent progression sequence",
    "Invalid SOS parameters for sequential JPEG",
    "Application transferred too many scanlines",
    "Unknown Adobe color transform code",
    "Warning: unknown JFIF revision number",
    "Warning: thumbnail image size does not match data length",
)
_FD2_LOCK = threading.Lock()  # fd 2 is process-wide: one capture at a time
_FD2_LOCK_TIMEOUT_S = 10.0


class DataWarning(UserWarning):
    """A data file was used but is damaged (message starts with its path)."""


# ============================================================================ headers
def jpeg_is_complete(data: bytes) -> bool:
    """Whether JPEG bytes end their last scan with an end-of-image marker (FFD9).

    The last EOI must come after the last start-of-scan marker (FFDA): an EXIF thumbnail has its
    own EOI, so a truncated main image with a complete thumbnail is still detected. Marker bytes
    cannot occur inside entropy-coded data (0xFF is stuffed with 0x00), so the search is exact.
    """
    return data.rfind(_JPEG_EOI) > data.rfind(_JPEG_SOS)


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big")


def jpeg_frame_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` px of the first SOFn frame header of JPEG bytes, None if not found.

    Walks the marker segments from SOI the way libjpeg reads them (bytes before a marker are
    skipped, fill bytes 0xFF ignored, each segment skipped by its length) and stops at the first
    frame header; a scan (SOS), EOI or second SOI before it, or running out of bytes, gives None.
    The frame's height and width are the big-endian u16 after its precision byte.
    """
    if not data.startswith(_JPEG_SOI):
        return None
    n, pos = len(data), 2
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            return None
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0x00 or marker in _JPEG_STANDALONE:
            continue  # a stuffed 0xFF00 outside a scan is junk; RSTn / TEM have no length
        if marker in (0xD8, 0xD9, 0xDA):
            return None
        if pos + 2 > n:
            return None
        length = _u16(data, pos)
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if length < 8 or pos + 7 > n:
                return None
            return _u16(data, pos + 5), _u16(data, pos + 3)
        pos += length


def png_frame_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` px of a PNG's IHDR chunk (which must come first), None if invalid."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 24:
        return None
    if int.from_bytes(data[8:12], "big") != 13 or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not (0 < width <= _PNG_MAX_SIDE and 0 < height <= _PNG_MAX_SIDE):
        return None
    return width, height


def _pil_frame_size(data: bytes, name: str, max_pixels: int) -> tuple[int, int] | None:
    """``(width, height)`` px of BMP / TIFF / WebP bytes from PIL's header-only ``Image.open``.

    Returns None when PIL does not recognise one of these formats. PIL's own decompression-bomb
    refusal (above ``2 * Image.MAX_IMAGE_PIXELS``) is reported as too large.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we apply our own limit
            with Image.open(io.BytesIO(data), formats=_PIL_HEADER_FORMATS) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{name}: image too large to decode ({exc}); limit data.max_image_pixels = "
            f"{max_pixels:,}"
        ) from None
    except Exception:  # any parse failure of untrusted bytes: not an image we can size
        return None
    return int(width), int(height)


def header_size(data: bytes, name: str, max_pixels: int) -> tuple[int, int]:
    """``(width, height)`` px the image header states, read without decoding pixels.

    Raises:
        DataError: corrupt JPEG / PNG header, unknown format, or PIL's bomb refusal.
    """
    if data.startswith(_JPEG_SOI):
        size = jpeg_frame_size(data)
        if size is None or min(size) == 0:
            found = "" if size is None else f", frame size {size[0]}x{size[1]}"
            raise DataError(f"{name}: corrupt header (JPEG without a usable SOFn frame{found})")
        return size
    if data.startswith(_PNG_SIGNATURE):
        size = png_frame_size(data)
        if size is None:
            raise DataError(f"{name}: corrupt header (PNG without a valid IHDR chunk first)")
        return size
    size = _pil_frame_size(data, name, max_pixels)
    if size is None or min(size) <= 0:
        raise DataError(
            f"{name}: not a decodable image (unknown format, corrupt or truncated; "
            "JPEG, PNG, BMP, TIFF and WebP are read)"
        )
    return size


def check_pixels(size: tuple[int, int], name: str, max_pixels: int) -> None:
    """Refuse a ``(width, height)`` above ``max_pixels`` (config ``data.max_image_pixels``)."""
    width, height = size
    if width * height > max_pixels:
        raise DataError(
            f"{name}: image is {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{max_pixels:,} (config key data.max_image_pixels); not decoded"
        )


# ============================================================================ orientation
def exif_orientation(data: bytes) -> int:
    """EXIF orientation (1-8) of encoded image bytes; 1 when absent or unreadable."""
    from PIL import Image

    if data.startswith(_PNG_SIGNATURE) and b"eXIf" not in data:
        return 1  # PIL would decode the whole PNG to look for a late eXIf chunk
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=_PIL_EXIF_FORMATS) as im:
                value = im.getexif().get(_EXIF_ORIENTATION_TAG)
    except Exception:  # broken EXIF is not an error: the stored frame is used
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """The displayed frame of a stored (H, W, C) image with EXIF ``orientation`` 1-8.

    2 mirror, 3 rotate 180, 4 flip vertically, 5 transpose, 6 rotate 90 clockwise,
    7 transverse, 8 rotate 90 counter-clockwise; 5-8 return (W, H, C). C-contiguous copy.
    """
    transposed = image.transpose(1, 0, 2) if orientation in _TRANSPOSING_ORIENTATIONS else image
    flips = {
        2: (slice(None), slice(None, None, -1)),
        3: (slice(None, None, -1), slice(None, None, -1)),
        4: (slice(None, None, -1), slice(None)),
        6: (slice(None), slice(None, None, -1)),
        7: (slice(None, None, -1), slice(None, None, -1)),
        8: (slice(None, None, -1), slice(None)),
    }
    index = flips.get(orientation, (slice(None), slice(None)))
    return np.ascontiguousarray(transposed[index])


def match_annotated_frame(
    image: np.ndarray, data: bytes, expect_size: Sequence[int], name: str
) -> np.ndarray:
    """The decoded stored frame, or its EXIF-oriented frame, whose (W, H) is ``expect_size``.

    Raises:
        DataError: neither frame has the size the annotation file states.
    """
    height, width = image.shape[:2]
    want = (int(expect_size[0]), int(expect_size[1]))
    if (width, height) == want:
        return image
    orientation = exif_orientation(data)
    if orientation in _TRANSPOSING_ORIENTATIONS and (height, width) == want:
        return apply_orientation(image, orientation)
    if orientation == 1:
        exif = "no EXIF orientation"
    else:
        exif = f"not explained by EXIF orientation {orientation}"
    swapped = "rotated" if (height, width) == want else "resized or replaced"
    raise DataError(
        f"{name}: image is {width}x{height} but the annotation file says {want[0]}x{want[1]} "
        f"({swapped} after annotation? {exif})"
    )


# ============================================================================ decoding
def to_rgb_uint8(decoded: np.ndarray, name: str, channel_order: str = "BGR") -> np.ndarray:
    """Convert a decoded or in-memory image array to (H, W, 3) uint8 RGB.

    Args:
        decoded: (H, W), (H, W, 1), (H, W, 2) gray+alpha, (H, W, 3) colour or (H, W, 4) colour
            + alpha; uint8 or uint16.
        name: path or label used in error messages.
        channel_order: ``"BGR"`` for arrays from ``cv2.imdecode(..., IMREAD_UNCHANGED)``,
            ``"RGB"`` for arrays a caller already holds in RGB(A).

    Returns:
        (H, W, 3) uint8 RGB, C-contiguous.
    """
    if decoded.dtype == np.uint16:
        decoded = (decoded >> 8).astype(np.uint8)
    elif decoded.dtype != np.uint8:
        raise DataError(f"{name}: unsupported pixel type {decoded.dtype} (expected 8 or 16 bit)")
    if decoded.ndim == 2:
        decoded = decoded[:, :, None]
    if decoded.ndim != 3 or min(decoded.shape[:2]) == 0:
        raise DataError(f"{name}: expected an (H, W) or (H, W, C) image, got {decoded.shape}")
    channels = decoded.shape[2]
    if channels in (1, 2):  # gray or gray + alpha
        return np.ascontiguousarray(np.repeat(decoded[:, :, :1], 3, axis=2))
    if channels in (3, 4):  # colour (+ alpha): drop alpha, BGR reversed to RGB
        rgb = decoded[:, :, 2::-1] if channel_order == "BGR" else decoded[:, :, :3]
        return np.ascontiguousarray(rgb)
    raise DataError(f"{name}: unsupported number of channels {channels}")


def _imdecode(buf: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``cv2.imdecode(buf, IMREAD_UNCHANGED)`` as ``(decoded or None, OpenCV error or "")``."""
    try:
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), ""
    except cv2.error as exc:
        return None, " ".join(str(exc).split())[:300]


def _imdecode_capturing_fd2(buf: np.ndarray) -> tuple[np.ndarray | None, str, str]:
    """:func:`_imdecode` with file descriptor 2 redirected to a temporary file.

    Returns:
        ``(decoded or None, OpenCV error or "", text the C libraries wrote to fd 2)``. When
        fd 2 cannot be duplicated or the lock is held too long, decodes without capturing.
    """
    if not _FD2_LOCK.acquire(timeout=_FD2_LOCK_TIMEOUT_S):
        return (*_imdecode(buf), "")
    try:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (daemon): nothing to capture
            return (*_imdecode(buf), "")
        with tempfile.TemporaryFile() as tmp:
            try:
                _flush_python_stderr()
                os.dup2(tmp.fileno(), 2)
                try:
                    decoded, error = _imdecode(buf)
                finally:
                    os.dup2(saved, 2)
            finally:
                os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
    finally:
        _FD2_LOCK.release()
    return decoded, error, text


def _flush_python_stderr() -> None:
    """Write out Python's buffered stderr text so it is not captured with libjpeg's."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


def warn_data(message: str) -> None:
    """Issue a :class:`DataWarning` that displays as one line.

    ``warnings.warn`` would print the calling source line under the message; line 0 of this
    module has none. The module's ``__warningregistry__`` (what ``warnings.warn`` uses) keeps
    the default filter's "once per message", i.e. once per file since messages start with it.
    """
    registry = globals().setdefault("__warningregistry__", {})
    warnings.warn_explicit(message, DataWarning, __file__, 0, module=__name__, registry=registry)


def split_libjpeg_messages(text: str) -> tuple[list[str], str]:
    """Split captured stderr text into libjpeg warning lines and everything else.

    Returns:
        ``(distinct libjpeg messages in order, other text with its line ends)``.
    """
    messages: list[str] = []
    other: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(_LIBJPEG_MESSAGES):
            if stripped not in messages:
                messages.append(stripped)
        elif stripped:
            other.append(line)
    return messages, "".join(other)


def _decode(data: bytes, name: str) -> np.ndarray:
    """``cv2.imdecode`` of checked bytes; libjpeg's complaints become one :class:`DataWarning`.

    Raises:
        DataError: OpenCV cannot decode the bytes.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if data.startswith(_JPEG_SOI):
        decoded, error, text = _imdecode_capturing_fd2(buf)
    else:
        decoded, error, text = (*_imdecode(buf), "")
    messages, other = split_libjpeg_messages(text)
    if other:  # not libjpeg's: give it back to the real stderr
        os.write(2, other.encode("utf-8", "replace"))
    ok = decoded is not None and decoded.size > 0
    if error or not ok:
        reason = f"OpenCV: {error}" if error else "unknown format, corrupt or truncated"
        reason = f"libjpeg: {messages[0]}" if messages else reason
        raise DataError(f"{name}: not a decodable image ({reason})")
    if messages:
        more = f"; +{len(messages) - 2} more" if len(messages) > 2 else ""
        summary = "; ".join(messages[:2]) + more
        warn_data(f"{name}: corrupt JPEG data (libjpeg: {summary}); decoded anyway")
    return decoded


def decode_image(
    data: bytes,
    name: str = "<bytes>",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    expect_size: Sequence[int] | None = None,
    apply_exif: bool = False,
) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, BMP, TIFF, WebP) to (H, W, 3) uint8 RGB.

    Args:
        data: the encoded file.
        name: path or label that starts every error message.
        max_pixels: refuse images whose header states more than this width x height.
        expect_size: ``(W, H)`` the annotation file states; see the module docstring for
            how it selects the stored or the EXIF-oriented frame.
        apply_exif: return the EXIF-oriented (displayed) frame; excludes ``expect_size``.

    Raises:
        DataError: empty data, corrupt header, too many pixels, truncated JPEG, bytes OpenCV
            cannot decode, or a size that does not match ``expect_size``; the message starts
            with ``name``.
    """
    if expect_size is not None and apply_exif:
        raise ValueError("decode_image: give expect_size or apply_exif, not both")
    if len(data) == 0:
        raise DataError(f"{name}: empty file")
    check_pixels(header_size(data, name, max_pixels), name, max_pixels)
    if data.startswith(_JPEG_SOI) and not jpeg_is_complete(data):
        raise DataError(f"{name}: truncated JPEG (no end-of-image marker after the last scan)")
    image = to_rgb_uint8(_decode(data, name), name)
    if expect_size is not None:
        return match_annotated_frame(image, data, expect_size, name)
    if apply_exif:
        return apply_orientation(image, exif_orientation(data))
    return image


def load_image(
    path: str | os.PathLike,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    expect_size: Sequence[int] | None = None,
    apply_exif: bool = False,
) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB (options as :func:`decode_image`).

    The bytes are read by Python and decoded with ``cv2.imdecode`` (works for non-ASCII paths).

    Raises:
        DataError: missing file, directory, unreadable file, empty file, corrupt header, too
            many pixels, truncated JPEG, non-image content or a size that does not match
            ``expect_size``; the message starts with the path.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: image file not found")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, not an image file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read image file ({exc.strerror or exc})") from exc
    return decode_image(
        data, str(p), max_pixels=max_pixels, expect_size=expect_size, apply_exif=apply_exif
    )


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Image files of ``folder`` whose extension is in :data:`IMAGE_EXTENSIONS` (any case).

    Returns:
        Paths sorted by their string form (relative order of sub-folders is stable too).

    Raises:
        DataError: ``folder`` does not exist or is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found (or not a directory)")
    candidates = root.rglob("*") if recursive else root.iterdir()
    found = [p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=str)
