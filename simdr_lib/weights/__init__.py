"""Weights from anywhere, read without running code from them.

- :func:`read_weights`: the one reader (Paddle ``.pdparams`` / ``.pdckpt`` pickles, PyTorch
  ``.pth`` zip and legacy files) through a restricted unpickler (:mod:`.unpickle`);
- :func:`load_model_weights` (whole model, strict), :func:`load_pretrained` (backbone, plus
  head tensors that fit), :func:`read_checkpoint` (resume): layouts detected by
  :mod:`.layouts` (ours, PaddleDetection / the seed, official PyTorch, PaddleClas);
- :func:`convert_weights` (``simdr convert IN OUT``): a file in our layout, once.
"""

from simdr_lib.weights.convert import ConvertResult, convert_weights
from simdr_lib.weights.layouts import LAYOUT_TITLES, infer_architecture, map_state, state_dict_of
from simdr_lib.weights.load import (
    LoadReport,
    load_model_weights,
    load_pretrained,
    read_checkpoint,
)
from simdr_lib.weights.reader import WeightsFile, read_weights

__all__ = [
    "LAYOUT_TITLES",
    "ConvertResult",
    "LoadReport",
    "WeightsFile",
    "convert_weights",
    "infer_architecture",
    "load_model_weights",
    "load_pretrained",
    "map_state",
    "read_checkpoint",
    "read_weights",
    "state_dict_of",
]
