"""Deployment speed on CPU: dynamic graph vs Paddle Inference (static) vs onnxruntime.

    python benchmarks/deploy_speed.py [--models tiny,hrnet_w32] [--batches 1,8] [--threads N]

For demo_tiny (configs/demo_tiny.yml) and HRNet-W32 256x192 (configs/simdr_hrnet_w32_256x192.yml)
with random weights (speed does not depend on them), each backend runs the same probability
model (softmax included) through ``Predictor.predict_crops`` on random crops:

- ``dygraph``: the dynamic model (``simdr infer -c ... -o weights=...``);
- ``default (auto)``: what ``simdr infer --model_dir`` runs by default (``backend="auto"``:
  onnxruntime when installed and the export has model.onnx, else Paddle Inference; all cores);
- ``paddle-inference``: the exported static model as ``load_predictor`` configures it
  (oneDNN, IR optimizations, all cores; on PaddlePaddle 3.x the oneDNN placement pass is
  dropped when the full oneDNN pipeline cannot run the model, see simdr_lib/deploy/runners.py);
- ``paddle-inference-1thread``: the same with 1 thread (the default before issue 14);
- ``paddle-inference-plain``: the same without oneDNN;
- ``paddle-inference-pdmodel`` (PaddlePaddle 3.x only): ``simdr export --format pdmodel``, the
  ProgramDesc program, which Paddle Inference 3.x runs with the full oneDNN pipeline;
- ``onnxruntime``: paddle2onnx + onnxruntime (when the ``onnx`` extra is installed).

Reports images/s and per-batch latency p50 / p95 for batch 1 and 8; the goal of the issue is
Paddle Inference >= 1.3x the dynamic graph's throughput. Prints a table and writes
``reports/bench/deploy_speed.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "tiny": ("demo_tiny", ROOT / "configs" / "demo_tiny.yml", {}),
    "hrnet_w32": ("hrnet_w32_256x192", ROOT / "configs" / "simdr_hrnet_w32_256x192.yml", {}),
}
# (warmup runs, timed runs per round, rounds) per batch size; HRNet-W32 is ~4.5 images/s in
# dygraph on 2 cores, so it gets few runs.
ITERS = {"tiny": {1: (10, 40, 5), 8: (5, 10, 5)}, "hrnet_w32": {1: (2, 3, 3), 8: (1, 1, 3)}}


def machine() -> dict[str, Any]:
    from simdr_lib.report.environment import benchmark_machine

    info = benchmark_machine()
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def time_backends(
    predictors: dict[str, Any], batch: int, warmup: int, iters: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Interleaved timing: ``rounds`` x (every backend runs ``iters`` batches).

    Throughput is the median over rounds (robust to load from other processes, which moves
    between rounds rather than between backends); latency percentiles are over all runs.
    """
    name0 = next(iter(predictors))
    w, h = predictors[name0].input_size
    x = np.random.default_rng(0).standard_normal((batch, 3, h, w)).astype(np.float32)
    for predictor in predictors.values():
        for _ in range(warmup):
            predictor.predict_crops(x)
    lat: dict[str, list[float]] = {k: [] for k in predictors}
    rate: dict[str, list[float]] = {k: [] for k in predictors}
    for _ in range(rounds):
        for key, predictor in predictors.items():
            start = time.perf_counter()
            for _ in range(iters):
                t0 = time.perf_counter()
                predictor.predict_crops(x)
                lat[key].append(time.perf_counter() - t0)
            rate[key].append(batch * iters / (time.perf_counter() - start))
    out = {}
    for key in predictors:
        lat_ms = np.array(lat[key]) * 1e3
        out[key] = {
            "images_per_s": float(np.median(rate[key])),
            "images_per_s_rounds": [round(r, 2) for r in rate[key]],
            "latency_p50_ms": float(np.percentile(lat_ms, 50)),
            "latency_p95_ms": float(np.percentile(lat_ms, 95)),
            "runs": int(lat_ms.size),
        }
    return out


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import paddle2onnx  # noqa: F401
    except Exception:  # ImportError, or paddle2onnx 2.x refusing PaddlePaddle 2.x
        return False
    return True


def bench_model(key: str, batches: list[int], threads: int, work: Path) -> list[dict[str, Any]]:
    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.deploy import export_model, load_predictor, predictor_from_config
    from simdr_lib.factory import model_from_config

    name, config, extra = MODELS[key]
    cfg = load_config(config, {"device": "cpu", **extra})
    paddle.seed(0)
    weights = work / f"{key}.pdparams"
    paddle.save(model_from_config(cfg).state_dict(), str(weights))
    with_onnx = onnx_available()
    t0 = time.perf_counter()
    folder = export_model(cfg, weights, work / key, onnx=with_onnx)
    print(f"[{name}] exported in {time.perf_counter() - t0:.1f}s to {folder}", file=sys.stderr)
    cores = os.cpu_count() or 1

    def paddle_inference(path: Path, **kw: Any) -> Any:
        return lambda: load_predictor(path, batch_size=64, cpu_threads=threads, **kw)

    backends: dict[str, Any] = {
        "dygraph": lambda: predictor_from_config(cfg, weights, batch_size=64),
        "default (auto)": paddle_inference(folder),  # what simdr infer --model_dir runs
        "paddle-inference": paddle_inference(folder, backend="paddle"),
    }
    if not threads and cores > 1:  # the default before it became all cores
        backends["paddle-inference-1thread"] = lambda: load_predictor(
            folder, batch_size=64, cpu_threads=1, backend="paddle"
        )
    backends["paddle-inference-plain"] = paddle_inference(
        folder, backend="paddle", use_mkldnn=False
    )
    if int(paddle.__version__.split(".")[0]) >= 3:  # ProgramDesc export: full oneDNN on 3.x
        legacy = export_model(cfg, weights, work / f"{key}_pdmodel", program_format="pdmodel")
        backends["paddle-inference-pdmodel"] = paddle_inference(legacy, backend="paddle")
    if with_onnx:
        backends["onnxruntime"] = paddle_inference(folder, backend="onnx")
    predictors = {label: make() for label, make in backends.items()}
    rows = []
    for batch in batches:
        warmup, iters, rounds = ITERS[key].get(batch, (2, 5, 3))
        stats = time_backends(predictors, batch, warmup, iters, rounds)
        for backend, st in stats.items():
            engine = predictors[backend].backend
            rows.append({"model": name, "backend": backend, "engine": engine, "batch": batch, **st})
            print(
                f"[{name}] {backend:<22} bs{batch}: {st['images_per_s']:8.1f} img/s "
                f"p50 {st['latency_p50_ms']:8.1f} ms",
                file=sys.stderr,
            )
    return rows


def speedups(rows: list[dict[str, Any]]) -> None:
    """Add ``vs_dygraph``: throughput relative to the dygraph row of the same model and batch."""
    base = {(r["model"], r["batch"]): r["images_per_s"] for r in rows if r["backend"] == "dygraph"}
    for r in rows:
        ref = base.get((r["model"], r["batch"]))
        r["vs_dygraph"] = r["images_per_s"] / ref if ref else float("nan")


def table(rows: list[dict[str, Any]]) -> str:
    head = "| model | backend | batch | images/s | p50 ms | p95 ms | vs dygraph | engine |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['backend']} | {r['batch']} | {r['images_per_s']:.1f} | "
            f"{r['latency_p50_ms']:.1f} | {r['latency_p95_ms']:.1f} | {r['vs_dygraph']:.2f}x | "
            f"{r['engine']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny,hrnet_w32", help="tiny,hrnet_w32")
    parser.add_argument("--batches", default="1,8", help="batch sizes (1,8)")
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads (0 = the default: all cores)"
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench" / "deploy_speed.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    threads = args.threads
    batches = [int(b) for b in args.batches.split(",")]
    info = {**machine(), "threads": threads}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="deploy_speed_") as tmp:
        for key in args.models.split(","):
            if key not in MODELS:
                parser.error(f"unknown model {key!r}; choose from {', '.join(MODELS)}")
            rows += bench_model(key, batches, threads, Path(tmp))
    speedups(rows)
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    text = table(rows)
    header = (
        f"CPU: {info['cpu']} ({info['cores']} cores, threads {threads or 'default'}), "
        f"PaddlePaddle {info['paddle']}, Python {info['python']}, load average "
        f"{info['load_average_start'][0]} -> {info['load_average_end'][0]}"
        + (f", onnxruntime {info['onnxruntime']}" if "onnxruntime" in info else "")
    )
    print(header)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "deploy_speed", "machine": info, "rows": rows}
    out.write_text(json.dumps(payload, indent=2))
    out.with_suffix(".md").write_text(f"# deploy_speed\n\n{header}\n\n{text}\n")
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
