"""simdr_lib.data.dataset: items, determinism, augmentation consistency, DataLoader collation."""

from __future__ import annotations

import cv2
import numpy as np
import paddle
import pytest
from coco_helpers import write_coco

from simdr_lib.data import transforms as T
from simdr_lib.data.coco import PersonRecord, load_coco_keypoints
from simdr_lib.data.dataset import TopDownDataset
from simdr_lib.data.loaders import EpochBatchSampler, make_loader
from simdr_lib.errors import DataError

INPUT = (32, 40)  # (W, H)
K_SPLIT = 2


def encode(keypoints: np.ndarray, visible: np.ndarray) -> dict[str, np.ndarray]:
    """Stand-in codec: one-hot SimDR-like bins (k = 2) and an in-crop weight."""
    n, k, _ = keypoints.shape
    bins = np.round(keypoints * K_SPLIT).astype(np.int64)
    size = np.array(INPUT) * K_SPLIT
    inside = ((bins >= 0) & (bins < size)).all(-1) & (visible > 0)
    x = np.zeros((n, k, size[0]), np.float32)
    y = np.zeros((n, k, size[1]), np.float32)
    nn, kk = np.nonzero(inside)
    x[nn, kk, bins[nn, kk, 0]] = 1.0
    y[nn, kk, bins[nn, kk, 1]] = 1.0
    return {"x_target": x, "y_target": y, "target_weight": inside.astype(np.float32)}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    ann_file, image_dir = write_coco(root)
    return load_coco_keypoints(ann_file, image_dir).records


def _dataset(records, train: bool, **kw) -> TopDownDataset:
    return TopDownDataset(records, encode, INPUT, train, **kw)


def test_item_shapes_and_dtypes(records):
    item = _dataset(records, train=True)[1]
    expected = {
        "image": ((3, 40, 32), np.float32),
        "x_target": ((17, 64), np.float32),
        "y_target": ((17, 80), np.float32),
        "target_weight": ((17,), np.float32),
        "keypoints": ((17, 2), np.float32),
        "visible": ((17,), np.float32),
        "center": ((2,), np.float32),
        "scale": ((2,), np.float32),
        "rotation": ((), np.float32),
        "flipped": ((), np.bool_),
        "score": ((), np.float32),
        "image_id": ((), np.int64),
        "area": ((), np.float32),
    }
    assert set(item) == set(expected)
    for key, (shape, dtype) in expected.items():
        assert item[key].shape == shape, key
        assert item[key].dtype == dtype, key


def test_eval_item_maps_back_to_the_image(records):
    ds = _dataset(records, train=False)
    for index in range(len(ds)):
        item = ds[index]
        assert item["rotation"] == 0 and not item["flipped"]
        rec = records[index]
        center, scale = T.box_to_center_scale(rec.box, INPUT[0] / INPUT[1])
        np.testing.assert_allclose(item["center"], center, rtol=1e-6)
        back = T.crop_to_image(
            item["keypoints"][None].astype(np.float64), center[None], scale[None], INPUT
        )
        np.testing.assert_allclose(back[0], rec.keypoints[:, :2], atol=1e-3)
        np.testing.assert_array_equal(item["visible"], rec.keypoints[:, 2])
    assert ds[0]["image_id"] == records[0].image_id


def test_determinism_per_seed_epoch_index(records):
    a, b = _dataset(records, train=True, seed=5), _dataset(records, train=True, seed=5)
    a.set_epoch(3)
    b.set_epoch(3)
    _ = b[0]  # order of access does not matter
    for key in ("image", "keypoints", "center", "scale", "rotation"):
        np.testing.assert_array_equal(a[2][key], b[2][key])
    geoms = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        c, s, r, f, _, _ = a.geometry(2, 64)
        geoms.add((tuple(np.round(c, 6)), tuple(np.round(s, 6)), round(r, 6), f))
    assert len(geoms) == 6
    other = _dataset(records, train=True, seed=6)
    other.set_epoch(5)
    assert not np.array_equal(other[2]["image"], a[2]["image"])


def test_augmented_keypoints_follow_the_image(tmp_path):
    """A bright dot at the left wrist must appear where the item says that joint is."""
    image = np.zeros((120, 160, 3), np.uint8)
    wrist = (70, 55)  # image px (x, y)
    cv2.circle(image, wrist, 2, (255, 255, 255), -1)
    path = tmp_path / "dot.png"
    cv2.imwrite(str(path), image)
    kpts = np.zeros((17, 3))
    kpts[:, :2] = (70, 55)
    kpts[:, 2] = 2
    kpts[9, :2], kpts[10, :2] = wrist, (90, 80)  # left wrist on the dot, right wrist elsewhere
    rec = PersonRecord(1, str(path), np.array([50.0, 30.0, 40.0, 50.0]), kpts)
    ds = TopDownDataset([rec], encode, (64, 80), True, half_body_prob=0.0, seed=1)
    flips = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        item = ds[0]
        flips.add(bool(item["flipped"]))
        crop = T.denormalize_image(item["image"])[:, :, 0].astype(float)
        peak = np.array(np.unravel_index(np.argmax(crop), crop.shape)[::-1], float)
        joint = 10 if item["flipped"] else 9  # left wrist becomes the right one when mirrored
        np.testing.assert_allclose(item["keypoints"][joint], peak, atol=1.5)
    assert flips == {True, False}


def test_eval_mode_does_not_augment(records):
    ds = _dataset(records, train=False)
    first = ds[0]["image"]
    ds.set_epoch(9)
    np.testing.assert_array_equal(ds[0]["image"], first)


def test_bad_arguments(records):
    with pytest.raises(ValueError, match="input_size"):
        TopDownDataset(records, encode, (0, 10), False)
    with pytest.raises(ValueError, match="epoch"):
        _dataset(records, False).set_epoch(-1)


@pytest.mark.parametrize(("num_workers", "paddle_loader"), [(0, True), (2, True), (0, False)])
def test_dataloader_collates_dicts(records, num_workers, paddle_loader):
    ds = _dataset(list(records) * 2, train=True)
    if paddle_loader:
        loader = paddle.io.DataLoader(ds, batch_size=4, num_workers=num_workers)
    else:
        loader = make_loader(ds, EpochBatchSampler(len(ds), 4, shuffle=False), num_workers)
    batches = list(loader)
    assert len(batches) == 2
    batch = batches[0]
    assert isinstance(batch, dict)
    assert isinstance(batch["image"], paddle.Tensor)
    assert batch["image"].shape == [4, 3, 40, 32]
    assert batch["x_target"].shape == [4, 17, 64]
    assert batch["target_weight"].shape == [4, 17]
    assert batch["image_id"].shape == [4] and batch["image_id"].dtype == paddle.int64
    np.testing.assert_array_equal(batch["image"].numpy()[1], ds[1]["image"])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_raises_the_samples_data_error(records, tmp_path, num_workers):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    bad = [
        PersonRecord(1, "/nonexistent/dir/x.jpg", records[0].box, records[0].keypoints),
        PersonRecord(2, str(corrupt), records[0].box, records[0].keypoints),
    ]
    for broken, needle in zip(bad, ("x.jpg: image file not found", "corrupt.jpg")):
        ds = _dataset([records[0], records[0], broken, records[0]], False)
        loader = make_loader(ds, EpochBatchSampler(len(ds), 2, shuffle=False), num_workers)
        assert len(loader) == 2
        with pytest.raises(DataError, match=needle):
            list(loader)


def test_numpy_only_modules_do_not_import_paddle() -> None:
    """Codecs, data, config and keypoints work without Paddle at import (paddle is lazy)."""
    import subprocess
    import sys

    modules = [
        "simdr_lib.codec",
        "simdr_lib.config",
        "simdr_lib.keypoints",
        "simdr_lib.data.coco",
        "simdr_lib.data.dataset",
        "simdr_lib.data.images",
        "simdr_lib.data.loaders",
        "simdr_lib.data.synthetic",
        "simdr_lib.data.transforms",
    ]
    code = f"import sys\nfor m in {modules!r}:\n    __import__(m)\nprint('paddle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
