"""simdr_lib.data.images: the one image decoder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from simdr_lib.data.images import (
    IMAGE_EXTENSIONS,
    decode_image,
    jpeg_is_complete,
    list_images,
    load_image,
)
from simdr_lib.errors import DataError

RED_RGB = (255, 0, 0)


def _bgr_image(h: int = 12, w: int = 16) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :] = RED_RGB[::-1]  # BGR on disk
    img[0, 0] = (0, 255, 0)
    return img


def test_png_is_rgb_uint8(tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), _bgr_image())
    img = load_image(path)
    assert img.shape == (12, 16, 3) and img.dtype == np.uint8
    assert tuple(img[5, 5]) == RED_RGB
    assert tuple(img[0, 0]) == (0, 255, 0)
    assert img.flags.c_contiguous


def test_jpeg_decodes(tmp_path):
    path = tmp_path / "a.jpg"
    cv2.imwrite(str(path), _bgr_image(32, 40))
    img = load_image(str(path))
    assert img.shape == (32, 40, 3)
    assert img[16, 20, 0] > 200 and img[16, 20, 2] < 60


def test_grayscale_png_becomes_three_channels(tmp_path):
    path = tmp_path / "g.png"
    gray = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    cv2.imwrite(str(path), gray)
    img = load_image(path)
    assert img.shape == (12, 16, 3)
    np.testing.assert_array_equal(img[:, :, 0], gray)
    np.testing.assert_array_equal(img[:, :, 2], gray)


def test_rgba_png_drops_alpha(tmp_path):
    path = tmp_path / "rgba.png"
    bgra = np.zeros((10, 8, 4), np.uint8)
    bgra[..., :3] = RED_RGB[::-1]
    bgra[..., 3] = 7
    cv2.imwrite(str(path), bgra)
    img = load_image(path)
    assert img.shape == (10, 8, 3)
    assert tuple(img[3, 3]) == RED_RGB


def test_16bit_png_becomes_8bit(tmp_path):
    path = tmp_path / "deep.png"
    deep = np.full((6, 5, 3), 65535, np.uint16)
    deep[0, 0] = (256 * 10, 256 * 20, 256 * 30)
    cv2.imwrite(str(path), deep)
    img = load_image(path)
    assert img.dtype == np.uint8 and img.shape == (6, 5, 3)
    assert tuple(img[0, 0]) == (30, 20, 10)
    assert img[1, 1, 0] == 255


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(DataError, match="nope.jpg: image file not found"):
        load_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty.jpg: empty file"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    ok, buf = cv2.imencode(
        ".jpg", (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
    )
    data = buf.tobytes()
    assert ok and jpeg_is_complete(data)
    for cut in (len(data) // 2, len(data) - 2):
        path = tmp_path / f"cut{cut}.jpg"
        path.write_bytes(data[:cut])
        with pytest.raises(DataError, match=f"cut{cut}.jpg: truncated JPEG"):
            load_image(path)


def test_jpeg_thumbnail_does_not_hide_truncation():
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    thumb = buf.tobytes()
    # a complete embedded image followed by a main scan cut before its EOI
    assert not jpeg_is_complete(thumb + b"\xff\xda\x00\x0c" + b"\x12" * 50)
    assert jpeg_is_complete(thumb + b"\x00\x00")  # padding after EOI is fine


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    with pytest.raises(DataError, match="notes.jpg: not a decodable image"):
        load_image(path)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_image(tmp_path)


def test_decode_bytes_names_source():
    with pytest.raises(DataError, match="^upload: empty file$"):
        decode_image(b"", "upload")
    ok, buf = cv2.imencode(".png", _bgr_image())
    assert tuple(decode_image(buf.tobytes())[4, 4]) == RED_RGB


def test_list_images_sorted_by_extension(tmp_path):
    for name in ("b.JPG", "a.png", "c.txt", "d.jpeg", "e.webp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.jpg").write_bytes(b"x")
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.png", "b.JPG", "d.jpeg", "e.webp"]
    assert [p.name for p in list_images(tmp_path, recursive=True)][-1] == "f.jpg"
    assert ".jpg" in IMAGE_EXTENSIONS and ".png" in IMAGE_EXTENSIONS


def test_list_images_missing_folder(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        list_images(tmp_path / "none")
