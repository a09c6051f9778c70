"""The project's only image decoder: every image becomes an ``(H, W, 3) uint8 RGB`` array.

Grayscale, gray+alpha and BGRA inputs are converted to RGB, 16-bit inputs are reduced to 8 bits,
and anything that is not a complete, decodable image raises :class:`DataError` naming the path.

EXIF orientation is ignored (``IMREAD_UNCHANGED``), like HRNet's ``IMREAD_IGNORE_ORIENTATION``:
COCO annotations refer to the stored pixel grid, not to the displayed orientation.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from simdr_lib.errors import DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")

_JPEG_SOI = b"\xff\xd8"
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"


def jpeg_is_complete(data: bytes) -> bool:
    """Whether JPEG bytes end their last scan with an end-of-image marker (FFD9).

    The last EOI must come after the last start-of-scan marker (FFDA): an EXIF thumbnail has its
    own EOI, so a truncated main image with a complete thumbnail is still detected. Marker bytes
    cannot occur inside entropy-coded data (0xFF is stuffed with 0x00), so the search is exact.
    """
    return data.rfind(_JPEG_EOI) > data.rfind(_JPEG_SOS)


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


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, BMP, TIFF, WebP) to (H, W, 3) uint8 RGB.

    Raises:
        DataError: empty data, truncated JPEG, or bytes OpenCV cannot decode; the message
            starts with ``name``.
    """
    if len(data) == 0:
        raise DataError(f"{name}: empty file")
    if data.startswith(_JPEG_SOI) and not jpeg_is_complete(data):
        raise DataError(f"{name}: truncated JPEG (no end-of-image marker after the last scan)")
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.size == 0:
        raise DataError(f"{name}: not a decodable image (unknown format, corrupt or truncated)")
    return to_rgb_uint8(decoded, name)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB.

    The bytes are read by Python and decoded with ``cv2.imdecode`` (works for non-ASCII paths).

    Raises:
        DataError: missing file, directory, unreadable file, empty file, truncated JPEG or
            non-image content; the message starts with the path.
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
    return decode_image(data, str(p))


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
