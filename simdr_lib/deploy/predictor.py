"""``Predictor``: an exported (or dynamic) model with the evaluation's pre- and post-processing.

:func:`load_predictor` validates an export folder (missing files, a missing, malformed or
mismatched ``infer_cfg.yml``: one-line :class:`ExportError` naming the file) and returns a
:class:`Predictor` whose crop and RGB normalization are the evaluation's
(:mod:`simdr_lib.data.transforms`), as are the flip test and decode
(:func:`~simdr_lib.engine.predict.predict_crops`) and the inverse affine.
:func:`predictor_from_config` puts the dygraph model behind the same interface.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.deploy.infer_config import (
    InferConfig,
    codec_from_infer_config,
    expected_output_shapes,
    infer_config_from_cfg,
    read_infer_config,
)
from simdr_lib.deploy.layout import (
    INFER_CFG,
    LEGACY_MODEL,
    ONNX_MODEL,
    PIR_MODEL,
    file_error,
    first_line,
    paddle_major,
)
from simdr_lib.deploy.runners import (
    DynamicRunner,
    InputMismatch,
    OnnxRunner,
    Runner,
    paddle_runner,
)
from simdr_lib.device import available_cores
from simdr_lib.errors import ExportError

BACKENDS = ("auto", "paddle", "onnx")


class Predictor:
    """An exported model ready to run (Paddle Inference, onnxruntime or the dygraph model).

    Attributes:
        info: the validated :class:`InferConfig`. codec: its codec.
        runner: the runtime (:class:`~simdr_lib.deploy.runners.Runner`).
        batch_size: most crops per backend run; larger inputs are split.
        runs: number of backend runs so far (each is one batch).
    """

    def __init__(self, model_dir: Path, info: InferConfig, runner: Runner, batch_size: int) -> None:
        self.model_dir = model_dir
        self.info = info
        self.codec = codec_from_infer_config(info, model_dir / INFER_CFG)
        self.runner = runner
        self.batch_size = max(1, int(batch_size))
        self.runs = 0

    @property
    def input_size(self) -> tuple[int, int]:
        return self.info.input_size

    @property
    def backend(self) -> str:
        return self.runner.describe()

    def predict_crops(self, images: np.ndarray) -> tuple[np.ndarray, ...]:
        """Distributions for crops ``(N, 3, H, W)`` float32 (normalized): the prob tuple.

        SimDR: ``(x (N, K, W*k), y (N, K, H*k))`` softmax outputs; heatmap: ``(hm,)``.
        Usable directly as the ``prob_fn`` of :func:`simdr_lib.engine.predict.predict_crops`.
        """
        x = np.asarray(images, dtype=np.float32)
        w, h = self.input_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, h, w):
            raise ValueError(f"crops must be (N, 3, {h}, {w}) float32, got {x.shape}")
        if x.shape[0] == 0:
            shapes = expected_output_shapes(self.info)
            return tuple(np.zeros((0, *s), dtype=np.float32) for s in shapes)
        parts = []
        for start in range(0, x.shape[0], self.batch_size):
            self.runs += 1
            parts.append(self.runner.run(x[start : start + self.batch_size]))
        if len(parts) == 1:
            return tuple(np.asarray(p, dtype=np.float32) for p in parts[0])
        return tuple(np.concatenate(ps).astype(np.float32, copy=False) for ps in zip(*parts))

    __call__ = predict_crops

    def decode_crops(
        self, images: np.ndarray, flip_test: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """Keypoints ``(N, K, 2)`` crop px, scores ``(N, K)`` and probs (evaluation's path)."""
        from simdr_lib.engine.predict import predict_crops

        flip = self.info.flip_test if flip_test is None else flip_test
        return predict_crops(self.predict_crops, images, self.codec, flip, self.info.flip_pairs)

    def prepare_crops(
        self, image_rgb: np.ndarray, boxes_xywh: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Affine crops of the people of one image.

        Returns ``(crops (N, 3, H, W) float32 normalized, centers (N, 2), scales (N, 2))``.
        ``boxes_xywh`` None or empty means one box over the whole image.
        """
        return crop_people(
            image_rgb,
            boxes_xywh,
            self.input_size,
            self.info.mean,
            self.info.std,
            self.info.padding,
            self.info.pixel_std,
        )

    def predict_image(
        self,
        image_rgb: np.ndarray,
        boxes_xywh: np.ndarray | Sequence[Sequence[float]] | None = None,
        flip_test: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-down keypoints of all people of one image, in one batch.

        Args:
            image_rgb: (H, W, 3) uint8 RGB (grayscale (H, W) and RGBA are accepted).
            boxes_xywh: (N, 4) person boxes ``[x, y, w, h]`` px; None / empty = whole image.
            flip_test: None uses ``infer_cfg.yml``'s ``postprocess.flip_test``.

        Returns:
            ``(keypoints_img (N, K, 2) float64 image px, scores (N, K) float32 in [0, 1])``.
        """
        from simdr_lib.data.transforms import crop_to_image

        crops, centers, scales = self.prepare_crops(image_rgb, boxes_xywh)
        kps, scores, _ = self.decode_crops(crops, flip_test)
        kps_img = crop_to_image(
            kps, centers, scales, self.input_size, pixel_std=self.info.pixel_std
        )
        return kps_img, scores


def crop_people(
    image_rgb: np.ndarray,
    boxes_xywh: np.ndarray | Sequence[Sequence[float]] | None,
    input_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    padding: float = 1.25,
    pixel_std: float = 200.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation's crop for every box of one image (no rotation, box padded to the aspect).

    Returns ``(crops (N, 3, H, W) float32, centers (N, 2), scales (N, 2))``.
    """
    from simdr_lib.data import transforms as T
    from simdr_lib.data.images import to_rgb_uint8

    image = to_rgb_uint8(np.asarray(image_rgb), "image array", channel_order="RGB")
    h_img, w_img = image.shape[:2]
    boxes = np.zeros((0, 4)) if boxes_xywh is None else np.asarray(boxes_xywh, np.float64)
    boxes = boxes.reshape(-1, 4)
    if boxes.shape[0] == 0:
        boxes = np.array([[0.0, 0.0, float(w_img), float(h_img)]])
    size = (int(input_size[0]), int(input_size[1]))
    centers, scales = T.box_to_center_scale(boxes, size[0] / size[1], padding, pixel_std)
    mats = T.affine_matrices(centers, scales, 0.0, size, pixel_std)
    crops = np.stack(
        [T.normalize_image(T.warp_image(image, m, size), mean, std) for m in mats]
    ).astype(np.float32, copy=False)
    return crops, centers, scales


def load_predictor(
    model_dir: str | os.PathLike,
    device: str = "cpu",
    batch_size: int = 32,
    cpu_threads: int | None = None,
    use_mkldnn: bool = True,
    backend: str = "auto",
) -> Predictor:
    """Validate an exported folder and create its predictor.

    Args:
        model_dir: folder written by :func:`~simdr_lib.deploy.export.export_model`.
        device: ``cpu``, ``gpu`` or ``gpu:N``.
        batch_size: most crops per run (a whole image's people are one run up to this).
        cpu_threads: CPU threads. Default: all cores the process may use, for both runtimes
            (HRNet-W32 256x192, batch 8, 2 cores: Paddle Inference with oneDNN 5.9 images/s
            on 1 thread, 10.0 on 2; benchmarks/deploy_speed.py).
        use_mkldnn: oneDNN on CPU (Paddle backend); when the model's first run fails with it,
            a reduced oneDNN pipeline and then plain CPU kernels are tried.
        backend: ``paddle`` (Paddle Inference), ``onnx`` (onnxruntime) or ``auto``: the
            fastest measured (:func:`choose_backend`: onnxruntime when it is installed and
            the folder holds the ONNX model, else Paddle Inference).

    Raises:
        ExportError: missing folder / model / params / onnx file, missing or malformed
            ``infer_cfg.yml``, unsupported schema version, or an ``infer_cfg.yml`` that does
            not match the model (input shape or output sizes); one line naming the file.
    """
    if backend not in BACKENDS:
        raise ExportError(f"backend must be auto, paddle or onnx, got {backend!r}")
    root = Path(model_dir)
    info = read_infer_config(root)
    if backend == "auto":
        backend = choose_backend(root, info, device)
    model_path, params_path = check_model_files(root, info, backend)
    device = _backend_device(device, backend)
    threads = int(cpu_threads) if cpu_threads else available_cores()  # see the docstring
    w, h = info.input_size
    sample = np.zeros((1, 3, h, w), dtype=np.float32)
    try:
        if backend == "onnx":
            runner: Runner = OnnxRunner(model_path, device, threads)
        else:
            runner = paddle_runner(model_path, params_path, device, threads, use_mkldnn, sample)
        _check_input_shape(runner.input_shape(), info.input_size)
    except InputMismatch as exc:
        raise file_error(
            root / INFER_CFG,
            f"input_size [W, H] = [{w}, {h}] does not match the model's input "
            f"{exc.shape} (N, C, H, W) in {model_path.name}; re-export the model",
        ) from None
    _check_outputs(runner, sample, info, root / INFER_CFG, model_path)
    return Predictor(root, info, runner, batch_size)


def choose_backend(root: Path, info: InferConfig, device: str = "cpu") -> str:
    """The runtime ``backend="auto"`` uses for an exported folder: ``onnx`` or ``paddle``.

    On CPU, onnxruntime when it is installed and the folder holds the ONNX model (HRNet-W32
    256x192, batch 8, 2 cores: 12.5 images/s, the machine's float32 matrix-multiply limit,
    against 10.0 for Paddle Inference with oneDNN; benchmarks/deploy_speed.py); else, and
    on a GPU, Paddle Inference.
    """
    import importlib.util

    if device not in ("cpu", "auto"):
        return "paddle"
    has_onnx = (root / (info.onnx_file or ONNX_MODEL)).is_file()
    return "onnx" if has_onnx and importlib.util.find_spec("onnxruntime") else "paddle"


def check_model_files(root: Path, info: InferConfig, backend: str) -> tuple[Path, Path]:
    """Paths of the model + params (paddle) or the .onnx file (onnx); ExportError if missing."""
    if backend == "onnx":
        onnx_path = root / (info.onnx_file or ONNX_MODEL)
        if not onnx_path.is_file():
            raise file_error(
                onnx_path,
                "ONNX model file missing (export with simdr export --onnx, or use "
                "--backend paddle)",
            )
        return onnx_path, onnx_path
    model_path = root / info.model_file
    if not model_path.is_file():
        other = LEGACY_MODEL if info.model_file == PIR_MODEL else PIR_MODEL
        hint = ""
        if (root / other).exists():
            hint = f" ({other} is there: infer_cfg.yml does not match the folder)"
        raise file_error(model_path, f"model file missing{hint}; re-export the model")
    params_path = root / info.params_file
    if not params_path.is_file():
        raise file_error(params_path, "weights file missing; re-export the model")
    if info.model_file == PIR_MODEL and paddle_major() < 3:
        import paddle

        raise file_error(
            model_path,
            f"is a PaddlePaddle 3 (PIR) export that PaddlePaddle {paddle.__version__} cannot "
            f"read; re-export with this Paddle (it writes {LEGACY_MODEL}) or upgrade Paddle",
        )
    return model_path, params_path


def _backend_device(device: str, backend: str) -> str:
    """``device`` resolved for ``backend`` (``auto`` is the CPU; a missing GPU one line)."""
    from simdr_lib.errors import ConfigError

    if device == "auto":
        return "cpu"
    if device != "cpu" and backend == "paddle":
        from simdr_lib.device import resolve_device

        try:
            return resolve_device(device)
        except ConfigError as exc:
            raise ExportError(str(exc)) from None
    return device


def _check_input_shape(shape: list[int], input_size: tuple[int, int]) -> None:
    """:class:`InputMismatch` when a static ``[N, C, H, W]`` input is not ``input_size``."""
    w, h = input_size
    known = len(shape) == 4 and shape[2] > 0
    if known and ([shape[2], shape[3]] != [h, w] or shape[1] not in (3, -1)):
        raise InputMismatch(shape)


def _check_outputs(
    runner: Runner, sample: np.ndarray, info: InferConfig, cfg_path: Path, model_path: Path
) -> None:
    """One run of ``sample``: the model runs and its outputs are the shapes the codec expects."""
    try:
        outs = runner.run(sample)
    except Exception as exc:
        raise ExportError(f"{model_path}: cannot run the model ({first_line(exc)})") from None
    got = [tuple(o.shape[1:]) for o in outs]
    want = expected_output_shapes(info, cfg_path)
    if got != want:
        raise file_error(
            cfg_path,
            f"does not match the model: outputs per image {got}, infer_cfg.yml "
            f"(joints {info.num_joints}, codec {info.codec_settings.type}, input_size "
            f"{list(info.input_size)}, split_ratio {info.codec_settings.split_ratio}) "
            f"implies {want}",
        )


def predictor_from_config(
    cfg: Any, weights: str | os.PathLike | None = None, batch_size: int | None = None
) -> Predictor:
    """A :class:`Predictor` over the dynamic model of ``cfg`` + ``weights`` (no export).

    Same crop / flip test / decode as the exported predictor; the model runs in dygraph on
    ``cfg.device``.
    """
    from simdr_lib.device import set_device
    from simdr_lib.engine.predict import probability_model
    from simdr_lib.errors import ConfigError
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    weights = str(weights or cfg.weights or "")
    if not weights:
        raise ConfigError(f"{cfg.source}: no weights given; pass -o weights=PATH.pdparams")
    device = set_device(cfg.device)
    model = model_from_config(cfg)
    load_model_weights(model, weights, cfg=cfg)
    prob_model = probability_model(model, cfg.model.head)
    prob_model.eval()
    info = infer_config_from_cfg(cfg, model_file="")
    runner = DynamicRunner(prob_model, info.input_size, device)
    return Predictor(Path(weights).parent, info, runner, batch_size or cfg.eval.batch_size)


def evaluate_exported(
    cfg: Any,
    predictor: Predictor,
    use_gt_bbox: bool | None = None,
    flip_test: bool | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """COCO keypoint AP of an exported model on ``cfg``'s val split (evaluation's pipeline).

    The crops, flip test, decode, rescoring, OKS-NMS and COCOeval are the ones of
    :func:`simdr_lib.engine.model_eval.evaluate_model`; only the network is the predictor's.
    """
    from simdr_lib.data.loaders import eval_records, load_split
    from simdr_lib.engine.model_eval import evaluate_predictions, predict_records

    data = load_split(cfg, "val")
    records = eval_records(cfg, data, use_gt_bbox)
    flip = cfg.eval.flip_test if flip_test is None else flip_test
    preds = predict_records(cfg, predictor.predict_crops, records, predictor.codec, flip, progress)
    return evaluate_predictions(cfg, data, preds)
