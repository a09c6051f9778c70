"""Worker for the 2-rank NaN-guard test: a small linear model as simdr trains it in data
parallel (``FlaggedModel`` in ``paddle.DataParallel``, one bucket), three steps; the loss of
rank 1 is NaN at step 1 only. Writes ``OUT_DIR/rank<r>.json``: what ``any_not_finite`` said at
each step, the all-reduced weight gradient of step 0, and that gradient computed in one
process over both ranks' samples.

Run by ``python -m paddle.distributed.launch --nproc_per_node 2
tests/helpers/finite_flag_worker.py OUT_DIR``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simdr_lib.engine.finite_flag import FlaggedModel  # noqa: E402
from simdr_lib.engine.train_setup import _data_parallel  # noqa: E402


def samples(rank: int, step: int):  # type: ignore[no-untyped-def]
    import numpy as np

    x = np.random.default_rng(10 * step + rank).standard_normal((4, 3)).astype("float32")
    if rank == 1 and step == 1:
        x[0, 0] = np.nan
    return x


def main() -> None:
    import numpy as np
    import paddle
    import paddle.distributed as dist

    out_dir = Path(sys.argv[1])
    paddle.set_device("cpu")
    dist.init_parallel_env()
    rank = dist.get_rank()
    paddle.seed(0)
    model = paddle.nn.Linear(3, 2)
    reference = paddle.nn.Linear(3, 2)  # the same weights, trained in one process
    reference.set_state_dict(model.state_dict())
    flagged = FlaggedModel(model)
    train_model = _data_parallel(flagged, "cpu")
    said, grad0 = [], None
    for step in range(3):
        out, flag = train_model(paddle.to_tensor(samples(rank, step)))
        loss = (out**2).mean()
        value = float(loss.numpy())
        FlaggedModel.flagged(loss, flag, math.isfinite(value)).backward()
        said.append(flagged.any_not_finite())
        if step == 0:
            grad0 = model.weight.grad.numpy().tolist()
        model.clear_gradients()
    both = paddle.to_tensor(np.concatenate([samples(0, 0), samples(1, 0)]))
    (reference(both) ** 2).mean().backward()
    result = {"said": said, "grad0": grad0, "expected0": reference.weight.grad.numpy().tolist()}
    (out_dir / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
