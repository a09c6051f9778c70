"""Device selection: ``auto`` picks the GPU when this Paddle build has CUDA and sees a GPU."""

from __future__ import annotations

from simdr_lib.errors import ConfigError


def resolve_device(name: str) -> str:
    """Paddle device string for ``auto|cpu|gpu|gpu:N``; ConfigError if the GPU is not there."""
    import paddle

    has_cuda = paddle.device.is_compiled_with_cuda()
    n_gpu = paddle.device.cuda.device_count() if has_cuda else 0
    if name == "auto":
        return "gpu" if n_gpu > 0 else "cpu"
    if name.startswith("gpu"):
        if not has_cuda:
            raise ConfigError(
                f"device={name}: this is the CPU build of PaddlePaddle "
                "(install paddlepaddle-gpu, see README.md) or use device=cpu"
            )
        if n_gpu == 0:
            raise ConfigError(f"device={name}: no GPU visible (check CUDA_VISIBLE_DEVICES)")
        if ":" in name and int(name.split(":")[1]) >= n_gpu:
            raise ConfigError(f"device={name}: only {n_gpu} GPU(s) visible")
    return name


def set_device(name: str) -> str:
    """Resolve and activate the device; returns the Paddle device string in use."""
    import paddle

    dev = resolve_device(name)
    paddle.set_device(dev)
    return dev


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask when the OS reports one)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


#: backbones whose training step is measured slower with more than one intra-op thread
#: (demo_tiny's 64x48 step on 2 cores: 253 images/s with 1 thread, 203 with 2; the layers are
#: too small to split, see benchmarks/train_speed.py)
SINGLE_THREAD_BACKBONES = ("tiny",)


#: up to this many cores per rank, auto gives a rank one intra-op thread: on 2 cores a second
#: thread was never worth it (benchmarks/train_speed.py, model step, 1 rank: HRNet-W32 256x192
#: 1.03-1.13x on a Xeon, 0.47-0.52x on an AMD EPYC VM; demo_tiny 0.80-1.13x and 0.50-0.60x)
ONE_THREAD_UP_TO_CORES = 2


def training_cpu_threads(requested: int, backbone: str, ranks: int, cores: int) -> int:
    """Intra-op threads per training rank on CPU.

    ``requested`` > 0 is used as given; 0 (auto) is 1 thread for the
    :data:`SINGLE_THREAD_BACKBONES` and whenever a rank's share of the ``cores`` is at most
    :data:`ONE_THREAD_UP_TO_CORES`, else that share (``cores // ranks``; machines with more
    than 2 cores per rank are not measured). More cores are used through ranks
    (:func:`training_ranks`).
    """
    if requested > 0:
        return requested
    share = max(1, cores // max(1, ranks))
    if backbone in SINGLE_THREAD_BACKBONES or share <= ONE_THREAD_UP_TO_CORES:
        return 1
    return share


#: auto ranks keep at least this many images of train.batch_size on each rank (BatchNorm
#: statistics are per rank)
MIN_IMAGES_PER_RANK = 8


def training_ranks(requested: int, device: str, cores: int, batch_size: int) -> int:
    """Data-parallel ranks simdr starts for a training run (``train.ranks``).

    ``requested`` > 0 is used as given. 0 (auto) is 1 on a GPU (multi-GPU runs are started
    with ``python -m paddle.distributed.launch --gpus ...``) and on CPU one rank per core, as
    long as every rank keeps :data:`MIN_IMAGES_PER_RANK` images of ``batch_size`` and the
    ranks divide it evenly (``train.batch_size`` is split across them). Measured on 2 cores
    (benchmarks/train_speed.py, over several runs): 2 ranks x 1 thread 1.14-1.82x images/s
    of 1 rank for demo_tiny (1.82x since the gradient goes in one all-reduce bucket and the
    NaN guard rides in it), 1.47-1.83x for HRNet-W32 256x192, while a second thread in one
    rank was 0.4-1.1x.
    """
    if requested > 0:
        return requested
    if device != "cpu":
        return 1
    ranks = max(1, min(cores, batch_size // MIN_IMAGES_PER_RANK))
    while batch_size % ranks:
        ranks -= 1
    return ranks


def set_cpu_threads(n: int) -> None:
    """Let Paddle's CPU kernels (OpenMP / MKL / oneDNN) use ``n`` threads in this process.

    A process-wide setting of the math libraries; it stays until set again.
    """
    import paddle

    paddle.base.core.set_num_threads(int(n))
