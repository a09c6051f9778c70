"""Top-down inference on an image, a folder or a COCO json (``simdr infer``).

Person boxes come from a detections json (``--det_file``), from the ground truth of a COCO json
(``--use_gt``), or, when neither is given, one box over the whole image (the seed's
single-person crop mode). The people of consecutive images go through the model together, in
batches of up to the predictor's ``batch_size`` crops, with the evaluation's crop, flip test and
decode (:class:`simdr_lib.deploy.predictor.Predictor`), from
the dynamic weights (``-c CONFIG -o weights=...``) or an exported folder (``--model_dir``).

Outputs in ``--output_dir``: the images with skeletons drawn (joints scoring above
``--draw_threshold``), ``keypoint_results.json`` in the COCO keypoint results format (plus
``bbox`` and ``file_name``) and, with ``--save_txt``, one ``<image stem>.txt`` per image with
one ``[image_id, score, [x, y, s, ...]]`` line per person, as the seed's ``--save_txt`` writes.
Each image's outputs keep its path under the input root (a COCO json's ``a/img.jpg`` is drawn
to ``a/img.jpg``), and names that would still meet (``img.jpg`` and ``img.png`` both writing
``img.txt``) get a ``-2``, ``-3`` ... suffix (:func:`output_names`); the results' ``file_name`` is
that name. Every file is written atomically (:mod:`simdr_lib.atomic_io`).

A file that cannot be read (not an image, corrupt, truncated) is reported in one line and
skipped; the run fails only when no image could be processed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from simdr_lib.atomic_io import write_bytes_atomic, write_json_atomic, write_text_atomic
from simdr_lib.errors import DataError

RESULTS_FILE = "keypoint_results.json"


@dataclass
class ImageJob:
    """One image to run: its path, COCO image id and person boxes (None = whole image).

    ``output_name`` is where its outputs go under the output folder (POSIX, relative; ``""``:
    the file name).
    """

    path: Path
    image_id: int
    boxes: np.ndarray | None = None  # (N, 4) xywh px
    box_scores: np.ndarray | None = None  # (N,)
    image_size: tuple[int, int] | None = None  # (W, H) a COCO json states; None = user photo
    output_name: str = ""


@dataclass
class InferSummary:
    """What a run did. ``failed`` holds one ``path: reason`` line per skipped file."""

    processed: int = 0
    people: int = 0
    failed: list[str] = field(default_factory=list)
    results_file: Path | None = None
    output_dir: Path | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


# ============================================================================ inputs
def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with a ``-2``, ``-3`` ... suffix on each that repeats an earlier one.

    Names meet when they differ only in case (case-insensitive file systems) or only in the
    extension (``img.jpg`` and ``img.png`` would both write ``img.txt``).
    """
    taken: set[str] = set()
    out = []
    for name in names:
        path = PurePosixPath(name)
        stem, n = path.stem, 1
        while (key := str(path.with_name(stem)).lower()) in taken:
            n += 1
            stem = f"{path.stem}-{n}"
        taken.add(key)
        out.append(str(path.with_name(stem + path.suffix)))
    return out


def output_names(paths: Sequence[Path], root: Path) -> list[str]:
    """Output names of image ``paths``: the path under ``root`` (the input folder or a COCO
    json's image folder), else the file name; made unique with :func:`unique_names`."""
    base = os.path.abspath(root)
    names = []
    for p in paths:
        full = os.path.abspath(p)
        inside = os.path.commonpath([base, full]) == base and full != base
        names.append(Path(os.path.relpath(full, base)).as_posix() if inside else p.name)
    return unique_names(names)


def _image_id_for(paths: Sequence[Path]) -> list[int]:
    """Numeric file stems (COCO style ``000000123456.jpg``) when all are numeric, else 1..N."""
    stems = [p.stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len(set(map(int, stems))) == len(stems):
        return [int(s) for s in stems]
    return list(range(1, len(paths) + 1))


def _load_det_index(det_file: str | os.PathLike, score_thresh: float) -> dict[Any, list]:
    """Detections keyed by ``file_name`` (basename) and by ``image_id``: [(box, score), ...].

    Boxes, scores and ids get the checks of :func:`simdr_lib.data.coco.load_detections`.
    """
    from simdr_lib.data.coco import check_box, check_id, check_score, read_json

    fname = str(det_file)
    dets = read_json(det_file, "detection file")
    if not isinstance(dets, list):
        raise DataError(f"{fname}: must be a list of detections, got {type(dets).__name__}")
    index: dict[Any, list] = {}
    for i, det in enumerate(dets):
        where = f"{fname}: detection [{i}]"
        if not isinstance(det, dict) or "bbox" not in det:
            raise DataError(f"{where}: must be an object with 'bbox' [x, y, w, h]")
        box = check_box(where, det["bbox"])
        score = check_score(where, det.get("score", 1.0))
        category = check_id(where, "category_id", det.get("category_id", 1))
        if category != 1 or score < score_thresh or box[2] <= 0 or box[3] <= 0:
            continue
        keys = []
        if "file_name" in det:
            if not isinstance(det["file_name"], str):
                raise DataError(f"{where}: 'file_name' must be a string")
            keys.append(os.path.basename(det["file_name"]))
        if "image_id" in det:
            keys.append(check_id(where, "image_id", det["image_id"]))
        if not keys:
            raise DataError(f"{where}: needs 'image_id' or 'file_name'")
        for key in keys:
            index.setdefault(key, []).append((box, score))
    return index


def _attach_dets(jobs: list[ImageJob], index: dict[Any, list] | None) -> list[ImageJob]:
    if index is None:
        return jobs
    for job in jobs:
        found = index.get(job.path.name) or index.get(job.image_id) or []
        job.boxes = np.array([b for b, _ in found], dtype=np.float64).reshape(-1, 4)
        job.box_scores = np.array([s for _, s in found], dtype=np.float64)
    return jobs


def jobs_from_paths(
    source: str | os.PathLike, det_file: str | None = None, det_thresh: float = 0.5
) -> tuple[list[ImageJob], list[str]]:
    """Jobs for an image file or every file of a folder (non-recursive).

    Returns ``(jobs, failed)``: files of a folder whose extension is not an image's are
    reported in ``failed`` (``path: reason``) instead of becoming jobs; hidden files are ignored.
    """
    from simdr_lib.data.images import IMAGE_EXTENSIONS

    src = Path(source)
    failed: list[str] = []
    if src.is_dir():
        files = sorted((p for p in src.iterdir() if p.is_file()), key=str)
        files = [p for p in files if not p.name.startswith(".")]
        paths = []
        for p in files:
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                paths.append(p)
            else:
                failed.append(f"{p}: not an image file (extension '{p.suffix or '(none)'}')")
        if not files:
            raise DataError(f"{src}: folder holds no files")
    elif src.is_file():
        paths = [src]
    else:
        raise DataError(f"{src}: input not found (an image, a folder or a COCO json)")
    ids = _image_id_for(paths)
    names = output_names(paths, src if src.is_dir() else src.parent)
    jobs = [ImageJob(p, i, output_name=n) for p, i, n in zip(paths, ids, names)]
    index = _load_det_index(det_file, det_thresh) if det_file else None
    return _attach_dets(jobs, index), failed


def jobs_from_coco(
    ann_file: str | os.PathLike,
    image_dir: str | os.PathLike,
    num_joints: int,
    use_gt: bool = False,
    det_file: str | None = None,
    det_thresh: float = 0.5,
) -> list[ImageJob]:
    """One job per image of a COCO json; boxes from its GT people or from ``det_file``."""
    from simdr_lib.data.coco import load_coco_keypoints, load_detections

    data = load_coco_keypoints(ann_file, image_dir, num_joints=num_joints, check_images=False)
    imgs = data.coco.imgs
    ids = sorted(imgs.keys())
    paths = [Path(image_dir) / imgs[i]["file_name"] for i in ids]
    names = output_names(paths, Path(image_dir))
    jobs = {
        i: ImageJob(
            path,
            int(i),
            image_size=(int(imgs[i]["width"]), int(imgs[i]["height"])),
            output_name=name,
        )
        for i, path, name in zip(ids, paths, names)
    }
    records = None
    if use_gt:
        records = data.records
    elif det_file:
        records = load_detections(det_file, data, det_thresh)
    if records is not None:
        for job in jobs.values():
            job.boxes, job.box_scores = np.zeros((0, 4)), np.zeros((0,))
        by_image: dict[int, list] = {}
        for r in records:
            by_image.setdefault(r.image_id, []).append(r)
        for image_id, recs in by_image.items():
            jobs[image_id].boxes = np.stack([r.box for r in recs])
            jobs[image_id].box_scores = np.array([r.score for r in recs], dtype=np.float64)
    return list(jobs.values())


# ============================================================================ running
def _txt_lines(image_id: int, results: Iterable[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        kpts = [round(float(v), 3) for v in r["keypoints"]]
        lines.append(f"[{image_id}, {round(float(r['score']), 6)}, {kpts}]")
    return "\n".join(lines) + ("\n" if lines else "")


def _write_image(path: Path, image_rgb: np.ndarray) -> None:
    import cv2

    ext = path.suffix.lower() if path.suffix else ".jpg"
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(image_rgb[:, :, ::-1]))
    if not ok:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[:, :, ::-1]))
        path = path.with_suffix(".png")
    write_bytes_atomic(path, buf.tobytes())


def run_inference(
    predictor: Any,
    jobs: Sequence[ImageJob],
    output_dir: str | os.PathLike,
    draw_threshold: float | None = None,
    flip_test: bool | None = None,
    save_txt: bool = False,
    draw: bool = True,
    progress: bool = True,
    failed: Sequence[str] = (),
    report: Any = None,
) -> InferSummary:
    """Run ``predictor`` on every job; write drawings, results json and txt files.

    Args:
        predictor: a :class:`simdr_lib.deploy.predictor.Predictor` (exported or dynamic).
        draw_threshold: joints scoring above it are drawn (default ``in_vis_thresh`` of the
            predictor's config, the rescoring threshold of evaluation).
        failed: files already known to be unusable (reported and counted).
        report: ``report(line)`` for each skipped file (default: print to stderr).

    Raises:
        DataError: no image could be processed (each failure was reported before), or an
            output would overwrite its input image.
    """
    from tqdm.auto import tqdm

    report = report or (lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    thresh = predictor.info.in_vis_thresh if draw_threshold is None else float(draw_threshold)
    summary = InferSummary(output_dir=out)
    for line in failed:
        _skip(summary, report, line)
    names = unique_names([job.output_name or job.path.name for job in jobs])

    def finish(batch: list[_Pending]) -> None:
        for item, (kps, scores, results) in zip(batch, _predict_batch(predictor, batch, flip_test)):
            if draw:
                _write_drawing(out / item.name, item.image, kps, scores, thresh, predictor.info)
            if save_txt:
                txt = out / PurePosixPath(item.name).with_suffix(".txt")
                write_text_atomic(txt, _txt_lines(item.job.image_id, results))
            summary.results.extend(results)
            summary.processed += 1
            summary.people += len(results)

    pending: list[_Pending] = []  # people of several images go through the model together
    for job, name in tqdm(list(zip(jobs, names)), desc="infer", disable=not progress, leave=False):
        image = _read_image(job, summary, report)
        if image is None:
            continue
        if draw or save_txt:
            _check_not_input(out, name, job)
        pending.append(_Pending(job, name, image, *_job_boxes(job, image)))
        if sum(len(p.boxes) for p in pending) >= predictor.batch_size:
            finish(pending)
            pending = []
    finish(pending)
    summary.results_file = write_json_atomic(out / RESULTS_FILE, summary.results, indent=None)
    if summary.processed == 0:
        raise DataError(
            f"no image could be processed ({len(summary.failed)} failed, see the lines above)"
        )
    return summary


def _skip(summary: InferSummary, report: Any, line: str) -> None:
    summary.failed.append(line)
    report(f"skipped: {line}")


def _read_image(job: ImageJob, summary: InferSummary, report: Any) -> np.ndarray | None:
    """The job's (H, W, 3) uint8 RGB image, or None after reporting why it was skipped."""
    from simdr_lib.data.images import load_image

    try:
        # json inputs: the annotated frame; user photos: the displayed (EXIF) frame
        return load_image(job.path, expect_size=job.image_size, apply_exif=job.image_size is None)
    except DataError as exc:
        _skip(summary, report, str(exc))
        return None


def _check_not_input(out: Path, name: str, job: ImageJob) -> None:
    """DataError when the outputs of ``job`` would land on its input image or in its folder."""
    if out.resolve() == job.path.parent.resolve() or (out / name).resolve() == job.path.resolve():
        raise DataError(f"{out}: output_dir is the input folder; outputs would overwrite")


def _job_boxes(job: ImageJob, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes ``(N, 4)`` xywh px and their scores ``(N,)``; no boxes = the whole image."""
    if job.boxes is None:  # whole image (single-person crop mode)
        h, w = image.shape[:2]
        return np.array([[0.0, 0.0, float(w), float(h)]]), np.ones(1)
    scores = job.box_scores if job.box_scores is not None else np.ones(len(job.boxes))
    return job.boxes, scores


@dataclass
class _Pending:
    """An image read and waiting for its people's batch."""

    job: ImageJob
    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    boxes: np.ndarray  # (N, 4) xywh px
    box_scores: np.ndarray  # (N,)


def _predict_batch(
    predictor: Any, batch: Sequence[_Pending], flip_test: bool | None
) -> list[tuple[np.ndarray | None, np.ndarray | None, list[dict[str, Any]]]]:
    """The people of several images in one model batch (split at ``predictor.batch_size``):
    per image, keypoints ``(N, K, 2)`` image px, scores ``(N, K)`` and the COCO result of each
    person (``None, None, []`` for an image without boxes)."""
    from simdr_lib.data.transforms import crop_to_image

    with_people = [p for p in batch if len(p.boxes)]
    if not with_people:
        return [(None, None, []) for _ in batch]
    prepared = [predictor.prepare_crops(p.image, p.boxes) for p in with_people]
    kps, scores, _ = predictor.decode_crops(np.concatenate([c for c, _, _ in prepared]), flip_test)
    ends = np.cumsum([len(p.boxes) for p in with_people])
    out: dict[int, tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]] = {}
    for item, (_, centers, scales), end in zip(with_people, prepared, ends):
        start = end - len(item.boxes)
        kps_img = crop_to_image(
            kps[start:end],
            centers,
            scales,
            predictor.input_size,
            pixel_std=predictor.info.pixel_std,
        )
        results = _people_results(predictor, item, kps_img, scores[start:end])
        out[id(item)] = (kps_img, scores[start:end], results)
    return [out.get(id(p), (None, None, [])) for p in batch]


def _people_results(
    predictor: Any, item: _Pending, kps: np.ndarray, scores: np.ndarray
) -> list[dict[str, Any]]:
    """COCO keypoint results (plus ``bbox`` and ``file_name``) of one image's people."""
    from simdr_lib.engine.evaluate import rescore

    person_scores = rescore(scores, item.box_scores, predictor.info.in_vis_thresh)
    full = np.concatenate([kps, scores[:, :, None]], axis=2)
    return [
        {
            "image_id": int(item.job.image_id),
            "category_id": 1,
            "keypoints": [round(float(v), 4) for v in full[i].reshape(-1)],
            "score": float(person_scores[i]),
            "bbox": [round(float(v), 2) for v in item.boxes[i]],
            "file_name": item.name,
        }
        for i in range(len(item.boxes))
    ]


def _write_drawing(
    path: Path,
    image: np.ndarray,
    kps: np.ndarray | None,
    scores: np.ndarray | None,
    threshold: float,
    info: Any,
) -> None:
    """``image`` with the skeletons of ``kps`` drawn (as it is when there are no people)."""
    from simdr_lib.viz import draw_skeleton

    if kps is not None:
        image = draw_skeleton(
            image, kps, scores, threshold=threshold, skeleton=info.skeleton, names=info.joint_names
        )
    _write_image(path, image)


__all__ = [
    "ImageJob",
    "InferSummary",
    "jobs_from_coco",
    "jobs_from_paths",
    "output_names",
    "run_inference",
    "unique_names",
]
