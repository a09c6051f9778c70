"""What the run ran on: Python / PaddlePaddle / library versions, device, CPU count, OS."""

from __future__ import annotations

import os
import platform
import sys
from typing import Union

import numpy as np

EnvValue = Union[str, int, bool, None]


def environment_info(device: str = "auto") -> dict[str, EnvValue]:
    """Python / PaddlePaddle / numpy versions, the resolved device, CPU count and OS."""
    info: dict[str, EnvValue] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "device_requested": device,
    }
    try:
        import paddle

        from simdr_lib.device import resolve_device

        info["paddle"] = paddle.__version__
        info["paddle_cuda"] = bool(paddle.device.is_compiled_with_cuda())
        info["device"] = resolve_device(device)
    except ImportError:
        info["paddle"] = "not installed"
        info["device"] = device
    for mod in ("cv2", "pycocotools", "matplotlib", "papermill"):
        try:
            module = __import__(mod)
            info[mod] = getattr(module, "__version__", "installed")
        except ImportError:
            info[mod] = "not installed"
    return info
