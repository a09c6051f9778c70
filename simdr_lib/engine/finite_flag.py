"""The NaN guard of data-parallel runs, carried by the gradient all-reduce.

Every rank must stop at the same step when any rank's loss is not finite (a rank that
stopped alone would leave the others waiting in the all-reduce). Asking the other ranks with
an all-reduce of its own costs a second point per step where the ranks wait for each other:
on 2 CPU ranks that was 5% of demo_tiny's images/s (336/334 against 355/352 images/s, two
alternating pairs of 150-step runs, 2-core EPYC, 2026-12-05). Instead, :class:`FlaggedModel`
adds one scalar parameter, ``flag``, whose gradient is 1 on a rank whose loss is not finite
and 0 elsewhere; it travels in the same all-reduce as the model's gradients, so after the
backward pass every rank reads the same answer, before any weight is touched.
"""

from __future__ import annotations

from typing import Any

import paddle

__all__ = ["FlaggedModel"]


class FlaggedModel(paddle.nn.Layer):
    """``model`` plus the scalar parameter ``flag`` (shape ``(1,)``, always 0) whose gradient
    is the guard's flag. Wrap this in ``paddle.DataParallel``; the optimizer gets only
    ``model``'s parameters, and checkpoints hold only ``model``."""

    def __init__(self, model: paddle.nn.Layer) -> None:
        super().__init__()
        self.model = model
        self.flag = self.create_parameter(
            shape=[1], dtype="float32", default_initializer=paddle.nn.initializer.Constant(0.0)
        )

    def forward(self, images: Any) -> tuple[Any, Any]:
        """``(model(images), flag)``: the flag comes out of the forward pass, so that
        ``paddle.DataParallel`` counts it among the parameters the step uses."""
        return self.model(images), self.flag * 1.0

    @staticmethod
    def flagged(loss: Any, flag: Any, finite: bool) -> Any:
        """``loss + flag * (0 if finite else 1)`` with the ``flag`` of :meth:`forward`: the
        same value and the same gradients for the model (``flag`` is 0), and d/d flag = this
        rank's "not finite". ``flag`` is cast to ``loss``'s dtype (under AMP it may come out of
        the forward pass in float16)."""
        return loss + flag.astype(loss.dtype) * (0.0 if finite else 1.0)

    def any_not_finite(self) -> bool:
        """After the backward pass of :meth:`flagged` (and its all-reduce): whether the loss
        was not finite on any rank. Clears ``flag``'s gradient for the next step."""
        grad = self.flag.grad
        flagged = grad is not None and float(grad.numpy().reshape(-1)[0]) != 0.0
        self.flag.clear_gradient()
        return flagged
