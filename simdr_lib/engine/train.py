"""The training loop: Adam + warmup + step decay, AMP on GPU, atomic checkpoints, resume.

Read top to bottom, :func:`_train` is the whole run: build it (device, seed, model, data,
optimizer, resume state: :mod:`simdr_lib.engine.train_setup`), then one loop over epochs that
trains (:func:`_train_one_epoch`, each step behind the NaN guard), optionally evaluates
(:func:`_evaluate`) and writes ``checkpoints/<run>/last.pdckpt`` atomically
(:func:`_save_epoch`). Data parallel runs come from ``python -m paddle.distributed.launch``:
every rank runs this same function, only rank 0 writes files, and the loss shown is averaged
over ranks. Determinism: the batch order and augmentation depend only on (seed, epoch, sample
index), so a resumed run replays exactly what an uninterrupted run would have done (on CPU).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.atomic_io import remove_stale_temporaries, write_json_atomic, write_text_atomic
from simdr_lib.config import Config
from simdr_lib.engine.checkpoint import (
    CHECKPOINT_FILES,
    RUN_OUTPUTS,
    atomic_paddle_save,
    foreign_entries,
    portable_optimizer_state,
    save_checkpoint,
)
from simdr_lib.engine.train_setup import TrainingRun, build_run, lr_factor, run_dir_for
from simdr_lib.errors import TrainingError
from simdr_lib.run_lock import RunLock

__all__ = ["LOG_FIELDS", "TrainResult", "lr_factor", "run_dir_for", "train", "write_log"]

LOG_FIELDS = ("epoch", "step", "lr", "loss", "AP", "time_s", "images_per_s")


@dataclass
class TrainResult:
    """What a run produced; ``history`` holds one dict per epoch (loss, AP when evaluated)."""

    run_dir: Path
    epochs_done: int
    best_ap: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    final_weights: Path | None = None
    wall_time_s: float = 0.0
    images_per_s: float = 0.0
    model: Any = None  # the trained dygraph model (unwrapped from DataParallel)


def train(
    cfg: Config,
    *,
    resume: bool = False,
    overwrite: bool = False,
    do_eval: bool = False,
    use_vdl: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``cfg`` into ``checkpoints/<name>/``; returns the run summary.

    ``resume`` continues from ``last.pdckpt`` (model, optimizer, scheduler, epoch, best AP);
    without a checkpoint to resume from, ``cfg.model.pretrained`` / ``cfg.weights`` initialize
    the model. A folder that already holds a run is refused unless ``resume`` (continue it)
    or ``overwrite`` (its checkpoints are removed first, so no stale ``best.pdparams``
    survives). The folder is locked for the run (:class:`~simdr_lib.run_lock.RunLock`: a
    second ``simdr train`` of the same name is refused), temporary files a killed save left
    are removed, and a run that fails before it wrote anything leaves no folder behind.
    Every weights file is read (safely, see :mod:`simdr_lib.weights`) before anything is
    written, so a refused file leaves no trace. A non-finite loss stops the run with
    :class:`TrainingError`; the last checkpoint (written at the previous epoch end) is left
    untouched.

    On CPU, ``train.ranks`` (auto: one per core, :func:`simdr_lib.device.training_ranks`)
    above 1 runs the training as that many data-parallel ranks in their own processes
    (:func:`~simdr_lib.engine.rank_launch.train_in_ranks`, ``train.batch_size`` split across
    them); ``on_epoch_end`` still sees every epoch and the result holds the trained model.
    """
    from simdr_lib.engine.rank_launch import planned_ranks, train_in_ranks, watch_parent

    watch_parent()  # in a rank simdr started: stop when the starter is gone
    ranks = planned_ranks(cfg)
    if ranks > 1:
        return train_in_ranks(
            cfg,
            ranks,
            resume=resume,
            overwrite=overwrite,
            do_eval=do_eval,
            use_vdl=use_vdl,
            progress=progress,
            on_epoch_end=on_epoch_end,
        )
    run_dir = run_dir_for(cfg)
    if int(os.environ.get("PADDLE_TRAINER_ID", "0")) != 0:  # data-parallel ranks > 0 write nothing
        return _train(cfg, resume, do_eval, use_vdl, progress, on_epoch_end)
    existed = run_dir.exists()
    failed = False
    try:
        with RunLock(run_dir, "simdr train"):
            _prepare_run_dir(run_dir, resume, overwrite)
            return _train(cfg, resume, do_eval, use_vdl, progress, on_epoch_end)
    except BaseException:
        failed = True
        raise
    finally:
        left = {p.name for p in run_dir.iterdir()} if run_dir.is_dir() else set()
        if failed and not existed and left <= {"config.yml"}:
            shutil.rmtree(run_dir, ignore_errors=True)


def _prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a folder that is not a run; clear stale temporaries; refuse (or, with
    ``overwrite``, clear) an existing run."""
    foreign = foreign_entries(run_dir)
    if foreign:
        raise TrainingError(
            f"{run_dir}: holds files simdr did not write (first: {foreign[0]}); it is not a "
            "training run folder: choose another name (-o name=...) or train.save_dir"
        )
    stale = remove_stale_temporaries(run_dir)
    if stale:
        size = sum(n for _, n in stale) / 1e6
        print(f"removed {len(stale)} temporary file(s) ({size:.1f} MB) left by an interrupted save")
    existing = [n for n in RUN_OUTPUTS if (run_dir / n).exists()]
    checkpoints = [n for n in existing if n in CHECKPOINT_FILES]
    if not checkpoints or (resume and (run_dir / "last.pdckpt").is_file()):
        return
    if not overwrite:
        raise TrainingError(
            f"{run_dir}: already holds a run ({', '.join(checkpoints)}); pass --resume to "
            "continue it, --overwrite to start it over (its checkpoints are replaced), or "
            "choose another name (-o name=...)"
        )
    for name in existing:
        (run_dir / name).unlink()
    print(f"--overwrite: removed {', '.join(existing)} from {run_dir}")


def _train(
    cfg: Config,
    resume: bool,
    do_eval: bool,
    use_vdl: bool,
    progress: bool,
    on_epoch_end: Callable[[dict[str, float]], None] | None,
) -> TrainResult:
    """The training run itself (see :func:`train`; the run folder is prepared and locked)."""
    from tqdm.auto import tqdm

    run = build_run(cfg, resume, do_eval, use_vdl, progress)
    t_start = time.perf_counter()
    # one bar for the whole run (one notebook widget, not one per epoch)
    bar = tqdm(
        total=(cfg.train.epochs - run.start_epoch) * run.steps_per_epoch,
        unit="step",
        disable=not (progress and run.main),
        dynamic_ncols=True,
    )
    for epoch in range(run.start_epoch, cfg.train.epochs):
        row = _train_one_epoch(run, epoch, bar)
        if do_eval and ((epoch + 1) % cfg.train.eval_every == 0 or epoch + 1 == cfg.train.epochs):
            _evaluate(run, epoch, row, progress)
        run.history.append(row)
        if run.main:
            _save_epoch(run, epoch, row, progress)
        if on_epoch_end is not None:
            on_epoch_end(row)
    bar.close()
    return _finish(run, time.perf_counter() - t_start)


# ----------------------------------------------------------------------------- one epoch
def _train_one_epoch(run: TrainingRun, epoch: int, bar: Any) -> dict[str, float]:
    """Train one epoch; returns its log row (``AP`` NaN until evaluated)."""
    t = run.cfg.train
    run.dataset.set_epoch(epoch)
    run.sampler.set_epoch(epoch)
    run.train_model.train()
    losses: list[float] = []
    t_epoch = time.perf_counter()
    bar.set_description(f"epoch {epoch + 1}/{t.epochs}")
    for batch in run.loader:
        value = _train_step(run, batch, epoch)
        losses.append(value)
        run.images_seen += int(batch["image"].shape[0]) * run.world
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4g}", lr=f"{run.scheduler.get_lr():.2e}", refresh=False)
        if run.vdl is not None:
            run.vdl.add_scalar("train/loss", value, run.global_step)
    if run.world > 1:
        _broadcast_buffers(run.model)
    epoch_loss = _mean_over_ranks(float(np.mean(losses)) if losses else float("nan"), run.world)
    elapsed = time.perf_counter() - t_epoch
    batch = run.sampler.batch_size * run.world  # images per step over all ranks
    return {
        "epoch": epoch + 1,
        "step": run.global_step,
        "lr": float(run.scheduler.get_lr()),
        "loss": epoch_loss,
        "AP": float("nan"),
        "time_s": elapsed,
        "images_per_s": run.steps_per_epoch * batch / max(elapsed, 1e-9),
    }


def _train_step(run: TrainingRun, batch: dict[str, Any], epoch: int) -> float:
    """Forward, backward, NaN guard, optimizer and scheduler step; returns the loss value.

    The guard runs before the backward pass in one process, and after it in data-parallel
    runs (:mod:`simdr_lib.engine.finite_flag`): either way before any weight changes."""
    import paddle

    images = batch["image"]
    targets = {k: v for k, v in batch.items() if k != "image"}
    amp = paddle.amp.auto_cast() if run.scaler is not None else contextlib.nullcontext()
    with amp:
        outputs = run.train_model(images)
    flag = None
    if run.flagged is not None:  # data parallel: the NaN guard's flag comes out too
        outputs, flag = outputs
    if run.scaler is not None:
        outputs = tuple(o.astype("float32") for o in outputs)
    loss = run.criterion(outputs, targets)
    value = float(loss.numpy())
    if run.flagged is None:  # one process: stop before the backward pass
        _stop_unless_finite(value, True, epoch, run.global_step, run.ckpt_path)
    else:
        # every rank stops at the same step (a rank that stopped alone would leave the others
        # waiting in the gradient all-reduce): the flag travels in that all-reduce
        loss = run.flagged.flagged(loss, flag, math.isfinite(value))
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
    else:
        loss.backward()
    if run.flagged is not None:
        finite_everywhere = not run.flagged.any_not_finite()
        _stop_unless_finite(value, finite_everywhere, epoch, run.global_step, run.ckpt_path)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.optimizer.clear_grad()
    run.scheduler.step()
    run.global_step += 1
    return value


def _stop_unless_finite(
    value: float, finite_everywhere: bool, epoch: int, global_step: int, ckpt_path: Path
) -> None:
    """The NaN guard: a non-finite loss (on any rank) stops the run before it touches the
    weights.

    Raises:
        TrainingError: naming the epoch and step; the last checkpoint is left as it was.
    """
    if not (math.isfinite(value) and finite_everywhere):
        shown = value if not math.isfinite(value) else "not finite on another rank"
        raise TrainingError(
            f"loss is {shown} at epoch {epoch + 1} step {global_step + 1}; stopped, "
            f"last good checkpoint kept at {ckpt_path if ckpt_path.exists() else 'none'}"
            " (lower train.lr or set train.clip_grad_norm)"
        )


# ----------------------------------------------------------------------------- evaluate / save
def _evaluate(run: TrainingRun, epoch: int, row: dict[str, float], progress: bool) -> None:
    """Rank 0 evaluates into ``row["AP"]`` and keeps ``best.pdparams``; ranks wait for it."""
    import paddle.distributed as dist

    from simdr_lib.data.dataset_kinds import metric_key
    from simdr_lib.engine.model_eval import evaluate_model

    if run.main:
        result = evaluate_model(run.cfg, run.model, data=run.val_data, progress=progress)
        # the "AP" column holds the dataset's metric: COCO AP, or MPII PCKh@0.5 (percent)
        key = metric_key(run.cfg.data.dataset)
        row["AP"] = float(result.stats[key])
        if key != "AP":
            row[key] = row["AP"]
        if row["AP"] > run.best_ap:
            run.best_ap, run.best_epoch = row["AP"], epoch + 1
            atomic_paddle_save(run.model.state_dict(), run.run_dir / "best.pdparams")
    if run.world > 1:
        dist.barrier()


def _save_epoch(run: TrainingRun, epoch: int, row: dict[str, float], progress: bool) -> None:
    """Rank 0 at an epoch end: the checkpoint, the CSV log, VisualDL and a progress line."""
    from tqdm.auto import tqdm

    from simdr_lib.factory import arch_signature

    save_checkpoint(
        run.ckpt_path,
        model=run.model.state_dict(),
        optimizer=portable_optimizer_state(run.optimizer.state_dict(), run.model),
        scheduler=run.scheduler.state_dict(),
        scaler=run.scaler.state_dict() if run.scaler is not None else None,
        epoch=epoch + 1,
        global_step=run.global_step,
        best_ap=run.best_ap,
        best_epoch=run.best_epoch,
        history=run.history,
        config=run.cfg.to_dict(),
        arch=arch_signature(run.cfg),
    )
    write_log(run.run_dir / "train_log.csv", run.history)
    if run.vdl is not None and not math.isnan(row["AP"]):
        run.vdl.add_scalar("val/AP", row["AP"], epoch + 1)
    if progress:
        tqdm.write(epoch_line(row, run.cfg.train.epochs, run.cfg.data.dataset))


def epoch_line(row: dict[str, float], epochs: int, dataset: str) -> str:
    """The run log's line for a finished epoch (``epoch 3/60  loss 0.02613  AP 0.4603  (5.9s)``)."""
    from simdr_lib.data.dataset_kinds import metric_key

    value = row.get("AP", float("nan"))
    metric = "" if math.isnan(value) else f"  {metric_key(dataset)} {value:.4f}"
    head = f"epoch {int(row['epoch'])}/{epochs}  loss {row['loss']:.5f}"
    return f"{head}{metric}  ({row['time_s']:.1f}s)"


def _finish(run: TrainingRun, wall: float) -> TrainResult:
    """Final weights and ``train_summary.json`` (rank 0), then the run's summary."""
    import paddle

    final = None
    images_per_s = run.images_seen / max(wall, 1e-9)
    if run.main:
        final = atomic_paddle_save(run.model.state_dict(), run.run_dir / "model_final.pdparams")
        summary = {
            "epochs_done": len(run.history),
            "best_ap": run.best_ap,
            "best_epoch": run.best_epoch,
            "history": run.history,
            "wall_time_s": wall,
            "images_per_s": images_per_s,
            "device": run.device,
            "world_size": run.world,
            "ranks": run.world,
            "batch_per_rank": run.sampler.batch_size,
            "cpu_cores": run.cpu_cores,
            "cpu_threads": run.cpu_threads,
            "paddle_version": paddle.__version__,
        }
        write_json_atomic(run.run_dir / "train_summary.json", summary)
    if run.vdl is not None:
        run.vdl.close()
    return TrainResult(
        run_dir=run.run_dir,
        epochs_done=len(run.history),
        best_ap=run.best_ap,
        best_epoch=run.best_epoch,
        history=run.history,
        final_weights=final,
        wall_time_s=wall,
        images_per_s=images_per_s,
        model=run.model,
    )


def write_log(path: Path, history: list[dict[str, float]]) -> None:
    """Rewrite the CSV log from the history (atomic; consistent with the checkpoint)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(LOG_FIELDS)
    for row in history:
        writer.writerow([row.get(k, float("nan")) for k in LOG_FIELDS])
    write_text_atomic(path, buf.getvalue())


def _broadcast_buffers(model: Any) -> None:
    """Copy rank 0's BatchNorm running statistics to every rank (as DDP's broadcast_buffers).

    Gradients are all-reduced, so parameters agree; the BN statistics are computed on each
    rank's own shard and would otherwise drift apart.
    """
    import paddle.distributed as dist

    # Paddle keeps BN statistics as non-trainable parameters (stop_gradient), not buffers.
    frozen = [p for p in model.parameters() if p.stop_gradient]
    for tensor in [*frozen, *model.buffers()]:
        dist.broadcast(tensor, src=0)


def _mean_over_ranks(value: float, world: int) -> float:
    if world == 1:
        return value
    import paddle
    import paddle.distributed as dist

    t = paddle.to_tensor([value], dtype="float32")
    dist.all_reduce(t)
    return float(t.numpy()[0]) / world
