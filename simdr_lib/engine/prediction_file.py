"""``predictions_gt.npz``: the GT-box evaluation's predictions, written by 04 and read by 06.

06_visualization draws what 04_evaluation predicted instead of evaluating the model again.
The file keeps the per-person arrays (image-space keypoints, scores, ground truth, record
ids), not the probability vectors (hundreds of MB on COCO val): 06 recomputes those for
the few people it draws (:func:`simdr_lib.viz_examples.person_probs`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.atomic_io import write_bytes_atomic
from simdr_lib.errors import DataError

PREDICTIONS_FILE = "predictions_gt.npz"
_ARRAYS = ("image_ids", "keypoints_img", "scores", "box_scores", "areas", "gt_keypoints_img")


@dataclass
class SavedPredictions:
    """Predictions of one GT-box evaluation and how they were made.

    ``predictions`` is a :class:`~simdr_lib.engine.model_eval.Predictions` without
    probabilities, rows in the order of ``gt_eval_records``; ``flip_test`` tells how to
    recompute a person's distributions the same way.
    """

    predictions: Any
    protocol: str
    flip_test: bool


def record_ids(records: Sequence[Any]) -> np.ndarray:
    """``(N, 2)`` int64 ``[image_id, ann_id]`` of each person: what identifies a row."""
    return np.array([[int(r.image_id), int(r.ann_id)] for r in records], np.int64).reshape(-1, 2)


def save_predictions(path: str | os.PathLike, result: Any, records: Sequence[Any]) -> Path:
    """Write ``result.predictions`` (an :class:`EvalResult` on GT boxes) next to its records.

    Raises DataError if the result has no ground truth (not a GT-box evaluation) or its
    number of people differs from ``records``.
    """
    from simdr_lib.engine.protocols import protocol_name

    protocol = protocol_name(result.use_gt_bbox, result.flip_test)
    preds = result.predictions
    if preds.gt_keypoints_img is None:
        raise DataError(f"{protocol}: no ground-truth keypoints (not a GT-box evaluation)")
    if len(preds.keypoints_img) != len(records):
        raise DataError(
            f"{protocol}: {len(preds.keypoints_img)} predictions for {len(records)} people"
        )
    buf = io.BytesIO()
    arrays = {name: np.asarray(getattr(preds, name)) for name in _ARRAYS}
    np.savez_compressed(
        buf,
        record_ids=record_ids(records),
        protocol=np.array(protocol),
        flip_test=np.array(bool(result.flip_test)),
        **arrays,
    )
    return write_bytes_atomic(path, buf.getvalue())


def load_predictions(path: str | os.PathLike, records: Sequence[Any]) -> SavedPredictions:
    """Read :data:`PREDICTIONS_FILE` and check it belongs to ``records`` (the val people).

    DataError ``run 04_evaluation first: <path> missing`` without the file, and one naming
    the difference when the file was made for other people (count or ids differ).
    """
    from simdr_lib.engine.model_eval import Predictions

    path = Path(path)
    if not path.is_file():
        raise DataError(f"run 04_evaluation first: {path} missing")
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in (*_ARRAYS, "record_ids")}
        protocol, flip = str(data["protocol"]), bool(data["flip_test"])
    ids = arrays.pop("record_ids")
    if len(ids) != len(records):
        raise DataError(
            f"{path}: predictions for {len(ids)} people, the validation set has {len(records)}; "
            "run 04_evaluation again (same config)"
        )
    if not np.array_equal(ids, record_ids(records)):
        row = int(np.flatnonzero((ids != record_ids(records)).any(1))[0])
        raise DataError(
            f"{path}: row {row} is person {ids[row].tolist()}, the validation set has "
            f"{record_ids(records)[row].tolist()}; run 04_evaluation again (same config)"
        )
    return SavedPredictions(Predictions(**arrays), protocol, flip)
