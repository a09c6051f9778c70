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
