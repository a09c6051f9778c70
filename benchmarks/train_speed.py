"""Training speed on CPU: images/s and achieved GFLOP/s per config and per parallel setting.

    python benchmarks/train_speed.py [--models tiny,hrnet_w32] [--settings t1,t2,r2,i2]
                                     [--repeats 3] [--quick]

For demo_tiny (configs/demo_tiny.yml, batch 32) and HRNet-W32 256x192
(configs/simdr_hrnet_w32_256x192.yml on the generated data, random init, batch 4) it times the
model step of training (forward, loss, backward, Adam step: ``_train_step`` of
simdr_lib/engine/train.py) on one real batch from the training loader, repeated; the data
loader is not timed (it runs in its own worker processes). Every setting runs in a fresh
process, because the thread count is process-wide:

- ``tN``: one process with ``train.cpu_threads=N`` intra-op threads;
- ``rN``: N data-parallel ranks (``python -m paddle.distributed.launch --nproc_per_node N``,
  gloo on CPU), one thread each, with ``train.ranks=N`` as simdr's own CPU default starts
  them: ``train.batch_size`` is split across the ranks, so a step trains the same images as
  with one process (images/s counts all ranks);
- ``iN``: the ceiling of ``rN``: N independent one-thread processes at the same time, each
  with ``train.batch_size / N`` and no gradient exchange (images/s summed; they start timing
  together). ``rN`` below ``iN`` is the cost of the all-reduce and of waiting for the slower
  rank; ``iN`` below N x ``t1`` at the same batch is what the cores lose by sharing the
  machine (memory bandwidth, cache, clock).

Achieved GFLOP/s = images/s x 3 x forward FLOPs per image (``paddle.flops`` counts the
forward pass; a training step is taken as 3x the forward: forward + backward for inputs and
weights), next to the machine's float32 matrix-multiply limit measured in the same run
(numpy ``A @ B``, 2048 x 2048, all threads, best of several). Also reports cpu/wall
(process CPU time over wall time per rank: 1.0 = one busy core).

Prints a table and writes ``reports/bench/train_speed.json`` and ``.md``. ``--quick`` runs
fewer steps (numbers are noisier). The machine's load average is printed at the start and the
end: on a shared machine, numbers measured under load are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_SYNTH = {
    "data.root": "data/synthetic",
    "data.synthetic": True,
    "data.train_ann": "annotations/person_keypoints_train.json",
    "data.train_images": "images/train",
    "data.val_ann": "annotations/person_keypoints_val.json",
    "data.val_images": "images/val",
    "model.pretrained": "",
}
#: key -> (label, config, overrides, (timed steps, quick timed steps))
MODELS: dict[str, tuple[str, Path, dict[str, Any], tuple[int, int]]] = {
    "tiny": ("demo_tiny", ROOT / "configs" / "demo_tiny.yml", {}, (40, 15)),
    "hrnet_w32": (
        "hrnet_w32_256x192",
        ROOT / "configs" / "simdr_hrnet_w32_256x192.yml",
        {**_SYNTH, "train.batch_size": 4},
        (4, 2),
    ),
}
WARMUP_STEPS = 2


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 ``(n, n) @ (n, n)`` rate of numpy with all its threads, GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def parse_setting(setting: str) -> tuple[int, int, int]:
    """``(threads, ranks, independent processes)``: ``t2`` -> (2, 1, 1), ``r2`` -> (1, 2, 1),
    ``i2`` -> (1, 1, 2)."""
    kind, count = setting[:1], setting[1:]
    if kind not in ("t", "r", "i") or not count.isdigit() or int(count) < 1:
        raise ValueError(f"setting must be tN, rN or iN (N >= 1), got {setting!r}")
    n = int(count)
    return {"t": (n, 1, 1), "r": (1, n, 1), "i": (1, 1, n)}[kind]


# ----------------------------------------------------------------------------- one process
def worker(
    key: str,
    threads: int,
    steps: int,
    save_dir: str,
    split: int = 1,
    index: int = 0,
    barrier: str = "",
) -> dict[str, Any]:
    """Time ``steps`` model steps of ``key`` in this process (one rank of a launch, or process
    ``index`` of ``split`` independent ones, each with 1/split of the batch, that start timing
    together at the ``barrier`` folder)."""
    from simdr_lib.config import load_config
    from simdr_lib.engine.train import _train_step
    from simdr_lib.engine.train_setup import build_run

    _, config, extra, _ = MODELS[key]
    rank = int(os.environ.get("PADDLE_TRAINER_ID", "0"))
    over = {
        **extra,
        "device": "cpu",
        "name": f"train_speed_{key}",
        "train.save_dir": save_dir,
        "train.cpu_threads": threads,
        "train.ranks": int(os.environ.get("PADDLE_TRAINERS_NUM", "1")),  # batch split
        "data.num_workers": 0,
    }
    cfg = load_config(config, over)
    if split > 1:
        over["name"] = f"train_speed_{key}_i{index}"
        cfg = load_config(config, {**over, "train.batch_size": cfg.train.batch_size // split})
    run = build_run(cfg, resume=False, do_eval=False, use_vdl=False, progress=False)
    batch = next(iter(run.loader))
    run.train_model.train()
    for _ in range(WARMUP_STEPS):
        _train_step(run, batch, 0)
    if split > 1:
        _barrier(Path(barrier), index, split)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        _train_step(run, batch, 0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    per_rank = int(batch["image"].shape[0])
    return {
        "rank": rank if split == 1 else index,
        "ranks": run.world,
        "threads": run.cpu_threads,
        "batch_per_rank": per_rank,
        "steps": steps,
        "images_per_s": steps * per_rank * run.world / wall,
        "cpu_per_wall": cpu / wall,
    }


def _barrier(folder: Path, index: int, count: int, timeout: float = 600.0) -> None:
    """Wait until all ``count`` independent processes reached this point (a file each)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(index)).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(list(folder.iterdir()))} of {count} processes started")
        time.sleep(0.01)


def forward_flops(key: str) -> tuple[float, str]:
    """Forward FLOPs of one image (batch 1) and how they were counted.

    ``paddle.flops`` counts multiply-accumulates of convolutions and linear layers; a
    multiply-add is 2 FLOPs. Where ``paddle.flops`` fails (PaddlePaddle 3.3 with numpy 2 on
    its parameter total), forward hooks count the same multiply-adds.
    """
    import contextlib
    import io

    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.factory import model_from_config

    _, config, extra, _ = MODELS[key]
    cfg = load_config(config, {**extra, "device": "cpu"})
    w, h = cfg.codec.input_size
    model = model_from_config(cfg)
    model.eval()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # paddle.flops prints its own table
            return 2.0 * paddle.flops(model, [1, 3, h, w], print_detail=False), "paddle.flops"
    except TypeError:
        return 2.0 * _hook_macs(model, (1, 3, h, w)), "conv/linear hooks"


def _hook_macs(model: Any, shape: tuple[int, ...]) -> float:
    """Multiply-adds of the Conv2D / Linear layers in one forward pass of ``shape``."""
    import paddle

    total = [0.0]

    def conv(layer: Any, _inp: Any, out: Any) -> None:
        k = int(np.prod(layer.weight.shape[1:]))  # in_channels / groups x kh x kw
        total[0] += float(np.prod(out.shape)) * k

    def linear(layer: Any, _inp: Any, out: Any) -> None:
        total[0] += float(np.prod(out.shape)) * int(layer.weight.shape[0])

    hooks = []
    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.Conv2D, paddle.nn.Conv2DTranspose)):
            hooks.append(layer.register_forward_post_hook(conv))
        elif isinstance(layer, paddle.nn.Linear):
            hooks.append(layer.register_forward_post_hook(linear))
    with paddle.no_grad():
        model(paddle.zeros(list(shape), dtype="float32"))
    for hook in hooks:
        hook.remove()
    return total[0]


def worker_commands(
    key: str, threads: int, ranks: int, steps: int, tmp: Path, split: int = 1
) -> list[tuple[list[str], Path]]:
    """``(command, result json)`` of each process of one run of a setting. The ``split``
    independent processes of a run share a start barrier folder of their own (new for every
    run, so a later round waits again)."""
    barrier = tempfile.mkdtemp(prefix=f"ready_{key}_", dir=tmp)
    commands = []
    for index in range(split):
        out = tmp / f"{key}_t{threads}_r{ranks}_i{split}_{index}.json"
        cmd = [__file__, "--worker", key, "--worker_threads", str(threads)]
        cmd += ["--worker_steps", str(steps), "--worker_out", str(out), "--worker_dir", str(tmp)]
        cmd += ["--worker_split", str(split), "--worker_index", str(index)]
        cmd += ["--worker_barrier", barrier]
        if ranks > 1:
            log_dir = tmp / f"launch_{key}_{ranks}"
            launch = ["-m", "paddle.distributed.launch", "--nproc_per_node", str(ranks)]
            cmd = [sys.executable, *launch, "--log_dir", str(log_dir), *cmd]
        else:
            cmd = [sys.executable, *cmd]
        commands.append((cmd, out))
    return commands


def run_setting(
    key: str, threads: int, ranks: int, steps: int, tmp: Path, split: int = 1
) -> dict[str, Any]:
    """One setting in fresh process(es): rank 0's result (images/s over all ranks), or for
    ``split`` independent processes their images/s summed and their cpu/wall averaged."""
    env = {**os.environ, "GLOG_minloglevel": "2", "PYTHONPATH": str(ROOT)}
    procs, outs = [], []
    for cmd, out in worker_commands(key, threads, ranks, steps, tmp, split):
        out.unlink(missing_ok=True)  # a result of an earlier round is not this one's
        pipe = subprocess.PIPE
        procs.append(subprocess.Popen(cmd, env=env, stdout=pipe, stderr=pipe, text=True, cwd=ROOT))
        outs.append(out)
    results = []
    for proc, out in zip(procs, outs):
        stdout, stderr = proc.communicate()
        if proc.returncode != 0 or not out.is_file():
            tail = (stderr or stdout).strip().splitlines()[-5:]
            raise RuntimeError(
                f"{key} threads={threads} ranks={ranks} split={split} failed: {' | '.join(tail)}"
            )
        results.append(json.loads(out.read_text()))
    if split == 1:
        return results[0]
    return {
        **results[0],
        "processes": split,
        "images_per_s": sum(r["images_per_s"] for r in results),
        "cpu_per_wall": sum(r["cpu_per_wall"] for r in results) / split,
    }


# ----------------------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    from simdr_lib.report.environment import benchmark_machine

    return benchmark_machine()


def _layout(row: dict[str, Any]) -> str:
    if row.get("processes", 1) > 1:
        return f"{row['processes']} independent x {row['threads']} thr"
    return f"{row['ranks']} rank x {row['threads']} thr"


def _range(row: dict[str, Any]) -> str:
    runs = row.get("images_per_s_runs", [row["images_per_s"]])
    return f"{min(runs):.2f}-{max(runs):.2f}" if len(runs) > 1 else ""


def table(rows: list[dict[str, Any]], limit: float) -> str:
    head = (
        "| model | setting | batch/rank | images/s (median) | range | vs t1 | cpu/wall | GFLOP/s "
        "| of matmul |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['setting']} ({_layout(r)}) | "
            f"{r['batch_per_rank']} | {r['images_per_s']:.2f} | {_range(r)} | {r['vs_t1']:.2f}x | "
            f"{r['cpu_per_wall']:.2f} | {r['gflops']:.1f} | {r['gflops'] / limit:.0%} |"
        )
    lines.append(f"| matmul limit (numpy float32 2048^3) | | | | | | | {limit:.1f} | 100% |")
    return "\n".join(lines)


def summarize_setting(runs: list[dict[str, Any]], flops_per_image: float) -> dict[str, Any]:
    """One table row from the runs of one setting: median images/s (all of them in
    ``images_per_s_runs``), median cpu/wall, and GFLOP/s = 3 x forward FLOPs x images/s."""
    rates = [r["images_per_s"] for r in runs]
    median = float(np.median(rates))
    return {
        **runs[0],
        "images_per_s": median,
        "images_per_s_runs": rates,
        "cpu_per_wall": float(np.median([r["cpu_per_wall"] for r in runs])),
        "forward_gflop_per_image": flops_per_image / 1e9,
        "gflops": median * 3 * flops_per_image / 1e9,
    }


def bench(
    models: list[str], settings: list[str], quick: bool, repeats: int = 1
) -> list[dict[str, Any]]:
    """One row per model and setting. With ``repeats`` > 1 the settings run in turn, round
    after round (so a slow spell of a shared machine hits all of them), and a row gives the
    median images/s with the range in ``images_per_s_runs``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        for key in models:
            label, _, _, (steps, quick_steps) = MODELS[key]
            flops, counted_by = forward_flops(key)
            runs: dict[str, list[dict[str, Any]]] = {s: [] for s in settings}
            for round_ in range(repeats):
                for setting in settings:
                    threads, ranks, split = parse_setting(setting)
                    n = quick_steps if quick else steps
                    r = run_setting(key, threads, ranks, n, Path(tmp), split)
                    runs[setting].append(r)
                    print(
                        f"[{label}] {setting} (round {round_ + 1}/{repeats}): "
                        f"{r['images_per_s']:.2f} img/s, cpu/wall {r['cpu_per_wall']:.2f}",
                        file=sys.stderr,
                    )
            base = None
            for setting in settings:
                row = summarize_setting(runs[setting], flops)
                row.update(model=label, setting=setting, flops_counted_by=counted_by)
                base = row["images_per_s"] if base is None else base
                row["vs_t1"] = row["images_per_s"] / base
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Settings: tN = one process with N threads, rN = N ranks x 1 thread (the "
        "batch split across them), iN = N independent 1-thread processes with 1/N of the batch "
        "each and no gradient exchange (the ceiling of rN). The first setting is the baseline "
        "of the 'vs t1' column.",
    )
    parser.add_argument("--models", default="tiny,hrnet_w32", help="tiny,hrnet_w32")
    parser.add_argument("--settings", default="t1,t2,r2,i2", help="t1,t2,r2,i2 (first = baseline)")
    parser.add_argument("--quick", action="store_true", help="fewer timed steps (noisier)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds over the settings; the table gives the median and the range (default 3)",
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench" / "train_speed.json"))
    names = ("worker", "worker_threads", "worker_steps", "worker_out", "worker_dir")
    for name in (*names, "worker_split", "worker_index", "worker_barrier"):
        parser.add_argument(f"--{name}", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # one setting's process (or one rank of it)
        split, index = int(args.worker_split or 1), int(args.worker_index or 0)
        result = worker(
            args.worker,
            int(args.worker_threads),
            int(args.worker_steps),
            args.worker_dir,
            split,
            index,
            args.worker_barrier or "",
        )
        if result["rank"] == 0 or split > 1:
            Path(args.worker_out).write_text(json.dumps(result))
        return 0
    models = args.models.split(",")
    for key in models:
        if key not in MODELS:
            parser.error(f"unknown model {key!r}; choose from {', '.join(MODELS)}")
    settings = args.settings.split(",")
    for s in settings:
        try:
            parse_setting(s)
        except ValueError as exc:
            parser.error(str(exc))
    info = machine()
    limit = matmul_gflops()
    rows = bench(models, settings, args.quick, max(1, args.repeats))
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    info["matmul_gflops"] = limit
    text = table(rows, limit)
    header = (
        f"CPU: {info['cpu']} ({info['cores']} cores), PaddlePaddle {info['paddle']}, "
        f"numpy {info['numpy']}, load average {info['load_average_start'][0]} -> "
        f"{info['load_average_end'][0]}; model step only, GFLOP/s = 3 x forward FLOPs"
    )
    print(header)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"benchmark": "train_speed", "machine": info, "rows": rows}, indent=2)
    )
    out.with_suffix(".md").write_text(f"# train_speed\n\n{header}\n\n{text}\n")
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
