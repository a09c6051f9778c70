"""The exported / evaluated network: a :class:`PoseModel` followed by the softmax over bins.

Defined at module level with module-level imports so that PaddlePaddle 2.6's dy2static (which
re-executes ``forward`` with the module's globals, without closures) can translate it.
"""

from __future__ import annotations

from typing import Any

import paddle
import paddle.nn.functional as F


class ProbabilityModel(paddle.nn.Layer):
    """``inner`` + softmax over the last axis (SimDR heads) or identity (heatmaps).

    Outputs are distributions ``(N, K, W*k)`` / ``(N, K, H*k)``, or heatmaps unchanged.
    """

    def __init__(self, inner: Any, softmax: bool) -> None:
        super().__init__()
        self.inner = inner
        self.softmax = softmax

    def forward(self, images: Any) -> Any:
        outs = self.inner(images)
        if self.softmax:
            return tuple(F.softmax(o, axis=-1) for o in outs)
        return tuple(outs)
