"""Worker for the 2-rank data-parallel test: train a few steps, save this rank's weights.

Run by ``python -m paddle.distributed.launch --nproc_per_node 2 tests/helpers/dist_worker.py
DATA_ROOT SAVE_DIR OUT_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import ROOT, tiny_overrides  # noqa: E402

from simdr_lib.config import load_config  # noqa: E402
from simdr_lib.engine.train import train  # noqa: E402


def main() -> None:
    import paddle
    import paddle.distributed as dist

    data_root, save_dir, out_dir = (Path(a) for a in sys.argv[1:4])
    over = tiny_overrides(
        data_root, save_dir, **{"train.epochs": 1, "train.max_steps_per_epoch": 3}
    )
    cfg = load_config(ROOT / "configs" / "demo_tiny.yml", over)
    result = train(cfg, progress=False)
    rank = dist.get_rank()
    out_dir.mkdir(parents=True, exist_ok=True)
    paddle.save(result.model.state_dict(), str(out_dir / f"rank{rank}.pdparams"))
    print(f"rank {rank} of {dist.get_world_size()} done, loss {result.history[-1]['loss']:.6f}")


if __name__ == "__main__":
    main()
