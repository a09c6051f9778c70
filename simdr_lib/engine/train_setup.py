"""Building a training run: devices and ranks, the model and its first weights, the data, the
optimizer and schedule, and the state a resumed run continues from.

:func:`build_run` does it in a fixed order that is part of the behaviour (exact resume and
data-parallel agreement depend on it): the seed is set right before the model is built, every
weights file is read before anything is written, and only rank 0 writes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simdr_lib.config import Config, save_config
from simdr_lib.engine.checkpoint import restore_optimizer_state
from simdr_lib.errors import CheckpointError, TrainingError
from simdr_lib.weights import (
    WeightsFile,
    load_model_weights,
    load_pretrained,
    read_checkpoint,
    read_weights,
)

if TYPE_CHECKING:
    from simdr_lib.data.coco import CocoKeypoints
    from simdr_lib.data.dataset import TopDownDataset
    from simdr_lib.data.loaders import DataLoader, EpochBatchSampler
    from simdr_lib.models.builder import PoseModel


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
    """``<train.save_dir>/<name>``: the run's folder."""
    return Path(cfg.train.save_dir) / cfg.name


def _dist_info() -> tuple[int, int]:
    import paddle.distributed as dist

    try:
        return dist.get_rank(), dist.get_world_size()
    except Exception:  # not launched under paddle.distributed
        return 0, 1


@dataclass
class TrainingRun:
    """Everything one training run holds, built by :func:`build_run` and advanced by the loop
    of :func:`simdr_lib.engine.train.train` (``start_epoch`` .. ``history`` are its counters)."""

    cfg: Config
    device: str
    rank: int
    world: int
    run_dir: Path
    model: PoseModel  # the dygraph model (what is saved)
    train_model: Any  # the model, wrapped in paddle.DataParallel when world > 1
    dataset: TopDownDataset
    sampler: EpochBatchSampler  # this rank's batches
    loader: DataLoader
    val_data: CocoKeypoints | None  # the val split (rank 0 with evaluation only)
    criterion: Callable[..., Any]  # loss(outputs, targets) -> scalar Tensor
    optimizer: Any  # paddle.optimizer.Adam
    scheduler: Any  # paddle.optimizer.lr.LambdaDecay, stepped per iteration
    scaler: Any  # paddle.amp.GradScaler with AMP on GPU, else None
    vdl: Any  # VisualDL LogWriter or None
    start_epoch: int = 0
    global_step: int = 0
    best_ap: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)
    images_seen: int = 0
    cpu_cores: int = 0  # cores the process may use (CPU runs; 0 on GPU)
    cpu_threads: int = 0  # intra-op threads per rank (CPU runs; 0 on GPU)
    # data-parallel runs: the model with the NaN guard's flag (train_model wraps it), else None
    flagged: Any = None

    @property
    def main(self) -> bool:
        """Rank 0, the only rank that writes files."""
        return self.rank == 0

    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "last.pdckpt"

    @property
    def steps_per_epoch(self) -> int:
        return len(self.sampler)


def build_run(
    cfg: Config, resume: bool, do_eval: bool, use_vdl: bool, progress: bool
) -> TrainingRun:
    """Device and ranks, weights in, data, optimizer, then the checkpoint's state (resume).

    The order is part of the behaviour: the seed is set right before the model is built, and
    every weights file is read before anything is written.
    """
    from simdr_lib.factory import loss_from_config  # looked up per run (tests replace it)

    device, rank, world = _init_devices(cfg)
    cores, threads = _init_cpu_threads(cfg, device, world)
    main = rank == 0
    if main:
        print(describe_parallelism(device, world, cores, threads))
    run_dir = run_dir_for(cfg)
    ckpt = _read_resume_checkpoint(cfg, run_dir / "last.pdckpt") if resume else None
    model = _build_model(cfg, ckpt, log=print if main else None)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yml")
    dataset, sampler, loader, val_data = _build_data(cfg, rank, world, do_eval, progress)
    criterion = loss_from_config(cfg)
    optimizer, scheduler, scaler = _build_optimizer(cfg, model, len(sampler), device)
    run = TrainingRun(
        cfg=cfg,
        device=device,
        rank=rank,
        world=world,
        run_dir=run_dir,
        model=model,
        train_model=model,
        dataset=dataset,
        sampler=sampler,
        loader=loader,
        val_data=val_data,
        criterion=criterion,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        vdl=None,
        cpu_cores=cores,
        cpu_threads=threads,
    )
    if ckpt is not None:
        _restore(run, ckpt)
    elif resume and main:
        print(f"no checkpoint at {run.ckpt_path}; starting from scratch")
    if world > 1:
        from simdr_lib.engine.finite_flag import FlaggedModel

        run.flagged = FlaggedModel(model)
        run.train_model = _data_parallel(run.flagged, device)
    run.vdl = _vdl_writer(run_dir) if (use_vdl and main) else None
    return run


def _init_devices(cfg: Config) -> tuple[str, int, int]:
    """Select the device and join the data-parallel group: ``(device, rank, world_size)``."""
    import paddle.distributed as dist

    from simdr_lib.device import set_device

    world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    device = set_device(cfg.device)
    if world > 1:
        dist.init_parallel_env()
    rank, world = _dist_info()
    return device, rank, world


def _init_cpu_threads(cfg: Config, device: str, world: int) -> tuple[int, int]:
    """On CPU, set this rank's intra-op threads: ``(cores, threads)``; ``(0, 0)`` on a GPU."""
    from simdr_lib.device import available_cores, set_cpu_threads, training_cpu_threads

    if device != "cpu":
        return 0, 0
    cores = available_cores()
    threads = training_cpu_threads(cfg.train.cpu_threads, cfg.model.backbone, world, cores)
    set_cpu_threads(threads)
    return cores, threads


def describe_parallelism(device: str, ranks: int, cores: int, threads: int) -> str:
    """The run log's line on what runs in parallel (``cpu: 2 cores, 1 rank x 2 threads``)."""
    if device != "cpu":
        return f"training on {device}: {ranks} rank(s)"
    return (
        f"training on cpu: {cores} core(s), {ranks} rank(s) x {threads} intra-op thread(s) "
        "(train.ranks, train.cpu_threads)"
    )


def _read_resume_checkpoint(cfg: Config, ckpt_path: Path) -> dict[str, Any] | None:
    """The run's ``last.pdckpt`` if there is one; refused if it is another architecture."""
    from simdr_lib.factory import arch_signature

    if not ckpt_path.exists():
        return None
    ckpt = read_checkpoint(ckpt_path)
    if ckpt.get("arch") != arch_signature(cfg):
        raise CheckpointError(
            f"{ckpt_path}: checkpoint was trained with {ckpt.get('arch')}, "
            f"config asks for {arch_signature(cfg)}"
        )
    return ckpt


def _build_model(
    cfg: Config, ckpt: dict[str, Any] | None, log: Callable[[str], None] | None
) -> PoseModel:
    """Seeded model; without a checkpoint to resume, initialized from the config's files."""
    import paddle

    from simdr_lib.factory import model_from_config

    paddle.seed(cfg.train.seed)
    model = model_from_config(cfg)
    for kind, wf in _read_init_files(cfg) if ckpt is None else []:
        if kind == "pretrained":
            load_pretrained(model, wf, cfg=cfg, log=log)
        else:
            load_model_weights(model, wf, cfg=cfg, log=log)
    return model


def _build_data(
    cfg: Config, rank: int, world: int, do_eval: bool, progress: bool
) -> tuple[TopDownDataset, EpochBatchSampler, DataLoader, CocoKeypoints | None]:
    """``(dataset, sampler, loader, val_data)``: this rank's shard of the training split and,
    on rank 0 with evaluation, the val split (parsed once, checked before training starts)."""
    import paddle.distributed as dist

    from simdr_lib.data.loaders import (
        EpochBatchSampler,
        ensure_dataset,
        load_split,
        make_dataset,
        make_loader,
    )
    from simdr_lib.engine.model_eval import require_val_people
    from simdr_lib.factory import codec_from_config

    main = rank == 0
    if main:
        ensure_dataset(cfg, progress=progress)
    if world > 1:
        dist.barrier()
    train_data = load_split(cfg, "train")
    if not train_data.records:
        raise TrainingError(f"{cfg.data.path('train_ann')}: no usable people to train on")
    dataset = make_dataset(cfg, train_data.records, codec_from_config(cfg), train=True)
    sampler = EpochBatchSampler(
        len(dataset),
        rank_batch_size(cfg, world),
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
    # parsed once, not at every evaluation (the COCO val json plus an image check per epoch)
    val_data = load_split(cfg, "val") if (do_eval and main) else None
    if val_data is not None:
        require_val_people(val_data)  # before training, not at the first evaluation
    return dataset, sampler, loader, val_data


def _data_parallel(model: Any, device: str) -> Any:
    """``model`` (a :class:`~simdr_lib.engine.finite_flag.FlaggedModel`) in
    ``paddle.DataParallel``. On CPU (gloo) the whole gradient goes in one
    all-reduce bucket: gloo's all-reduce runs in the backward pass's own thread, so buckets
    overlap nothing and each one is a point where a rank waits for the other. One bucket
    instead of Paddle's default (25 MB, and the last 1 MB apart) gave demo_tiny 2 ranks
    +1-18% images/s, +10% in the median of 5 alternating runs (benchmarks/train_speed.py r2,
    2-core EPYC, 2026-12-04); HRNet-W32 (125 MB) showed no difference beyond noise. On GPUs
    Paddle's buckets stay: NCCL overlaps them with the backward pass."""
    import paddle

    if device != "cpu":
        return paddle.DataParallel(model)
    mb = one_bucket_mb(model)
    return paddle.DataParallel(model, comm_buffer_size=mb, last_comm_buffer_size=mb)


def one_bucket_mb(model: Any) -> int:
    """Whole MB (2**20 bytes) above the size of all of ``model``'s parameters: a
    ``paddle.DataParallel`` bucket limit that holds the whole gradient."""
    size = sum(math.prod(p.shape) * p.element_size() for p in model.parameters())
    return size // 2**20 + 1


def rank_batch_size(cfg: Config, world: int) -> int:
    """Images per rank and step: ``train.batch_size`` split across the ranks simdr started
    (``train.ranks`` equals the world size), else per process (a ``paddle.distributed.launch``
    of your own, PaddleDetection's convention: batch size per card)."""
    if world > 1 and cfg.train.ranks == world:
        return cfg.train.batch_size // world
    return cfg.train.batch_size


def _build_optimizer(
    cfg: Config, model: PoseModel, steps_per_epoch: int, device: str
) -> tuple[Any, Any, Any]:
    """``(optimizer, scheduler, scaler)``: Adam with warmup + step decay per iteration,
    optional global-norm clipping, and a GradScaler when AMP runs (GPU only)."""
    import paddle

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
    return optimizer, scheduler, scaler


def _restore(run: TrainingRun, ckpt: dict[str, Any]) -> None:
    """Resume: model, optimizer, scheduler, scaler and the loop's counters from ``ckpt``."""
    run.model.set_state_dict(ckpt["model"])
    run.optimizer.set_state_dict(restore_optimizer_state(ckpt["optimizer"], run.model))
    run.scheduler.set_state_dict(ckpt["scheduler"])
    if run.scaler is not None and ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    run.start_epoch, run.global_step = int(ckpt["epoch"]), int(ckpt["global_step"])
    run.best_ap, run.best_epoch = float(ckpt["best_ap"]), int(ckpt["best_epoch"])
    run.history = list(ckpt.get("history", []))
    if run.main:
        print(f"resumed from {run.ckpt_path} at epoch {run.start_epoch}")


def _read_init_files(cfg: Config) -> list[tuple[str, WeightsFile]]:
    """``("pretrained" | "weights", file)`` for the initial weights the config names."""
    files = []
    if cfg.model.pretrained:
        files.append(("pretrained", read_weights(cfg.model.pretrained, "pretrained weights")))
    if cfg.weights:
        files.append(("weights", read_weights(cfg.weights, "weights file")))
    return files


def _vdl_writer(run_dir: Path) -> Any:
    try:
        from visualdl import LogWriter
    except ImportError:
        print("visualdl is not installed (pip install visualdl); logging to CSV only")
        return None
    return LogWriter(logdir=str(run_dir / "vdl"))
