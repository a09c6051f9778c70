"""Tests of the embedded synthetic COCO-keypoints dataset generator."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from simdr_lib.data import synthetic, synthetic_scene
from simdr_lib.data.synthetic import SyntheticPaths, generate_synthetic_coco
from simdr_lib.errors import ConfigError, DataError
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON

SMALL = {"num_train": 6, "num_val": 4, "progress": False}
SIZE = (320, 240)  # the default (W, H)


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _keypoints(ann: dict[str, Any]) -> np.ndarray:
    return np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPaths:
    return generate_synthetic_coco(tmp_path_factory.mktemp("syn") / "ds", **SMALL)


@pytest.fixture(scope="module")
def val100(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPaths:
    """The default val split (seed 0, 100 images): images depend only on (seed, split, index)."""
    root = tmp_path_factory.mktemp("syn") / "ds"
    return generate_synthetic_coco(root, num_train=1, num_val=100, progress=False)


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPaths:
    """A few more images, so that occlusion, truncation and profiles all occur."""
    root = tmp_path_factory.mktemp("syn") / "ds"
    return generate_synthetic_coco(root, num_train=24, num_val=8, seed=3, progress=False)


def test_layout(small: SyntheticPaths) -> None:
    assert small.train_ann == small.root / "annotations" / "person_keypoints_train.json"
    assert small.val_ann == small.root / "annotations" / "person_keypoints_val.json"
    assert small.det_file == small.root / "annotations" / "detections_val.json"
    names = sorted(p.name for p in small.train_images.iterdir())
    assert names == [f"{i:012d}.jpg" for i in range(1, 7)]
    assert len(list(small.val_images.glob("*.jpg"))) == 4
    meta = _load(small.root / "synthetic_meta.json")
    assert meta["image_size"] == list(SIZE) and meta["num_train"] == 6 and meta["seed"] == 0
    assert meta["version"] == 2 and meta["figure_height_mix"] == [
        list(r) for r in synthetic_scene.HEIGHT_MIX
    ]
    for split, ann_file in (("train", small.train_ann), ("val", small.val_ann)):
        areas = [a["area"] for a in _load(ann_file)["annotations"]]
        assert meta["people"][split] == synthetic.count_area_classes(areas)
        assert meta["people"][split]["total"] == len(areas)
    image = cv2.imread(str(small.train_images / names[0]))
    assert image.shape == (SIZE[1], SIZE[0], 3)


def test_deterministic_bytes(tmp_path: Path, small: SyntheticPaths) -> None:
    again = generate_synthetic_coco(tmp_path / "again", **SMALL)
    assert _hashes(again.root) == _hashes(small.root)
    other = generate_synthetic_coco(tmp_path / "other", seed=1, **SMALL)
    assert (
        _hashes(other.root)["annotations/person_keypoints_train.json"]
        != (_hashes(small.root)["annotations/person_keypoints_train.json"])
    )


def test_per_image_rng_is_order_independent(small: SyntheticPaths, tmp_path: Path) -> None:
    """Image i depends only on (seed, split, i): a longer split starts with the same images."""
    longer = generate_synthetic_coco(tmp_path / "longer", num_train=8, num_val=4, progress=False)
    shorter_hashes, longer_hashes = _hashes(small.root), _hashes(longer.root)
    for name in (f"images/train/{i:012d}.jpg" for i in range(1, 7)):
        assert shorter_hashes[name] == longer_hashes[name]


def test_coco_format_and_categories(small: SyntheticPaths) -> None:
    for ann_file in (small.train_ann, small.val_ann):
        data = _load(ann_file)
        assert {"info", "licenses", "images", "annotations", "categories"} <= set(data)
        (cat,) = data["categories"]
        assert cat["id"] == 1 and cat["name"] == "person" and cat["supercategory"] == "person"
        assert cat["keypoints"] == list(COCO_KEYPOINT_NAMES)
        assert cat["skeleton"] == [list(limb) for limb in COCO_SKELETON]
        for img in data["images"]:
            assert (img["width"], img["height"]) == SIZE
            assert (Path(ann_file).parents[1] / "images").exists()
        ids = [a["id"] for a in data["annotations"]]
        assert len(ids) == len(set(ids)) and len(ids) >= len(data["images"])
        for ann in data["annotations"]:
            assert ann["category_id"] == 1 and ann["iscrowd"] == 0
            assert len(ann["keypoints"]) == 3 * 17
            x, y, w, h = ann["bbox"]
            assert type(ann["area"]) is int and 0 < ann["area"] < w * h
            segm = ann["segmentation"]
            assert set(segm) == {"size", "counts"} and segm["size"] == [SIZE[1], SIZE[0]]
            assert isinstance(segm["counts"], str)
            assert x >= 0 and y >= 0 and w > 0 and h > 0
            assert x + w <= SIZE[0] + 0.02 and y + h <= SIZE[1] + 0.02


def test_pycocotools_loads_and_gt_as_prediction_scores_ap_1(small: SyntheticPaths) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    for ann_file in (small.train_ann, small.val_ann):
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(ann_file))
            results = [
                {
                    "image_id": a["image_id"],
                    "category_id": 1,
                    "keypoints": a["keypoints"],
                    "score": 1.0,
                }
                for a in gt.dataset["annotations"]
            ]
            evaluator = COCOeval(gt, gt.loadRes(results), iouType="keypoints")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        assert evaluator.stats[0] == pytest.approx(1.0)  # AP
        assert evaluator.stats[5] == pytest.approx(1.0)  # AR


# pycocotools' mask.decode under numpy 2 warns about its own __array__ (not our data).
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_segmentation_is_the_visible_mask(val100: SyntheticPaths) -> None:
    """Mask sum == area, the mask lies in the bbox, and it holds exactly the pixels whose
    top-most owner is this person in the re-rendered label map (no occluder, no other figure)."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(val100.val_ann))
    assert len(gt.getAnnIds()) > 100
    boxes_with_occluder = 0
    for index, image_id in enumerate(sorted(gt.getImgIds())):
        rng = np.random.default_rng([0, 1, index])  # seed 0, split val, image index
        _, labels, people = synthetic_scene.render_scene(rng, SIZE, 3)
        anns = gt.loadAnns(gt.getAnnIds(imgIds=[image_id]))
        assert [a["area"] for a in anns] == [p.area for p in people]
        union = np.zeros(labels.shape, bool)
        for slot, ann in enumerate(anns):
            mask = mask_utils.decode([gt.annToRLE(ann)])[:, :, 0].astype(bool)
            assert mask.shape == labels.shape and int(mask.sum()) == ann["area"] > 0
            ys, xs = np.nonzero(mask)
            x, y, w, h = ann["bbox"]  # pixel centres at integer coordinates
            assert x <= xs.min() and xs.max() <= x + w and y <= ys.min() and ys.max() <= y + h
            assert not (mask & (labels == synthetic_scene.OCCLUDER_CODE)).any()
            np.testing.assert_array_equal(mask, synthetic_scene.visible_mask(labels, slot))
            assert not (mask & union).any(), "masks of two people overlap"
            union |= mask
            box = _box_mask(ann["bbox"], labels.shape)
            boxes_with_occluder += int((box & (labels == synthetic_scene.OCCLUDER_CODE)).any())
    assert boxes_with_occluder >= 10, "the occluder check needs occluders over people"


def _box_mask(bbox: list[float], shape: tuple[int, ...]) -> np.ndarray:
    x, y, w, h = bbox
    out = np.zeros(shape, bool)
    out[int(np.ceil(y)) : int(y + h) + 1, int(np.ceil(x)) : int(x + w) + 1] = True
    return out


def test_area_classes_of_the_val_split(val100: SyntheticPaths) -> None:
    """COCO area classes of the default val split (seed 0, 100 images). Measured: 158 people,
    15 small (9.5%), 77 medium (48.7%), 66 large (41.8%); train (800 images): 1376 people,
    6.2% small, 52.0% medium, 41.8% large."""
    anns = _load(val100.val_ann)["annotations"]
    areas = np.array([a["area"] for a in anns], dtype=np.float64)
    small, large = areas < 32**2, areas > 96**2
    medium = ~small & ~large
    assert medium.mean() >= 0.3 and large.mean() >= 0.3, (medium.mean(), large.mean())
    assert 0.02 <= small.mean() <= 0.15, small.mean()
    assert min(a["num_keypoints"] for a, s in zip(anns, small) if s) >= 6
    meta = _load(val100.root / "synthetic_meta.json")["people"]["val"]
    assert meta == {
        "total": len(anns),
        "small": int(small.sum()),
        "medium": int(medium.sum()),
        "large": int(large.sum()),
    }


def test_load_coco_keypoints_gt_as_results_scores_ap_1(val100: SyntheticPaths) -> None:
    """The validating loader accepts the RLE segmentation; GT as predictions gives AP = 1 in
    every area range (mask areas are what OKS divides by)."""
    from pycocotools.cocoeval import COCOeval

    from simdr_lib.data.coco import load_coco_keypoints

    data = load_coco_keypoints(val100.val_ann, val100.val_images)
    assert len(data.records) == len(_load(val100.val_ann)["annotations"])
    areas = {a["id"]: a["area"] for a in data.coco.dataset["annotations"]}
    assert all(r.area == areas[r.ann_id] for r in data.records)
    results = [
        {"image_id": r.image_id, "category_id": 1, "keypoints": r.keypoints.ravel().tolist()}
        for r in data.records
    ]
    for r in results:
        r["score"] = 1.0
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(data.coco, data.coco.loadRes(results), iouType="keypoints")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    ap, _, _, ap_m, ap_l, ar = evaluator.stats[:6]
    assert (ap, ap_m, ap_l, ar) == pytest.approx((1.0, 1.0, 1.0, 1.0))


def test_person_without_visible_pixels_is_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = synthetic_scene._render_once, []

    def hide_first_person(*args: Any, **kwargs: Any) -> Any:
        image, labels, people = real(*args, **kwargs)
        calls.append(len(people))
        if len(calls) <= hidden_draws:
            people = [dataclasses.replace(people[0], area=0), *people[1:]]
        return image, labels, people

    monkeypatch.setattr(synthetic_scene, "_render_once", hide_first_person)
    hidden_draws = 2
    _, _, people = synthetic_scene.render_scene(np.random.default_rng(7), SIZE, 3)
    assert len(calls) == 3 and all(p.area > 0 for p in people)
    calls.clear()
    hidden_draws = synthetic_scene.RENDER_TRIALS  # never visible: left out after the last draw
    _, _, people = synthetic_scene.render_scene(np.random.default_rng(7), SIZE, 3)
    assert len(calls) == synthetic_scene.RENDER_TRIALS and all(p.area > 0 for p in people)
    assert len(people) == calls[-1] - 1


def test_detections_file(small: SyntheticPaths) -> None:
    from pycocotools.coco import COCO

    dets = _load(small.det_file)
    val = _load(small.val_ann)
    image_ids = {img["id"] for img in val["images"]}
    assert dets, "expected some detections"
    for det in dets:
        assert set(det) == {"image_id", "category_id", "bbox", "score"}
        assert det["image_id"] in image_ids and det["category_id"] == 1
        assert 0.0 < det["score"] <= 1.0
        x, y, w, h = det["bbox"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0
    with contextlib.redirect_stdout(io.StringIO()):
        COCO(str(small.val_ann)).loadRes(str(small.det_file))


def test_detections_simulate_a_detector(larger: SyntheticPaths) -> None:
    dets = _load(larger.det_file)
    scores = np.array([d["score"] for d in dets])
    num_people = len(_load(larger.val_ann)["annotations"])
    true_like = scores > 0.3
    assert true_like.sum() >= 0.8 * num_people and np.all(scores[true_like] <= 1.0)
    assert (~true_like).any(), "expected a few low-score false positives"


def test_visibility_flags(larger: SyntheticPaths) -> None:
    counts = np.zeros(3, int)
    for ann_file in (larger.train_ann, larger.val_ann):
        for ann in _load(ann_file)["annotations"]:
            kps = _keypoints(ann)
            v = kps[:, 2]
            assert set(np.unique(v)) <= {0.0, 1.0, 2.0}
            assert np.all(kps[v == 0, :2] == 0), "v=0 joints must be stored as x=y=0"
            labeled = kps[v > 0]
            assert np.all((labeled[:, 0] >= 0) & (labeled[:, 0] < SIZE[0]))
            assert np.all((labeled[:, 1] >= 0) & (labeled[:, 1] < SIZE[1]))
            assert ann["num_keypoints"] == int((v > 0).sum()) > 0
            x, y, w, h = ann["bbox"]
            assert np.all(labeled[:, 0] >= x) and np.all(labeled[:, 0] <= x + w)
            assert np.all(labeled[:, 1] >= y) and np.all(labeled[:, 1] <= y + h)
            counts += np.bincount(v.astype(int), minlength=3)
    assert counts[2] > counts[1] > 0 and counts[0] > 0, counts


def test_people_count_and_scale(larger: SyntheticPaths) -> None:
    data = _load(larger.train_ann)
    per_image = np.bincount([a["image_id"] for a in data["annotations"]])[1:]
    assert per_image.min() >= 1 and per_image.max() <= 3 and per_image.max() > 1
    heights = np.array([a["bbox"][3] for a in data["annotations"]])
    assert np.median(heights) > 0.3 * SIZE[1]


def test_left_and_right_drawn_in_different_colours(larger: SyntheticPaths) -> None:
    """At unoccluded wrists the left side is blue-dominant and the right side red-dominant."""
    left, right = COCO_KEYPOINT_NAMES.index("left_wrist"), COCO_KEYPOINT_NAMES.index("right_wrist")
    data = _load(larger.train_ann)
    files = {img["id"]: img["file_name"] for img in data["images"]}
    checked = correct = 0
    for ann in data["annotations"]:
        kps = _keypoints(ann)
        if kps[left, 2] != 2 or kps[right, 2] != 2:
            continue
        image = cv2.imread(str(larger.train_images / files[ann["image_id"]])).astype(int)
        (lb, _, lr), (rb, _, rr) = (
            image[int(round(y)), int(round(x))] for x, y, _ in kps[[left, right]]
        )
        checked += 1
        correct += int(lb > lr + 30 and rr > rb + 30)
    assert checked >= 10
    assert correct >= 0.9 * checked, (correct, checked)


def test_skip_if_complete_and_overwrite(tmp_path: Path) -> None:
    paths = generate_synthetic_coco(tmp_path / "ds", **SMALL)
    before = _hashes(paths.root)
    marker = paths.root / "marker.txt"
    marker.write_text("kept while the dataset is reused")
    assert generate_synthetic_coco(tmp_path / "ds", **SMALL) == paths
    assert marker.exists()
    generate_synthetic_coco(tmp_path / "ds", overwrite=True, **SMALL)
    assert not marker.exists() and _hashes(paths.root) == before
    marker.write_text("replaced when the parameters change")
    generate_synthetic_coco(tmp_path / "ds", seed=5, **SMALL)
    assert not marker.exists() and _load(paths.root / "synthetic_meta.json")["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"], "no temporary leftovers"


def test_dataset_of_the_previous_generator_is_regenerated(tmp_path: Path) -> None:
    """A dataset whose meta is the version-1 generator's (box areas) is not reused."""
    paths = generate_synthetic_coco(tmp_path / "ds", **SMALL)
    before = _hashes(paths.root)
    meta_file = paths.root / "synthetic_meta.json"
    meta = _load(meta_file)
    old = {k: meta[k] for k in ("generator", "num_train", "num_val", "image_size", "seed")}
    meta_file.write_text(json.dumps({**old, "version": 1, "max_people": 3}))
    marker = paths.root / "marker.txt"
    marker.write_text("from the old generator")
    generate_synthetic_coco(tmp_path / "ds", **SMALL)
    assert not marker.exists() and _hashes(paths.root) == before


def test_incomplete_dataset_is_regenerated(tmp_path: Path) -> None:
    paths = generate_synthetic_coco(tmp_path / "ds", **SMALL)
    before = _hashes(paths.root)
    (paths.val_images / "000000000002.jpg").unlink()
    generate_synthetic_coco(tmp_path / "ds", **SMALL)
    assert _hashes(paths.root) == before


def test_interrupt_leaves_no_partial_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_render, calls = synthetic.render_image, []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_render(*args, **kwargs)

    monkeypatch.setattr(synthetic, "render_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic_coco(tmp_path / "ds", **SMALL)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(synthetic, "render_image", real_render)
    paths = generate_synthetic_coco(tmp_path / "ds", **SMALL)
    before = _hashes(paths.root)
    calls.clear()
    monkeypatch.setattr(synthetic, "render_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic_coco(tmp_path / "ds", overwrite=True, **SMALL)
    assert _hashes(paths.root) == before, "an interrupted overwrite keeps the old dataset"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_refuses_to_replace_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("user data")
    for overwrite in (False, True):
        with pytest.raises(DataError, match="synthetic_meta.json"):
            generate_synthetic_coco(foreign, overwrite=overwrite, **SMALL)
    assert (foreign / "notes.txt").read_text() == "user data"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        generate_synthetic_coco(a_file, **SMALL)


def test_empty_directory_is_filled(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    paths = generate_synthetic_coco(tmp_path / "ds", **SMALL)
    assert paths.train_ann.is_file()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_train": 0}, "num_train"),
        ({"num_val": -1}, "num_val"),
        ({"seed": -1}, "seed"),
        ({"max_people": 0}, "max_people"),
        ({"image_size": (32, 240)}, "image_size"),
        ({"image_size": (320,)}, "image_size"),
        ({"num_train": 2.5}, "num_train"),
    ],
)
def test_invalid_parameters(tmp_path: Path, kwargs: dict[str, Any], name: str) -> None:
    params = {**SMALL, **kwargs}
    with pytest.raises(ConfigError, match=name):
        generate_synthetic_coco(tmp_path / "ds", **params)
    assert not (tmp_path / "ds").exists()


def test_custom_size_and_max_people(tmp_path: Path) -> None:
    paths = generate_synthetic_coco(
        tmp_path / "ds", num_train=5, num_val=2, image_size=(128, 96), max_people=1, progress=False
    )
    data = _load(paths.train_ann)
    assert all((img["width"], img["height"]) == (128, 96) for img in data["images"])
    assert len(data["annotations"]) == 5
    assert cv2.imread(str(paths.train_images / "000000000001.jpg")).shape == (96, 128, 3)
