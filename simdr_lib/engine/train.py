"""The training loop: Adam + warmup + step decay, AMP on GPU, atomic checkpoints, resume.

Read top to bottom: set-up (device, seed, data, model, optimizer), then one loop over epochs
that trains, optionally evaluates, and writes ``checkpoints/<run>/last.pdckpt`` atomically.
Data parallel runs come from ``python -m paddle.distributed.launch``: every rank runs this
same function, only rank 0 writes files, and the loss shown is averaged over ranks.
Determinism: the batch order and augmentation depend only on (seed, epoch, sample index),
so a resumed run replays exactly what an uninterrupted run would have done (on CPU).
"""

from __future__ import annotations

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
from simdr_lib.config import Config, save_config
from simdr_lib.engine.checkpoint import (
    CHECKPOINT_FILES,
    RUN_OUTPUTS,
    atomic_paddle_save,
    foreign_entries,
    portable_optimizer_state,
    restore_optimizer_state,
    save_checkpoint,
)
from simdr_lib.errors import CheckpointError, TrainingError
from simdr_lib.run_lock import RunLock
from simdr_lib.weights import (
    WeightsFile,
    load_model_weights,
    load_pretrained,
    read_checkpoint,
    read_weights,
)

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


def lr_factor(
    step: int,
    steps_per_epoch: int,
    lr_steps: tuple[int, ...],
    gamma: float,
    warmup: int,
    warmup_start: float,
) -> float:
    """LR multiplier at iteration ``step``: linear warmup, then ×gamma at each epoch milestone."""
    factor = gamma ** sum(step >= m * steps_per_epoch for m in lr_steps)
    if warmup > 0 and step < warmup:
        factor *= warmup_start + (1.0 - warmup_start) * step / warmup
    return factor


def run_dir_for(cfg: Config) -> Path:
    return Path(cfg.train.save_dir) / cfg.name


def _dist_info() -> tuple[int, int]:
    import paddle.distributed as dist

    try:
        return dist.get_rank(), dist.get_world_size()
    except Exception:  # not launched under paddle.distributed
        return 0, 1


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
    """
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
    import paddle
    import paddle.distributed as dist
    from tqdm.auto import tqdm

    from simdr_lib.data.splits import (
        EpochBatchSampler,
        ensure_dataset,
        load_split,
        make_dataset,
        make_loader,
    )
    from simdr_lib.device import set_device
    from simdr_lib.engine.validate import evaluate_model, require_val_people
    from simdr_lib.factory import (
        arch_signature,
        codec_from_config,
        loss_from_config,
        model_from_config,
    )

    world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    device = set_device(cfg.device)
    if world > 1:
        dist.init_parallel_env()
    rank, world = _dist_info()
    main = rank == 0
    run_dir = run_dir_for(cfg)
    ckpt_path = run_dir / "last.pdckpt"
    # ---- weights in, before anything is written: a refused or unfitting file leaves no trace
    ckpt = read_checkpoint(ckpt_path) if (resume and ckpt_path.exists()) else None
    if ckpt is not None and ckpt.get("arch") != arch_signature(cfg):
        raise CheckpointError(
            f"{ckpt_path}: checkpoint was trained with {ckpt.get('arch')}, "
            f"config asks for {arch_signature(cfg)}"
        )
    paddle.seed(cfg.train.seed)
    model = model_from_config(cfg)
    log = print if main else None
    for kind, wf in _read_init_files(cfg) if ckpt is None else []:
        if kind == "pretrained":
            load_pretrained(model, wf, cfg=cfg, log=log)
        else:
            load_model_weights(model, wf, cfg=cfg, log=log)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yml")

    # ---- data
    if main:
        ensure_dataset(cfg, progress=progress)
    if world > 1:
        dist.barrier()
    train_data = load_split(cfg, "train")
    if not train_data.records:
        raise TrainingError(f"{cfg.data.path('train_ann')}: no usable people to train on")
    codec = codec_from_config(cfg)
    dataset = make_dataset(cfg, train_data.records, codec, train=True)
    sampler = EpochBatchSampler(
        len(dataset),
        cfg.train.batch_size,
        shuffle=True,
        seed=cfg.train.seed,
        drop_last=True,
        rank=rank,
        world_size=world,
        max_batches=cfg.train.max_steps_per_epoch,
    )
    if len(sampler) == 0:
        sampler.drop_last = False
    loader = make_loader(dataset, sampler, cfg.data.num_workers)
    steps_per_epoch = len(sampler)
    # parsed once, not at every evaluation (the COCO val json plus an image check per epoch)
    val_data = load_split(cfg, "val") if (do_eval and main) else None
    if val_data is not None:
        require_val_people(val_data)  # before training, not at the first evaluation

    # ---- loss, optimizer
    criterion = loss_from_config(cfg)
    t = cfg.train
    scheduler = paddle.optimizer.lr.LambdaDecay(
        t.lr,
        lambda s: lr_factor(
            s, steps_per_epoch, t.lr_steps, t.lr_gamma, t.warmup_steps, t.warmup_start_factor
        ),
    )
    clip = paddle.nn.ClipGradByGlobalNorm(t.clip_grad_norm) if t.clip_grad_norm > 0 else None
    optimizer = paddle.optimizer.Adam(
        learning_rate=scheduler,
        parameters=model.parameters(),
        weight_decay=t.weight_decay or None,
        grad_clip=clip,
    )
    use_amp = t.amp and device.startswith("gpu")
    scaler = paddle.amp.GradScaler(init_loss_scaling=1024) if use_amp else None

    # ---- resume
    start_epoch, global_step, best_ap, best_epoch = 0, 0, -1.0, -1
    history: list[dict[str, float]] = []
    if ckpt is not None:
        model.set_state_dict(ckpt["model"])
        optimizer.set_state_dict(restore_optimizer_state(ckpt["optimizer"], model))
        scheduler.set_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch, global_step = int(ckpt["epoch"]), int(ckpt["global_step"])
        best_ap, best_epoch = float(ckpt["best_ap"]), int(ckpt["best_epoch"])
        history = list(ckpt.get("history", []))
        if main:
            print(f"resumed from {ckpt_path} at epoch {start_epoch}")
    elif resume and main:
        print(f"no checkpoint at {ckpt_path}; starting from scratch")

    train_model = paddle.DataParallel(model) if world > 1 else model
    vdl = _vdl_writer(run_dir) if (use_vdl and main) else None
    log_path = run_dir / "train_log.csv"

    t_start = time.perf_counter()
    images_seen = 0
    # one bar for the whole run (one notebook widget, not one per epoch)
    bar = tqdm(
        total=(t.epochs - start_epoch) * steps_per_epoch,
        unit="step",
        disable=not (progress and main),
        dynamic_ncols=True,
    )
    for epoch in range(start_epoch, t.epochs):
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        train_model.train()
        losses: list[float] = []
        t_epoch = time.perf_counter()
        bar.set_description(f"epoch {epoch + 1}/{t.epochs}")
        for batch in loader:
            images = batch["image"]
            targets = {k: v for k, v in batch.items() if k != "image"}
            if use_amp:
                with paddle.amp.auto_cast():
                    outputs = train_model(images)
                loss = criterion(tuple(o.astype("float32") for o in outputs), targets)
            else:
                loss = criterion(train_model(images), targets)
            value = float(loss.numpy())
            if not math.isfinite(value):
                raise TrainingError(
                    f"loss is {value} at epoch {epoch + 1} step {global_step + 1}; stopped, "
                    f"last good checkpoint kept at {ckpt_path if ckpt_path.exists() else 'none'}"
                    " (lower train.lr or set train.clip_grad_norm)"
                )
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            optimizer.clear_grad()
            scheduler.step()
            global_step += 1
            losses.append(value)
            images_seen += int(images.shape[0]) * world
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}", lr=f"{scheduler.get_lr():.2e}", refresh=False)
            if vdl is not None:
                vdl.add_scalar("train/loss", value, global_step)
        if world > 1:
            _broadcast_buffers(model)
        epoch_loss = _mean_over_ranks(float(np.mean(losses)) if losses else float("nan"), world)
        elapsed = time.perf_counter() - t_epoch
        row: dict[str, float] = {
            "epoch": epoch + 1,
            "step": global_step,
            "lr": float(scheduler.get_lr()),
            "loss": epoch_loss,
            "AP": float("nan"),
            "time_s": elapsed,
            "images_per_s": steps_per_epoch * t.batch_size * world / max(elapsed, 1e-9),
        }
        if do_eval and ((epoch + 1) % t.eval_every == 0 or epoch + 1 == t.epochs):
            if main:
                result = evaluate_model(cfg, model, data=val_data, progress=progress)
                row["AP"] = float(result.stats["AP"])
                if row["AP"] > best_ap:
                    best_ap, best_epoch = row["AP"], epoch + 1
                    atomic_paddle_save(model.state_dict(), run_dir / "best.pdparams")
            if world > 1:
                dist.barrier()
        history.append(row)
        if main:
            save_checkpoint(
                ckpt_path,
                model=model.state_dict(),
                optimizer=portable_optimizer_state(optimizer.state_dict(), model),
                scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict() if scaler is not None else None,
                epoch=epoch + 1,
                global_step=global_step,
                best_ap=best_ap,
                best_epoch=best_epoch,
                history=history,
                config=cfg.to_dict(),
                arch=arch_signature(cfg),
            )
            write_log(log_path, history)
            if vdl is not None and not math.isnan(row["AP"]):
                vdl.add_scalar("val/AP", row["AP"], epoch + 1)
            if progress:
                ap = "" if math.isnan(row["AP"]) else f"  AP {row['AP']:.4f}"
                tqdm.write(
                    f"epoch {epoch + 1}/{t.epochs}  loss {epoch_loss:.5f}{ap}  ({elapsed:.1f}s)"
                )
        if on_epoch_end is not None:
            on_epoch_end(row)

    bar.close()
    wall = time.perf_counter() - t_start
    final = None
    if main:
        final = atomic_paddle_save(model.state_dict(), run_dir / "model_final.pdparams")
        summary = {
            "epochs_done": len(history),
            "best_ap": best_ap,
            "best_epoch": best_epoch,
            "history": history,
            "wall_time_s": wall,
            "images_per_s": images_seen / max(wall, 1e-9),
            "device": device,
            "world_size": world,
            "paddle_version": paddle.__version__,
        }
        write_json_atomic(run_dir / "train_summary.json", summary)
    if vdl is not None:
        vdl.close()
    return TrainResult(
        run_dir=run_dir,
        epochs_done=len(history),
        best_ap=best_ap,
        best_epoch=best_epoch,
        history=history,
        final_weights=final,
        wall_time_s=wall,
        images_per_s=images_seen / max(wall, 1e-9),
        model=model,
    )


def _read_init_files(cfg: Config) -> list[tuple[str, WeightsFile]]:
    """``("pretrained" | "weights", file)`` for the initial weights the config names."""
    files = []
    if cfg.model.pretrained:
        files.append(("pretrained", read_weights(cfg.model.pretrained, "pretrained weights")))
    if cfg.weights:
        files.append(("weights", read_weights(cfg.weights, "weights file")))
    return files


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


def _vdl_writer(run_dir: Path) -> Any:
    try:
        from visualdl import LogWriter
    except ImportError:
        print("visualdl is not installed (pip install visualdl); logging to CSV only")
        return None
    return LogWriter(logdir=str(run_dir / "vdl"))
