"""Runtimes behind one :class:`Runner` protocol: Paddle Inference, onnxruntime, dygraph.

A runner maps a float32 batch ``(N, 3, H, W)`` of normalized crops to the probability model's
outputs as float32 arrays: ``(x (N, K, W*k), y (N, K, H*k))`` for SimDR / SA-SimDR, ``(hm
(N, K, h, w),)`` for heatmaps. :class:`~simdr_lib.deploy.predictor.Predictor` batches crops,
decodes and maps back to the image whatever the runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from simdr_lib.deploy.layout import INFER_CFG, file_error, first_line
from simdr_lib.errors import ExportError

# Paddle Inference (PIR) passes removed when oneDNN fails on a model (see PaddleRunner).
_ONEDNN_FALLBACK_DELETE = ("onednn_placement_pass",)


@runtime_checkable
class Runner(Protocol):
    """What a :class:`~simdr_lib.deploy.predictor.Predictor` needs of a runtime."""

    def input_shape(self) -> list[int]:
        """The model's input ``[N, C, H, W]``; ``-1`` (or ``0``) for a dynamic axis."""
        ...

    def run(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """The model's outputs for a float32 batch ``x (N, 3, H, W)``."""
        ...

    def describe(self) -> str:
        """One line naming the runtime, its version and device (``onnxruntime 1.20 cpu``)."""
        ...


class InputMismatch(Exception):
    """The static model's input (N, C, H, W) differs from infer_cfg.yml's input_size."""

    def __init__(self, shape: list[int]) -> None:
        super().__init__(str(shape))
        self.shape = shape


class PaddleRunner:
    """Paddle Inference predictor over an exported program.

    On CPU with ``use_mkldnn`` the full oneDNN pipeline is tried first; when the model's first
    run fails with it, a reduced oneDNN pipeline and then plain CPU kernels are tried
    (``variant`` says which one runs).
    """

    def __init__(
        self,
        model_path: Path,
        params_path: Path,
        device: str,
        cpu_threads: int,
        use_mkldnn: bool,
        sample: np.ndarray,
    ) -> None:
        self.model_path = model_path
        self.params_path = params_path
        self.device = device
        self.cpu_threads = cpu_threads
        errors: list[str] = []
        variants = ["onednn", "onednn-fallback", "plain"] if use_mkldnn else ["plain"]
        if device != "cpu":
            variants = ["gpu"]
        for variant in variants:
            try:
                self._build(variant)
            except Exception as exc:
                errors.append(f"{variant}: {type(exc).__name__}: {first_line(exc)}")
                continue
            shape = self.input_shape()  # [0] in Paddle 3 before the first reshape
            if len(shape) == 4 and shape[2] > 0 and shape[2:] != list(sample.shape[2:]):
                raise InputMismatch(shape)
            try:
                self.run(sample)  # oneDNN problems show at the first run, not at creation
                self.variant = variant
                return
            except Exception as exc:  # Paddle raises many types (NotImplementedError, ...)
                errors.append(f"{variant}: {type(exc).__name__}: {first_line(exc)}")
        h, w = sample.shape[2:]
        raise ExportError(
            f"{model_path}: Paddle Inference cannot run this model on input [N, 3, {h}, {w}] "
            f"(input_size of {INFER_CFG}) ({'; '.join(errors)})"
        )

    def _build(self, variant: str) -> None:
        from paddle import inference as pi

        config = pi.Config(str(self.model_path), str(self.params_path))
        pir = self.model_path.suffix == ".json"
        if variant == "gpu":
            dev_id = int(self.device.split(":")[1]) if ":" in self.device else 0
            config.enable_use_gpu(256, dev_id)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(int(self.cpu_threads))
            if variant.startswith("onednn"):
                config.enable_mkldnn()
                config.set_mkldnn_cache_capacity(16)  # bounded cache over input shapes
                if variant == "onednn-fallback":
                    # PaddlePaddle 3.3 (PIR) oneDNN kernels reject the nearest-interpolate
                    # attribute of our backbones (ConvertPirAttribute2RuntimeAttribute,
                    # ArrayAttribute<DoubleAttribute>); without the placement pass the
                    # oneDNN fusions still run and the interpolate stays a plain CPU op.
                    for name in _ONEDNN_FALLBACK_DELETE:
                        config.delete_pass(name)
            else:
                config.disable_mkldnn()
        config.switch_ir_optim(True)
        if not pir:  # memory_optimize_pass is not registered for PIR programs in 3.x
            config.enable_memory_optim()
        config.disable_glog_info()
        self.predictor = pi.create_predictor(config)
        self.input_name = self.predictor.get_input_names()[0]
        self.output_names = list(self.predictor.get_output_names())
        self.input_handle = self.predictor.get_input_handle(self.input_name)
        self.output_handles = [self.predictor.get_output_handle(n) for n in self.output_names]

    def input_shape(self) -> list[int]:
        return [int(v) for v in self.input_handle.shape()]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.input_handle.reshape(list(x.shape))
        self.input_handle.copy_from_cpu(x)
        self.predictor.run()
        return tuple(h.copy_to_cpu() for h in self.output_handles)

    def describe(self) -> str:
        import paddle

        where = self.device if self.variant == "gpu" else f"cpu threads={self.cpu_threads}"
        return f"paddle-inference {paddle.__version__} {where} {self.variant}"


def paddle_runner(
    model_path: Path,
    params_path: Path,
    device: str,
    threads: int,
    use_mkldnn: bool,
    sample: np.ndarray,
) -> PaddleRunner:
    """A :class:`PaddleRunner`, or one ExportError line when PaddlePaddle is not installed."""
    try:
        import paddle.inference  # noqa: F401
    except ImportError:
        raise ExportError("PaddlePaddle is not installed (pip install -e '.[cpu]')") from None
    return PaddleRunner(model_path, params_path, device, threads, use_mkldnn, sample)


class OnnxRunner:
    """onnxruntime session over an exported ``model.onnx`` (CPU, or CUDA when installed)."""

    def __init__(self, onnx_path: Path, device: str, cpu_threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError(
                "onnxruntime is not installed: pip install onnxruntime (or pip install -e "
                "'.[onnx]'), or use --backend paddle"
            ) from None
        self.ort = ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(cpu_threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(onnx_path), opts, providers=_onnx_providers(ort, device)
            )
        except ExportError:
            raise
        except Exception as exc:
            raise file_error(onnx_path, f"onnxruntime cannot load it ({first_line(exc)})") from None
        self.device = device
        self.cpu_threads = cpu_threads
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def input_shape(self) -> list[int]:
        return [v if isinstance(v, int) else -1 for v in self.session.get_inputs()[0].shape]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return tuple(self.session.run(self.output_names, {self.input_name: x}))

    def describe(self) -> str:
        where = self.device if self.device != "cpu" else f"cpu threads={self.cpu_threads}"
        return f"onnxruntime {self.ort.__version__} {where}"


def _onnx_providers(ort: Any, device: str) -> list:
    """onnxruntime execution providers for ``device`` (``cpu``, ``gpu`` or ``gpu:N``)."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ExportError(
            f"device={device}: this onnxruntime has no CUDA provider "
            "(install onnxruntime-gpu) or use device=cpu"
        )
    dev_id = int(device.split(":")[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": dev_id}), "CPUExecutionProvider"]


class DynamicRunner:
    """The dygraph probability model (no export needed)."""

    def __init__(self, prob_model: Any, input_size: tuple[int, int], device: str) -> None:
        from simdr_lib.engine.predict import dynamic_prob_fn

        self.fn = dynamic_prob_fn(prob_model)
        self.input_size = input_size
        self.device = device

    def input_shape(self) -> list[int]:
        return [-1, 3, self.input_size[1], self.input_size[0]]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.fn(np.ascontiguousarray(x, dtype=np.float32)))

    def describe(self) -> str:
        import paddle

        return f"paddle {paddle.__version__} dygraph {self.device}"
