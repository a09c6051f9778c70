"""``simdr infer``: images, folders with bad files, COCO json with GT / detected boxes, outputs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from deploy_helpers import DEMO, make_bad_folder

pytestmark = pytest.mark.compat

SIZE_OPTS = ["-o", "codec.input_size=[48,64]", "-o", "model.tiny_width=16", "-o", "device=cpu"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.deploy import export_model
    from simdr_lib.factory import model_from_config

    base = tmp_path_factory.mktemp("infer_model")
    cfg = load_config(DEMO, {"codec.input_size": [48, 64], "model.tiny_width": 16})
    paddle.seed(2)
    weights = base / "w.pdparams"
    paddle.save(model_from_config(cfg).state_dict(), str(weights))
    return {"weights": weights, "dir": export_model(cfg, weights, base / "export")}


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    from simdr_lib.cli import main

    rc = main(["infer", "--quiet", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_folder_with_bad_files(model: dict, small_dataset: Path, tmp_path: Path, capsys) -> None:
    """Good, grayscale and RGBA images processed; non-image and corrupt JPEG one line each."""
    files = make_bad_folder(tmp_path / "in", small_dataset)
    out = tmp_path / "out"
    rc, stdout, stderr = _run(
        [
            "--model_dir",
            str(model["dir"]),
            "--input",
            str(tmp_path / "in"),
            "--output_dir",
            str(out),
            "--save_txt",
        ],
        capsys,
    )
    assert rc == 0, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    skipped = [ln for ln in lines if ln.startswith("skipped: ")]
    assert len(skipped) == 2, lines
    assert sum(str(files["text"]) in ln for ln in skipped) == 1
    assert sum(str(files["corrupt"]) in ln and "truncated" in ln for ln in skipped) == 1
    assert "done: 3 images, 3 people, 2 skipped" in stdout
    results = json.loads((out / "keypoint_results.json").read_text())
    assert sorted(r["file_name"] for r in results) == ["a_good.jpg", "b_gray.png", "d_rgba.png"]
    for r in results:
        assert len(r["keypoints"]) == 17 * 3 and r["category_id"] == 1 and 0 <= r["score"] <= 1
    for name in ("a_good.jpg", "b_gray.png", "d_rgba.png"):
        assert (out / name).is_file()
    assert not (out / "c_corrupt.jpg").exists() and not (out / "c_corrupt.txt").exists()
    txt = (out / "a_good.txt").read_text().splitlines()
    assert len(txt) == 1
    image_id, score, kpts = ast.literal_eval(txt[0])  # the seed's [im_id, score, keypoints]
    assert image_id == 1 and 0 <= score <= 1 and len(kpts) == 51


def test_folder_with_only_bad_files_fails(model: dict, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "b.txt").write_text("x")
    rc, _, stderr = _run(
        ["--model_dir", str(model["dir"]), "--input", str(folder), "--output_dir", str(tmp_path)],
        capsys,
    )
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert rc == 2
    assert sum(ln.startswith("skipped: ") for ln in lines) == 2
    assert lines[-1].startswith("error: no image could be processed")


def test_single_image_from_dynamic_weights(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    """-c CONFIG -o weights=... runs the dygraph model; no boxes = one whole-image person."""
    image = sorted((small_dataset / "images" / "val").glob("*.jpg"))[0]
    rc, stdout, stderr = _run(
        [
            "-c",
            str(DEMO),
            "-o",
            f"weights={model['weights']}",
            *SIZE_OPTS,
            "--input",
            str(image),
            "--output_dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert rc == 0, stderr
    assert "dygraph" in stdout and "1 images, 1 people" in stdout
    results = json.loads((tmp_path / "keypoint_results.json").read_text())
    assert results[0]["image_id"] == int(image.stem)
    from simdr_lib.data.images import load_image

    h, w = load_image(image).shape[:2]
    assert results[0]["bbox"] == [0.0, 0.0, float(w), float(h)]
    assert load_image(tmp_path / image.name).shape == (h, w, 3)


def test_dynamic_and_exported_give_the_same_keypoints(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    ann = small_dataset / "annotations" / "person_keypoints_val.json"
    common = ["--input", str(ann), "--image_dir", str(small_dataset / "images" / "val")]
    common += ["--use_gt", "--no_draw"]
    rc, _, err = _run(
        ["--model_dir", str(model["dir"]), *common, "--output_dir", str(tmp_path / "s")], capsys
    )
    assert rc == 0, err
    rc, _, err = _run(
        ["-c", str(DEMO), "-o", f"weights={model['weights']}", *SIZE_OPTS, *common]
        + ["--output_dir", str(tmp_path / "d")],
        capsys,
    )
    assert rc == 0, err
    s = json.loads((tmp_path / "s" / "keypoint_results.json").read_text())
    d = json.loads((tmp_path / "d" / "keypoint_results.json").read_text())
    assert len(s) == len(d) > 0
    ks = np.array([r["keypoints"] for r in s]).reshape(len(s), 17, 3)
    kd = np.array([r["keypoints"] for r in d]).reshape(len(d), 17, 3)
    assert np.abs(ks[..., :2] - kd[..., :2]).max() <= 0.5
    assert np.abs(ks[..., 2] - kd[..., 2]).max() <= 1e-4


def test_coco_json_with_gt_and_detection_boxes(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    from simdr_lib.data.coco import load_coco_keypoints, load_detections

    ann = small_dataset / "annotations" / "person_keypoints_val.json"
    images = small_dataset / "images" / "val"
    dets = small_dataset / "annotations" / "detections_val.json"
    data = load_coco_keypoints(ann, images)
    base = ["--model_dir", str(model["dir"]), "--input", str(ann), "--image_dir", str(images)]

    rc, stdout, err = _run([*base, "--use_gt", "--output_dir", str(tmp_path / "gt")], capsys)
    assert rc == 0, err
    gt = json.loads((tmp_path / "gt" / "keypoint_results.json").read_text())
    assert len(gt) == len(data.records)
    assert sorted(r["image_id"] for r in gt) == sorted(r.image_id for r in data.records)
    assert f"{data.num_images} images, {len(data.records)} people" in stdout

    out = tmp_path / "det"
    rc, _, err = _run([*base, "--det_file", str(dets), "--output_dir", str(out)], capsys)
    assert rc == 0, err
    det = json.loads((out / "keypoint_results.json").read_text())
    assert len(det) == len(load_detections(dets, data, 0.5)) > 0
    assert len(list(out.glob("*.jpg"))) == data.num_images


def test_folder_with_detections_by_image_id(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    """Folder input + detections json: boxes matched by the numeric file stem (COCO ids)."""
    dets = small_dataset / "annotations" / "detections_val.json"
    rc, _, err = _run(
        [
            "--model_dir",
            str(model["dir"]),
            "--input",
            str(small_dataset / "images" / "val"),
            "--det_file",
            str(dets),
            "--det_thresh",
            "0.0",
            "--output_dir",
            str(tmp_path),
            "--no_draw",
        ],
        capsys,
    )
    assert rc == 0, err
    results = json.loads((tmp_path / "keypoint_results.json").read_text())
    all_dets = [d for d in json.loads(dets.read_text()) if d["category_id"] == 1]
    assert len(results) == len([d for d in all_dets if d["bbox"][2] > 0 and d["bbox"][3] > 0])


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--use_gt"], "--use_gt needs a COCO keypoints json"),
        (["--det_file", "nope.json"], "nope.json"),
    ],
)
def test_bad_options_are_one_line(model: dict, tmp_path: Path, capsys, extra, message) -> None:
    import cv2

    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((30, 20), np.uint8))
    args = ["--model_dir", str(model["dir"]), "--input", str(img), "--output_dir", str(tmp_path)]
    rc, _, err = _run([*args, *extra], capsys)
    err = err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err and message in err


def test_output_dir_must_not_be_the_input_folder(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    files = make_bad_folder(tmp_path / "in", small_dataset)
    rc, _, err = _run(
        ["--model_dir", str(model["dir"]), "--input", str(files["good"].parent)]
        + ["--output_dir", str(files["good"].parent)],
        capsys,
    )
    assert rc == 2 and "overwrite" in err


def test_neither_or_both_model_sources(model: dict, tmp_path: Path, capsys) -> None:
    rc, _, err = _run(["--input", str(tmp_path)], capsys)
    assert rc == 2 and "--model_dir" in err
    rc, _, err = _run(
        ["--model_dir", str(model["dir"]), "-c", str(DEMO), "--input", str(tmp_path)], capsys
    )
    assert rc == 2 and "--model_dir" in err


# ----------------------------------------------------------------------------- output files


def _two_folders_json(small_dataset: Path, root: Path) -> Path:
    """A COCO json whose two images are a/img.jpg and b/img.jpg (same name, other content)."""
    src = json.loads((small_dataset / "annotations" / "person_keypoints_val.json").read_text())
    images = src["images"][:2]
    for sub, image in zip(("a", "b"), images):
        (root / sub).mkdir(parents=True)
        data = (small_dataset / "images" / "val" / image["file_name"]).read_bytes()
        (root / sub / "img.jpg").write_bytes(data)
        image["file_name"] = f"{sub}/img.jpg"
    ids = {image["id"] for image in images}
    src["images"] = images
    src["annotations"] = [a for a in src["annotations"] if a["image_id"] in ids]
    ann = root / "ann.json"
    ann.write_text(json.dumps(src))
    return ann


def test_same_named_images_of_two_folders_do_not_overwrite(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    """a/img.jpg and b/img.jpg: drawings and .txt keep the path under the input root."""
    ann = _two_folders_json(small_dataset, tmp_path / "in")
    out = tmp_path / "out"
    rc, _, err = _run(
        ["--model_dir", str(model["dir"]), "--input", str(ann), "--use_gt", "--save_txt"]
        + ["--output_dir", str(out)],
        capsys,
    )
    assert rc == 0, err
    from simdr_lib.data.images import load_image

    for sub in ("a", "b"):
        src = load_image(tmp_path / "in" / sub / "img.jpg")
        assert load_image(out / sub / "img.jpg").shape == src.shape
        assert (out / sub / "img.txt").read_text().strip()
    drawn = [load_image(out / sub / "img.jpg") for sub in ("a", "b")]
    assert not np.array_equal(drawn[0], drawn[1])
    results = json.loads((out / "keypoint_results.json").read_text())
    assert {r["file_name"] for r in results} == {"a/img.jpg", "b/img.jpg"}
    ids = {r["file_name"]: r["image_id"] for r in results}
    for sub in ("a", "b"):
        first = ast.literal_eval((out / sub / "img.txt").read_text().splitlines()[0])
        assert first[0] == ids[f"{sub}/img.jpg"]


def test_output_names_never_collide() -> None:
    from simdr_lib.infer import output_names

    names = output_names(
        [
            Path("/in/a/img.jpg"),
            Path("/in/b/img.jpg"),
            Path("/elsewhere/img.jpg"),
            Path("/x/img.jpg"),
        ],
        Path("/in"),
    )
    assert names[:2] == ["a/img.jpg", "b/img.jpg"]
    assert len(set(names)) == 4 and all(not n.startswith(("/", "..")) for n in names)
    assert output_names([Path("/in/img.jpg"), Path("/in/IMG.jpg")], Path("/in")) == [
        "img.jpg",
        "IMG-2.jpg",
    ]  # case-insensitive file systems would merge them
    # img.jpg and img.png would both write img.txt
    assert output_names([Path("/in/img.jpg"), Path("/in/img.png")], Path("/in")) == [
        "img.jpg",
        "img-2.png",
    ]


def test_txt_results_are_written_atomically(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    """An existing <image>.txt is replaced by a new file (rename), never rewritten in place."""
    files = make_bad_folder(tmp_path / "in", small_dataset)
    out = tmp_path / "out"
    out.mkdir()
    keep = tmp_path / "keep.txt"
    keep.write_text("an older result another reader may hold\n")
    (out / "a_good.txt").hardlink_to(keep)
    rc, _, err = _run(
        ["--model_dir", str(model["dir"]), "--input", str(files["good"]), "--save_txt"]
        + ["--output_dir", str(out)],
        capsys,
    )
    assert rc == 0, err
    assert keep.read_text() == "an older result another reader may hold\n"
    assert (out / "a_good.txt").read_text().startswith("[")
    assert not list(out.glob(".*.tmp"))


def test_same_stem_images_keep_their_own_txt(
    model: dict, small_dataset: Path, tmp_path: Path, capsys
) -> None:
    """x.jpg and x.png in one folder: each gets its own txt (one x.txt overwrote the other)."""
    import cv2

    src = sorted((small_dataset / "images" / "val").glob("*.jpg"))[:2]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x.jpg").write_bytes(src[0].read_bytes())
    cv2.imwrite(str(folder / "x.png"), cv2.imread(str(src[1])))
    out = tmp_path / "out"
    args = ["--model_dir", str(model["dir"]), "--input", str(folder), "--output_dir", str(out)]
    rc, _, err = _run([*args, "--save_txt"], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".txt") == ["x-2.txt", "x.txt"]
    assert sorted(p.name for p in out.glob("x*") if p.suffix != ".txt") == ["x-2.png", "x.jpg"]
    results = json.loads((out / "keypoint_results.json").read_text())
    assert {r["file_name"] for r in results} == {"x.jpg", "x-2.png"}
