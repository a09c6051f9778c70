"""simdr_lib.data.images: the one image decoder."""

from __future__ import annotations

import gc
import io
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT

from simdr_lib.data.images import (
    IMAGE_EXTENSIONS,
    decode_image,
    jpeg_is_complete,
    list_images,
    load_image,
)
from simdr_lib.errors import DataError

RED_RGB = (255, 0, 0)
DEMO = ROOT / "configs" / "demo_tiny.yml"


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


# ============================================================================ helpers
def _jpeg(h: int = 24, w: int = 32, seed: int = 0) -> bytes:
    """A small real JPEG of random pixels."""
    pixels = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", pixels)
    assert ok
    return buf.tobytes()


def _segment_offset(data: bytes, marker: int) -> int:
    """Offset of the first JPEG segment ``0xFF marker`` among the header segments."""
    pos = 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        if data[pos + 1] == marker:
            return pos
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    raise AssertionError(f"no marker 0x{marker:02x} before the scan")


def with_sof_size(data: bytes, width: int, height: int) -> bytes:
    """JPEG bytes whose SOF0 frame header claims ``width`` x ``height`` px."""
    pos = _segment_offset(data, 0xC0)
    out = bytearray(data)
    out[pos + 5 : pos + 7] = height.to_bytes(2, "big")
    out[pos + 7 : pos + 9] = width.to_bytes(2, "big")
    return bytes(out)


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    """PNG bytes whose IHDR claims ``width`` x ``height`` px (CRC recomputed)."""
    import zlib

    out = bytearray(data)
    out[16:20] = width.to_bytes(4, "big")
    out[20:24] = height.to_bytes(4, "big")
    out[29:33] = zlib.crc32(bytes(out[12:29])).to_bytes(4, "big")
    return bytes(out)


def corrupt_jpeg(data: bytes) -> bytes:
    """JPEG bytes with junk before the start-of-scan marker (libjpeg warns, still decodes).

    Junk inserted just before the final FFD9 is not reported by this OpenCV build (it stops
    reading after the last scan), so the junk goes before FFDA, which libjpeg always reads.
    """
    sos = data.find(b"\xff\xda")
    return data[:sos] + b"\x00\x01\x02\x03\x04" + data[sos:]


def _max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _exif_jpeg(path, stored_rgb: np.ndarray, orientation: int) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored_rgb).save(path, format="JPEG", quality=95, exif=exif.tobytes())


def _asymmetric(h: int = 24, w: int = 40) -> np.ndarray:
    """Smooth RGB image with a distinct top-left block: every flip / rotation differs."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, np.full((h, w), 60)], axis=2).astype(np.uint8)
    img[2:8, 3:12] = (255, 255, 255)
    return img


_INVERSE_ORIENTATION = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


# ============================================================================ resource bombs
@pytest.mark.parametrize("side", [30000, 65000])
def test_jpeg_header_bomb_is_refused_before_decoding(tmp_path, side):
    from simdr_lib.data.images import jpeg_frame_size

    data = with_sof_size(_jpeg(8, 8), side, side)
    assert len(data) < 1000 and jpeg_frame_size(data) == (side, side)
    path = tmp_path / f"bomb{side}.jpg"
    path.write_bytes(data)
    rss, start = _max_rss_mb(), time.perf_counter()
    with pytest.raises(DataError) as err:
        load_image(path)
    assert time.perf_counter() - start < 0.5
    assert _max_rss_mb() - rss < 200
    msg = str(err.value)
    assert msg.startswith(f"{path}: image is {side}x{side} = ") and "\n" not in msg
    assert "100,000,000" in msg and "data.max_image_pixels" in msg


def test_max_pixels_keyword_for_every_format(tmp_path):
    pixels = _bgr_image(30, 40)  # 1200 px
    for ext in (".jpg", ".png", ".bmp", ".tiff", ".webp"):
        ok, buf = cv2.imencode(ext, pixels)
        assert ok, ext
        data = buf.tobytes()
        assert decode_image(data, ext, max_pixels=1200).shape == (30, 40, 3)
        with pytest.raises(DataError, match=f"^{ext}: image is 40x30 = 1,200 pixels, above"):
            decode_image(data, ext, max_pixels=1199)


def test_png_ihdr_bomb_is_refused(tmp_path):
    ok, buf = cv2.imencode(".png", _bgr_image())
    path = tmp_path / "bomb.png"
    path.write_bytes(with_png_size(buf.tobytes(), 100_000, 100_000))
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"bomb.png: image is 100000x100000 = 10,000,000,000"):
        load_image(path)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("side", [12_000, 40_000])  # PIL: warning above 89 M px, error above 179 M
def test_bmp_bomb_refused_without_pil_warnings(side):
    ok, buf = cv2.imencode(".bmp", _bgr_image())
    data = bytearray(buf.tobytes())
    data[18:22] = side.to_bytes(4, "little")
    data[22:26] = side.to_bytes(4, "little")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail here
        with pytest.raises(DataError, match="^big.bmp: image .*data.max_image_pixels") as err:
            decode_image(bytes(data), "big.bmp")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", "corrupt header"),
        (with_sof_size(_jpeg(8, 8), 0, 8), "corrupt header (JPEG without a usable SOFn frame, "),
        (_jpeg(8, 8)[:20], "corrupt header"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDX" + bytes(17), "corrupt header (PNG"),
        (b"BM" + bytes(60), "not a decodable image"),
        (b"GIF89a" + bytes(30), "not a decodable image"),
    ],
)
def test_unreadable_headers(data, needle):
    with pytest.raises(DataError) as err:
        decode_image(data, "x.img")
    assert str(err.value).startswith("x.img: ") and needle in str(err.value)


def test_png_with_zero_width_is_a_corrupt_header():
    ok, buf = cv2.imencode(".png", _bgr_image())
    with pytest.raises(DataError, match="^z.png: corrupt header"):
        decode_image(with_png_size(buf.tobytes(), 0, 12), "z.png")


# ============================================================================ frames
def test_orientations_match_pil_exif_transpose():
    from PIL import Image, ImageOps

    from simdr_lib.data.images import apply_orientation

    img = _asymmetric(5, 7)
    for orientation in range(1, 9):
        pil = Image.fromarray(img)
        exif = pil.getexif()
        exif[0x0112] = orientation
        pil.info["exif"] = exif.tobytes()
        expected = np.asarray(ImageOps.exif_transpose(pil))
        got = apply_orientation(img, orientation)
        np.testing.assert_array_equal(got, expected, err_msg=f"orientation {orientation}")
        assert got.flags.c_contiguous


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_exif_transposed_jpeg_accepted_in_the_annotated_frame(tmp_path, orientation):
    from PIL import Image, ImageOps

    from simdr_lib.data.images import apply_orientation

    shown = _asymmetric(24, 40)  # what the annotator saw: 40x24
    stored = apply_orientation(shown, _INVERSE_ORIENTATION[orientation])  # 24 wide, 40 high
    path = tmp_path / f"o{orientation}.jpg"
    _exif_jpeg(path, stored, orientation)
    assert load_image(path).shape == (40, 24, 3)  # no expectation: the stored grid
    img = load_image(path, expect_size=(40, 24))
    assert img.shape == (24, 40, 3)
    with Image.open(path) as pil:
        expected = np.asarray(ImageOps.exif_transpose(pil).convert("RGB")).astype(int)
    assert np.abs(img.astype(int) - expected).max() <= 3
    assert np.abs(img.astype(int) - shown.astype(int)).mean() < 4
    assert np.array_equal(load_image(path, apply_exif=True), img)
    assert load_image(path, expect_size=(24, 40)).shape == (40, 24, 3)  # stored frame annotated


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_exif_rotated_keypoints_line_up_in_the_dataset(tmp_path, orientation):
    """A white dot the annotator clicked in the displayed photo is where the crop says."""
    from simdr_lib.data.coco import PersonRecord
    from simdr_lib.data.dataset import TopDownDataset
    from simdr_lib.data.images import apply_orientation
    from simdr_lib.data.transforms import denormalize_image

    shown = np.zeros((60, 80, 3), np.uint8)
    dot = (58, 20)  # displayed image px (x, y)
    cv2.circle(shown, dot, 3, (255, 255, 255), -1)
    path = tmp_path / "rotated.jpg"
    _exif_jpeg(path, apply_orientation(shown, _INVERSE_ORIENTATION[orientation]), orientation)
    kpts = np.zeros((17, 3))
    kpts[:, :2], kpts[:, 2] = dot, 2
    rec = PersonRecord(1, str(path), np.array([30.0, 5.0, 45.0, 50.0]), kpts, image_size=(80, 60))
    ds = TopDownDataset([rec], _encode, (32, 40), train=False)
    item = ds[0]
    crop = denormalize_image(item["image"])[:, :, 0].astype(float)
    peak = np.array(np.unravel_index(np.argmax(crop), crop.shape)[::-1], float)
    np.testing.assert_allclose(item["keypoints"][0], peak, atol=1.5)


def _encode(keypoints: np.ndarray, visible: np.ndarray) -> dict[str, np.ndarray]:
    return {"target_weight": (visible > 0).astype(np.float32)}


def test_size_preserving_orientation_keeps_the_stored_frame(tmp_path):
    stored = _asymmetric(24, 40)
    path = tmp_path / "o3.jpg"
    _exif_jpeg(path, stored, 3)
    plain = load_image(path)
    np.testing.assert_array_equal(load_image(path, expect_size=(40, 24)), plain)
    assert np.abs(load_image(path, apply_exif=True).astype(int) - plain[::-1, ::-1]).max() == 0


@pytest.mark.parametrize(
    ("size", "json_size", "needle"),
    [
        ((32, 24), (64, 48), "image is 32x24 but the annotation file says 64x48 (resized"),
        ((1, 1), (640, 480), "image is 1x1 but the annotation file says 640x480 (resized"),
        ((48, 64), (64, 48), "image is 48x64 but the annotation file says 64x48 (rotated"),
    ],
)
def test_size_mismatch_is_refused_naming_the_file(tmp_path, size, json_size, needle):
    path = tmp_path / "img.png"
    cv2.imwrite(str(path), _bgr_image(size[1], size[0]))
    with pytest.raises(DataError) as err:
        load_image(path, expect_size=json_size)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {needle}") and "no EXIF orientation" in msg
    assert "\n" not in msg


def test_orientation_that_does_not_explain_the_size_is_named(tmp_path):
    path = tmp_path / "o6.jpg"
    _exif_jpeg(path, _asymmetric(24, 40), 6)  # stored 40x24, shown 24x40
    with pytest.raises(DataError, match="not explained by EXIF orientation 6"):
        load_image(path, expect_size=(80, 48))
    with pytest.raises(ValueError, match="not both"):
        load_image(path, expect_size=(40, 24), apply_exif=True)


def test_dataset_refuses_a_resized_image(tmp_path):
    from simdr_lib.data.coco import PersonRecord
    from simdr_lib.data.dataset import TopDownDataset

    path = tmp_path / "small.jpg"
    cv2.imwrite(str(path), _bgr_image(24, 32))
    kpts = np.zeros((17, 3))
    rec = PersonRecord(1, str(path), np.array([4.0, 4.0, 20.0, 30.0]), kpts, image_size=(64, 48))
    with pytest.raises(DataError, match=r"small.jpg: image is 32x24 but the annotation file"):
        TopDownDataset([rec], _encode, (32, 40), train=True)[0]


def test_make_dataset_passes_the_pixel_limit(tiny_cfg):
    from simdr_lib.data.loaders import make_dataset

    cfg = tiny_cfg.with_overrides({"data.max_image_pixels": 1234})
    codec = type("Codec", (), {"encode": staticmethod(_encode)})()
    assert make_dataset(cfg, [], codec, train=False).max_image_pixels == 1234


# ============================================================================ corrupt JPEG data
def test_fixture_really_makes_libjpeg_complain(tmp_path):
    """Guard of the warning tests: plain cv2 prints libjpeg's (file-less) warning to fd 2."""
    path = tmp_path / "c.jpg"
    path.write_bytes(corrupt_jpeg(_jpeg()))
    code = "import cv2, sys; print(cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED).shape)"
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.stdout.strip() == "(24, 32, 3)"
    assert "Corrupt JPEG data: 5 extraneous bytes before marker 0xda" in proc.stderr


def test_corrupt_jpeg_data_warns_naming_the_file(tmp_path, capfd):
    from simdr_lib.data.images import DataWarning

    path = tmp_path / "damaged.jpg"
    path.write_bytes(corrupt_jpeg(_jpeg()))
    with pytest.warns(DataWarning) as record:
        img = load_image(path)
    assert img.shape == (24, 32, 3)
    messages = [str(w.message) for w in record]
    assert messages == [
        f"{path}: corrupt JPEG data (libjpeg: Corrupt JPEG data: 5 extraneous bytes before "
        "marker 0xda); decoded anyway"
    ]
    assert capfd.readouterr().err == ""
    os.write(2, b"fd 2 restored\n")
    assert capfd.readouterr().err == "fd 2 restored\n"


def test_clean_jpeg_does_not_warn(tmp_path, capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode_image(_jpeg(), "clean.jpg")
    assert capfd.readouterr().err == ""


def test_other_stderr_text_is_given_back(monkeypatch, capfd):
    from simdr_lib.data import images
    from simdr_lib.data.images import DataWarning

    def noisy(buf, flags):
        os.write(2, b"some library: hello\nPremature end of JPEG file\n")
        return np.zeros((4, 4, 3), np.uint8)

    monkeypatch.setattr(images.cv2, "imdecode", noisy)
    with pytest.warns(DataWarning, match="^n.jpg: corrupt JPEG data .*Premature end of JPEG"):
        decode_image(_jpeg(), "n.jpg")
    assert capfd.readouterr().err == "some library: hello\n"


def test_fd2_restored_when_the_decoder_raises(monkeypatch, capfd):
    from simdr_lib.data import images

    def broken(buf, flags):
        os.write(2, b"Corrupt JPEG data: bad Huffman code\n")
        raise cv2.error("boom\nsecond line")

    monkeypatch.setattr(images.cv2, "imdecode", broken)
    with pytest.raises(DataError, match="^e.jpg: not a decodable image") as err:
        decode_image(_jpeg(), "e.jpg")
    assert "\n" not in str(err.value)
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_default_filter_shows_the_warning_once_per_file(tmp_path):
    bad = corrupt_jpeg(_jpeg())
    (tmp_path / "a.jpg").write_bytes(bad)
    (tmp_path / "b.jpg").write_bytes(bad)
    code = (
        "import sys; from simdr_lib.data.images import load_image\n"
        "for name in ('a.jpg', 'a.jpg', 'b.jpg', 'a.jpg'): load_image(sys.argv[1] + '/' + name)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    warned = [ln for ln in lines if "DataWarning" in ln]
    assert len(warned) == 2 and len(lines) == 2, lines  # one line each, no source line
    assert sum(f"{tmp_path}/a.jpg: corrupt JPEG data" in ln for ln in warned) == 1
    assert sum(f"{tmp_path}/b.jpg: corrupt JPEG data" in ln for ln in warned) == 1
    assert not [ln for ln in proc.stderr.splitlines() if ln.startswith("Corrupt JPEG")]


# ============================================================================ infer and training
@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A tiny untrained model exported for ``simdr infer --model_dir``."""
    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.deploy import export_model
    from simdr_lib.factory import model_from_config

    base = tmp_path_factory.mktemp("images_infer")
    cfg = load_config(DEMO, {"codec.input_size": [48, 64], "model.tiny_width": 16})
    paddle.seed(2)
    weights = base / "w.pdparams"
    paddle.save(model_from_config(cfg).state_dict(), str(weights))
    return export_model(cfg, weights, base / "export")


def _infer(
    model_dir: Path, source: Path, out: Path, capsys, *extra: str
) -> tuple[int, str, list[str]]:
    from simdr_lib.cli import main

    args = ["infer", "--quiet", "--model_dir", str(model_dir), "--input", str(source)]
    rc = main([*args, "--output_dir", str(out), *extra])
    cap = capsys.readouterr()
    return rc, cap.out, [ln for ln in cap.err.splitlines() if ln.strip()]


def test_infer_folder_skips_bombs_in_one_line(exported, small_dataset, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    good = sorted((small_dataset / "images" / "val").glob("*.jpg"))[0]
    shutil.copy(good, folder / "a_good.jpg")
    for side in (30000, 65000):
        (folder / f"bomb{side}.jpg").write_bytes(with_sof_size(_jpeg(8, 8), side, side))
    shown = _asymmetric(24, 40)  # EXIF-rotated user photo: drawn in its displayed frame
    _exif_jpeg(folder / "c_rotated.jpg", np.ascontiguousarray(np.rot90(shown, 1)), 6)
    rc, out, lines = _infer(exported, folder, tmp_path / "out", capsys)
    assert rc == 0, lines
    assert "done: 2 images, 2 people, 2 skipped" in out
    for side in (30000, 65000):
        hits = [ln for ln in lines if f"bomb{side}.jpg: image is {side}x{side}" in ln]
        assert len(hits) == 1 and hits[0].startswith("skipped: ") and "max_image_pixels" in hits[0]
    results = json.loads((tmp_path / "out" / "keypoint_results.json").read_text())
    boxes = {r["file_name"]: r["bbox"] for r in results}
    assert sorted(boxes) == ["a_good.jpg", "c_rotated.jpg"]
    assert boxes["c_rotated.jpg"] == [0.0, 0.0, 40.0, 24.0]


def test_infer_single_bomb_is_one_line(exported, tmp_path, capsys):
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(with_sof_size(_jpeg(8, 8), 65000, 65000))
    rc, _, lines = _infer(exported, bomb, tmp_path / "out", capsys)
    assert rc == 2
    assert lines[0] == (
        f"skipped: {bomb}: image is 65000x65000 = 4,225,000,000 pixels, above the limit of "
        "100,000,000 (config key data.max_image_pixels); not decoded"
    )
    assert lines[-1].startswith("error: no image could be processed") and len(lines) == 2


def test_infer_coco_json_uses_the_annotated_size(exported, tmp_path, capsys):
    from coco_helpers import write_coco

    ann, image_dir = write_coco(tmp_path / "coco")
    cv2.imwrite(str(image_dir / "img_002.jpg"), _bgr_image(24, 32))  # json says 64x48
    rc, out, lines = _infer(exported, ann, tmp_path / "out", capsys, "--image_dir", str(image_dir))
    assert rc == 0, lines
    assert "done: 1 images" in out
    skipped = [ln for ln in lines if ln.startswith("skipped: ")]
    assert len(skipped) == 1
    assert "img_002.jpg: image is 32x24 but the annotation file says 64x48" in skipped[0]


def test_training_on_a_bomb_fails_in_one_line_with_workers(small_dataset, tmp_path):
    from conftest import tiny_overrides

    from simdr_lib.config import load_config
    from simdr_lib.engine.train import train

    root = tmp_path / "data"
    shutil.copytree(small_dataset / "annotations", root / "annotations")
    shutil.copytree(small_dataset / "images" / "val", root / "images" / "val")
    bomb = with_sof_size(_jpeg(8, 8), 65000, 65000)
    (root / "images" / "train").mkdir(parents=True)
    for src in (small_dataset / "images" / "train").iterdir():
        (root / "images" / "train" / src.name).write_bytes(bomb)
    over = tiny_overrides(root, tmp_path / "ckpt", **{"data.num_workers": 2, "train.epochs": 1})
    cfg = load_config(DEMO, over)
    start = time.perf_counter()
    try:
        train(cfg, progress=False)
    except DataError as exc:
        msg = str(exc)
    else:
        raise AssertionError("training on bomb images did not fail")
    # The traceback holds Paddle's loader iterator in a reference cycle: collect it now so its
    # workers are shut down here, not killed at interpreter exit.
    gc.collect()
    assert multiprocessing.active_children() == []
    assert re.match(rf"^{re.escape(str(root))}/images/train/\S+\.jpg: image is 65000x65000 ", msg)
    assert "data.max_image_pixels" in msg and "\n" not in msg
    assert time.perf_counter() - start < 30


def test_png_exif_orientation_is_applied_for_user_photos():
    from PIL import Image

    stored = _asymmetric(24, 40)
    exif = Image.Exif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, format="PNG", exif=exif.tobytes())
    shown = decode_image(buf.getvalue(), "o8.png", apply_exif=True)
    np.testing.assert_array_equal(shown, np.rot90(stored, 1))
    np.testing.assert_array_equal(decode_image(buf.getvalue(), "o8.png"), stored)
