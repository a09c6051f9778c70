"""Pose models (Paddle): HRNet / tiny backbones, SimDR / heatmap heads, the model builder.

``build_model(backbone, head, num_joints, input_size=(W, H), split_ratio)`` returns a
:class:`PoseModel` whose ``forward(images (N, 3, H, W))`` gives the raw outputs in the codec's
tuple layout: SimDR ``(x_logits (N, K, W*k), y_logits (N, K, H*k))``, heatmap
``(heatmaps (N, K, H/4, W/4),)``.
"""

from simdr_lib.models.builder import (
    BACKBONES,
    HEADS,
    PoseModel,
    build_model,
    count_parameters,
    model_summary,
)
from simdr_lib.models.heads import HeatmapHead, SimDRHead, simdr_bins
from simdr_lib.models.hrnet import HRNet, map_official_key
from simdr_lib.models.tiny import TinyBackbone

__all__ = [
    "BACKBONES",
    "HEADS",
    "HRNet",
    "HeatmapHead",
    "PoseModel",
    "SimDRHead",
    "TinyBackbone",
    "build_model",
    "count_parameters",
    "map_official_key",
    "model_summary",
    "simdr_bins",
]
