"""Top-down inference on an image, a folder or a COCO json (``simdr infer``).

Person boxes come from a detections json (``--det_file``), from the ground truth of a COCO json
(``--use_gt``), or, when neither is given, one box over the whole image (the seed's
single-person crop mode). All people of an image go through the model in one batch with the
evaluation's crop, flip test and decode (:class:`simdr_lib.export.Predictor`), from the dynamic
weights (``-c CONFIG -o weights=...``) or an exported folder (``--model_dir``).

Outputs in ``--output_dir``: the images with skeletons drawn (joints scoring above
``--draw_threshold``), ``keypoint_results.json`` in the COCO keypoint results format (plus
``bbox`` and ``file_name``) and, with ``--save_txt``, one ``<image stem>.txt`` per image (named by
:func:`output_names`, never two alike) with one ``[image_id, score, [x, y, s, ...]]`` line
per person, as the seed's ``--save_txt`` writes.

A file that cannot be read (not an image, corrupt, truncated) is reported in one line and
skipped; the run fails only when no image could be processed.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.atomic_io import write_bytes_atomic, write_json_atomic, write_text_atomic
from simdr_lib.errors import DataError

RESULTS_FILE = "keypoint_results.json"


@dataclass
class ImageJob:
    """One image to run: its path, COCO image id and person boxes (None = whole image)."""

    path: Path
    image_id: int
    boxes: np.ndarray | None = None  # (N, 4) xywh px
    box_scores: np.ndarray | None = None  # (N,)
    image_size: tuple[int, int] | None = None  # (W, H) a COCO json states; None = user photo


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
    jobs = [ImageJob(p, i) for p, i in zip(paths, ids)]
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
    jobs = {
        i: ImageJob(
            Path(image_dir) / imgs[i]["file_name"],
            int(i),
            image_size=(int(imgs[i]["width"]), int(imgs[i]["height"])),
        )
        for i in sorted(imgs.keys())
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


def output_names(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """``(drawing, txt)`` output paths relative to the output folder, one pair per input; no
    two inputs share an output.

    Inputs from one folder keep their file name (``img.jpg`` -> ``img.jpg``, ``img.txt``);
    inputs from several folders (a COCO json whose ``file_name`` has sub-folders) keep their
    path below the folders' common parent. A txt is ``<stem>.txt`` unless another input has the
    same stem (``a.jpg`` and ``a.png``): then ``<name>.txt``. The same file listed twice gets
    ``_2``, ``_3`` ... before its extension.
    """
    if not paths:
        return []
    parents = [os.path.abspath(p.parent) for p in paths]
    common = os.path.commonpath(parents)
    rels = [Path(os.path.relpath(os.path.abspath(p), common)) for p in paths]
    seen: Counter[str] = Counter()
    unique = []
    for rel in rels:
        seen[str(rel).lower()] += 1
        n = seen[str(rel).lower()]
        unique.append(rel if n == 1 else rel.with_name(f"{rel.stem}_{n}{rel.suffix}"))
    stems = Counter(str(r.with_suffix("")).lower() for r in unique)
    return [
        (
            r,
            r.with_suffix(".txt")
            if stems[str(r.with_suffix("")).lower()] == 1
            else r.with_name(r.name + ".txt"),
        )
        for r in unique
    ]


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
        predictor: a :class:`simdr_lib.export.Predictor` (exported or dynamic).
        draw_threshold: joints scoring above it are drawn (default ``in_vis_thresh`` of the
            predictor's config, the rescoring threshold of evaluation).
        failed: files already known to be unusable (reported and counted).
        report: ``report(line)`` for each skipped file (default: print to stderr).

    Raises:
        DataError: no image could be processed (each failure was reported before).
    """
    from tqdm.auto import tqdm

    from simdr_lib.data.images import load_image
    from simdr_lib.engine.evaluate import rescore
    from simdr_lib.viz import draw_skeleton

    report = report or (lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = predictor.info
    thresh = info.in_vis_thresh if draw_threshold is None else float(draw_threshold)
    summary = InferSummary(output_dir=out)
    for line in failed:
        summary.failed.append(line)
        report(f"skipped: {line}")
    names = output_names([job.path for job in jobs])
    for job, (drawing, txt) in zip(
        tqdm(jobs, desc="infer", disable=not progress, leave=False), names
    ):
        try:
            # json inputs: the annotated frame; user photos: the displayed (EXIF) frame
            image = load_image(
                job.path, expect_size=job.image_size, apply_exif=job.image_size is None
            )
        except DataError as exc:
            summary.failed.append(str(exc))
            report(f"skipped: {exc}")
            continue
        if (draw or save_txt) and (out / drawing).resolve() == job.path.resolve():
            raise DataError(f"{out}: output_dir is the input folder; outputs would overwrite")
        boxes = job.boxes
        if boxes is None:  # whole image (single-person crop mode)
            h, w = image.shape[:2]
            boxes = np.array([[0.0, 0.0, float(w), float(h)]])
            box_scores = np.ones(1)
        else:
            box_scores = job.box_scores if job.box_scores is not None else np.ones(len(boxes))
        results: list[dict[str, Any]] = []
        if len(boxes):
            kps, scores = predictor.predict_image(image, boxes, flip_test)
            person_scores = rescore(scores, box_scores, info.in_vis_thresh)
            full = np.concatenate([kps, scores[:, :, None]], axis=2)
            for i in range(len(boxes)):
                results.append(
                    {
                        "image_id": int(job.image_id),
                        "category_id": 1,
                        "keypoints": [round(float(v), 4) for v in full[i].reshape(-1)],
                        "score": float(person_scores[i]),
                        "bbox": [round(float(v), 2) for v in boxes[i]],
                        "file_name": job.path.name,
                    }
                )
            if draw:
                drawn = draw_skeleton(
                    image,
                    kps,
                    scores,
                    threshold=thresh,
                    skeleton=info.skeleton,
                    names=info.joint_names,
                )
                _write_image(out / drawing, drawn)
        elif draw:
            _write_image(out / drawing, image)
        if save_txt:
            write_text_atomic(out / txt, _txt_lines(job.image_id, results))
        summary.results.extend(results)
        summary.processed += 1
        summary.people += len(results)
    summary.results_file = write_json_atomic(out / RESULTS_FILE, summary.results, indent=None)
    if summary.processed == 0:
        raise DataError(
            f"no image could be processed ({len(summary.failed)} failed, see the lines above)"
        )
    return summary


# ============================================================================ CLI
def add_arguments(p: Any) -> None:
    """``simdr infer`` options (the seed's tools/infer.py and keypoint_infer.py names)."""
    from simdr_lib.cli_args import add_opt_arg

    src = p.add_argument_group("model (one of)")
    src.add_argument("-c", "--config", default="", help="YAML config (with -o weights=...)")
    add_opt_arg(src, "config override, e.g. -o weights=checkpoints/demo_tiny/model_final.pdparams")
    src.add_argument("--model_dir", default="", help="exported folder (simdr export)")
    p.add_argument(
        "--input",
        "--infer_img",
        "--infer_dir",
        "--image_file",
        dest="input",
        required=True,
        help="an image, a folder of images, or a COCO keypoints json",
    )
    p.add_argument("--image_dir", default="", help="images of a COCO json (default: its folder)")
    p.add_argument("--det_file", default="", help="person detections json (COCO results)")
    p.add_argument("--det_thresh", type=float, default=0.5, help="detection score >= (0.5)")
    p.add_argument("--use_gt", action="store_true", help="GT person boxes of the COCO json")
    p.add_argument("--output_dir", default="reports/infer", help="where results go (reports/infer)")
    p.add_argument(
        "--draw_threshold",
        type=float,
        default=None,
        help="draw joints scoring above this (default: the config's in_vis_thresh)",
    )
    p.add_argument("--save_txt", action="store_true", help="one <image>.txt per image")
    p.add_argument("--no_draw", action="store_true", help="do not write drawn images")
    p.add_argument("--no_flip", "--no-flip", action="store_true", help="disable the flip test")
    p.add_argument("--device", default="", help="cpu | gpu | gpu:N (default: config / cpu)")
    p.add_argument(
        "--backend",
        choices=("paddle", "onnx"),
        default="paddle",
        help="runtime of --model_dir: Paddle Inference (paddle) or onnxruntime (onnx)",
    )
    p.add_argument("--batch_size", type=int, default=32, help="most crops per run (32)")
    p.add_argument(
        "--cpu_threads",
        type=int,
        default=0,
        help="CPU threads (0 = default: 1 for Paddle Inference, all cores for onnxruntime)",
    )
    p.add_argument("--no_mkldnn", action="store_true", help="disable oneDNN on CPU")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def make_predictor(args: Any) -> Any:
    """Exported (``--model_dir``) or dynamic (``-c`` + weights) predictor from CLI args."""
    from simdr_lib.errors import ConfigError

    if bool(args.model_dir) == bool(args.config):
        raise ConfigError("simdr infer: give either --model_dir DIR or -c CONFIG -o weights=...")
    if args.model_dir:
        from simdr_lib.export import load_predictor

        return load_predictor(
            args.model_dir,
            device=args.device or "cpu",
            batch_size=args.batch_size,
            cpu_threads=args.cpu_threads or None,
            use_mkldnn=not args.no_mkldnn,
            backend=args.backend,
        )
    from simdr_lib.config import load_config
    from simdr_lib.export import predictor_from_config

    opts = list(args.opt) + ([f"device={args.device}"] if args.device else [])
    cfg = load_config(args.config, opts)
    return predictor_from_config(cfg, batch_size=args.batch_size)


def make_jobs(args: Any, predictor: Any) -> tuple[list[ImageJob], list[str]]:
    from simdr_lib.errors import ConfigError

    src = Path(args.input)
    if args.use_gt and args.det_file:
        raise ConfigError("simdr infer: --use_gt and --det_file exclude each other")
    if src.is_file() and src.suffix.lower() == ".json":
        image_dir = Path(args.image_dir) if args.image_dir else src.parent
        jobs = jobs_from_coco(
            src,
            image_dir,
            predictor.info.num_joints,
            use_gt=args.use_gt,
            det_file=args.det_file or None,
            det_thresh=args.det_thresh,
        )
        return jobs, []
    if args.use_gt:
        raise ConfigError("simdr infer: --use_gt needs a COCO keypoints json as --input")
    return jobs_from_paths(src, args.det_file or None, args.det_thresh)


def cmd_infer(args: Any) -> int:
    if not Path(args.input).exists():  # before loading any model or weights
        raise DataError(f"{args.input}: input not found (an image, a folder or a COCO json)")
    predictor = make_predictor(args)
    jobs, failed = make_jobs(args, predictor)
    summary = run_inference(
        predictor,
        jobs,
        args.output_dir,
        draw_threshold=args.draw_threshold,
        flip_test=False if args.no_flip else None,
        save_txt=args.save_txt,
        draw=not args.no_draw,
        progress=not args.quiet,
        failed=failed,
    )
    skipped = f", {len(summary.failed)} skipped" if summary.failed else ""
    print(
        f"done: {summary.processed} images, {summary.people} people{skipped} "
        f"({predictor.backend}); results {summary.results_file}"
    )
    return 0


__all__ = [
    "ImageJob",
    "InferSummary",
    "add_arguments",
    "cmd_infer",
    "jobs_from_coco",
    "jobs_from_paths",
    "run_inference",
]
