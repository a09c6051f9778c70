"""What each peer trained and evaluated with, so imported weights are used the way they were made.

Facts read from the peers' code (PaddleDetection develop ``666f597f`` = release/2.6 for these
files; ultranity/Paddle-SimDR ``d2308dee``; leeyegy/SimDR ``aa6e089a``):

- **Preprocessing, identical in all three and in this project**: images decoded by OpenCV and
  converted to RGB (PaddleDetection ``keypoint_coco.py``, official ``JointsDataset.py`` with
  ``COLOR_RGB: true``), scaled by 1/255 and normalized with the ImageNet mean / std; a box
  becomes ``center = (x + w/2, y + h/2)``, widened to the input aspect ratio, ``scale = size /
  pixel_std`` with ``pixel_std = 200``, times the padding 1.25; the standard (not UDP) affine
  crop; COCO flip pairs; training flip ``x -> W-1-x``. So a converted model needs no other
  preprocessing, and :func:`preprocessing_mismatch` only guards against a config that
  changes these values.
- **Flip-test protocol, which differs**: the exact shift of a mirrored SimDR x vector is
  ``k-1`` bins (this project's default, :attr:`SimDRCodec.flip_shift`). The official code
  shifts 1 bin left for any ``k`` (``SHIFT_HEATMAP``; 0.5 bin too far at ``k = 1.5``) and
  averages probabilities (SimDR) or logits (SA-SimDR); the seed does not shift and averages
  raw logits. ``codec.flip_shift`` reproduces a peer's shift; the merge rule follows the
  codec type. PaddleDetection's heatmap models shift one heatmap pixel, as ours.
- **Scores**: the official code reports softmax maxima (max of x/y for SimDR, min for
  SA-SimDR); the seed reports the max of raw logits (not probabilities). Ours are softmax
  maxima combined by ``codec.confidence``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PREPROCESSING", "conventions_for", "preprocessing_mismatch"]

#: preprocessing shared by every layout (and by simdr_lib.data.transforms)
PREPROCESSING: dict[str, Any] = {
    "channel_order": "RGB",
    "scale": "1/255",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "pixel_std": 200.0,
    "padding": 1.25,
    "flip_pairs": "coco",
}

#: evaluation protocol per layout: SimDR flip shift in bins ("k-1" = exact), merge, scores
_PROTOCOLS: dict[str, dict[str, Any]] = {
    "simdr": {"flip_shift_bins": "k-1", "flip_merge": "codec", "scores": "softmax maxima"},
    "official": {
        "flip_shift_bins": 1.0,
        "flip_merge": "SimDR: mean of softmax; SA-SimDR: softmax of mean logits",
        "scores": "softmax maxima (SimDR max of x/y, SA-SimDR min)",
    },
    "paddledetection": {
        "flip_shift_bins": 0.0,
        "flip_merge": "mean of raw logits (SimDR); mean of heatmaps, 1 px shift (heatmap)",
        "scores": "max of raw x/y logits (SimDR); heatmap maxima",
        "heatmap_decode": "DARK (use_dark defaults to true in TopDownHRNet)",
    },
    "paddleclas": {"note": "ImageNet classifier backbone; no pose head"},
    "paddleclas-legacy": {"note": "ImageNet classifier backbone; no pose head"},
}


def conventions_for(layout: str) -> dict[str, Any]:
    """``{"preprocess": {...}, "protocol": {...}}`` for a weights layout (see module doc)."""
    return {"preprocess": dict(PREPROCESSING), "protocol": dict(_PROTOCOLS.get(layout, {}))}


def preprocessing_mismatch(conventions: dict[str, Any], padding: float, pixel_std: float) -> str:
    """A note when the config's box padding / pixel_std differ from the weights' training.

    Returns ``""`` when they agree (or the weights record no preprocessing).
    """
    pre = (conventions or {}).get("preprocess") or {}
    notes = []
    for key, ours in (("padding", padding), ("pixel_std", pixel_std)):
        theirs = pre.get(key)
        if isinstance(theirs, (int, float)) and abs(float(theirs) - float(ours)) > 1e-9:
            notes.append(f"data.{key} {ours:g} (the weights were trained with {theirs:g})")
    return "; ".join(notes)
