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


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""


def benchmark_machine() -> dict[str, object]:
    """What a benchmark table is measured on: CPU model, cores, versions, OS, load average."""
    import paddle

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "paddle": paddle.__version__,
        "numpy": np.__version__,
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }
