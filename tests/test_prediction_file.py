"""predictions_gt.npz: 04's GT-box predictions round trip to 06 and refuse other people."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from simdr_lib.engine.model_eval import Predictions
from simdr_lib.engine.prediction_file import (
    PREDICTIONS_FILE,
    load_predictions,
    save_predictions,
)
from simdr_lib.errors import DataError

K = 17


def _records(n: int, first_ann: int = 100) -> list[SimpleNamespace]:
    return [SimpleNamespace(image_id=10 + i // 2, ann_id=first_ann + i) for i in range(n)]


def _result(n: int, seed: int = 0, probs: bool = False) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    preds = Predictions(
        image_ids=np.array([10 + i // 2 for i in range(n)], np.int64),
        keypoints_img=rng.uniform(0, 200, (n, K, 2)),
        scores=rng.uniform(0, 1, (n, K)),
        box_scores=np.ones(n),
        areas=rng.uniform(100, 900, n),
        gt_keypoints_img=np.concatenate(
            [rng.uniform(0, 200, (n, K, 2)), rng.integers(0, 3, (n, K, 1))], -1
        ),
        probs=(rng.random((n, K, 96)), rng.random((n, K, 128))) if probs else (),
    )
    return SimpleNamespace(predictions=preds, flip_test=True, use_gt_bbox=True)


def test_predictions_round_trip_without_the_probabilities(tmp_path: Path) -> None:
    result, records = _result(5, probs=True), _records(5)
    path = save_predictions(tmp_path / PREDICTIONS_FILE, result, records)
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))
    saved = load_predictions(path, records)
    assert saved.protocol == "GT boxes + flip" and saved.flip_test is True
    for name in ("image_ids", "keypoints_img", "scores", "box_scores", "areas"):
        np.testing.assert_array_equal(
            getattr(saved.predictions, name), getattr(result.predictions, name)
        )
    np.testing.assert_array_equal(
        saved.predictions.gt_keypoints_img, result.predictions.gt_keypoints_img
    )
    assert saved.predictions.probs == ()
    with np.load(path) as data:
        assert not any("prob" in name for name in data.files)


def test_missing_file_says_which_notebook_to_run(tmp_path: Path) -> None:
    path = tmp_path / "demo" / PREDICTIONS_FILE
    with pytest.raises(DataError) as err:
        load_predictions(path, _records(3))
    assert str(err.value) == f"run 04_evaluation first: {path} missing"


def test_predictions_of_other_people_are_refused(tmp_path: Path) -> None:
    path = save_predictions(tmp_path / PREDICTIONS_FILE, _result(4), _records(4))
    with pytest.raises(DataError, match="predictions for 4 people, the validation set has 6"):
        load_predictions(path, _records(6))
    with pytest.raises(DataError, match=r"row 0 is person \[10, 100\].*\[10, 200\]"):
        load_predictions(path, _records(4, first_ann=200))


def test_only_a_gt_box_evaluation_of_these_people_is_saved(tmp_path: Path) -> None:
    result = _result(3)
    with pytest.raises(DataError, match="3 predictions for 2 people"):
        save_predictions(tmp_path / PREDICTIONS_FILE, result, _records(2))
    result.predictions.gt_keypoints_img = None
    result.use_gt_bbox = False
    with pytest.raises(DataError, match="detected boxes \\+ flip: no ground-truth keypoints"):
        save_predictions(tmp_path / PREDICTIONS_FILE, result, _records(3))
    assert not (tmp_path / PREDICTIONS_FILE).exists()
