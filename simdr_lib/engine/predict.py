"""From crops to keypoints: the one flip-test + decode path, shared by evaluation and deployment.

``prob_fn`` maps a float32 batch ``(N, 3, H, W)`` to the codec's *probability* tuple (the
exported graph already contains the softmax; for a dynamic model wrap it in
:class:`ProbabilityModel`). Flip test = run the mirrored crop, map its output back onto the
original crop (mirror, sub-bin shift, swap left/right pairs) and merge with the codec's rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from simdr_lib.codec.base import Codec, Outputs
    from simdr_lib.models.builder import PoseModel
    from simdr_lib.models.probability import ProbabilityModel

ProbFn = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def predict_crops(
    prob_fn: ProbFn,
    images: np.ndarray,
    codec: Codec,
    flip_test: bool,
    flip_pairs: Sequence[tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray, Outputs]:
    """Keypoints ``(N, K, 2)`` px in the crop, scores ``(N, K)`` and the merged probabilities."""
    probs = tuple(np.asarray(p, dtype=np.float32) for p in prob_fn(images))
    if flip_test:
        mirrored = np.ascontiguousarray(images[..., ::-1])
        probs_f = tuple(np.asarray(p, dtype=np.float32) for p in prob_fn(mirrored))
        probs = codec.merge_flip(probs, codec.flip_back(probs_f, tuple(flip_pairs)))
    keypoints, scores = codec.decode(probs)
    return keypoints, scores, probs


def probability_model(model: PoseModel, head: str) -> ProbabilityModel:
    """Wrap a :class:`PoseModel` so it returns distributions (softmax over bins for SimDR)."""
    from simdr_lib.models.probability import ProbabilityModel

    return ProbabilityModel(model, softmax=head == "simdr")


def dynamic_prob_fn(prob_model: ProbabilityModel) -> ProbFn:
    """``prob_fn`` over a dygraph :func:`probability_model` (eval mode, no grad)."""
    import paddle

    def run(images: np.ndarray) -> tuple[np.ndarray, ...]:
        prob_model.eval()
        with paddle.no_grad():
            outs = prob_model(paddle.to_tensor(np.ascontiguousarray(images, dtype=np.float32)))
        return tuple(o.numpy() for o in outs)

    return run
