"""Config → datasets and loaders: which files, which person boxes, which sampler.

Keeps the protocol switch in one place: ``eval.use_gt_bbox`` true evaluates on ground-truth
boxes (the Paddle reproduction's 76.7 / 78.5 AP), false on the detections json (the official
76.9 AP protocol).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib.config import Config
from simdr_lib.errors import DataError

if TYPE_CHECKING:
    from simdr_lib.codec.base import Codec
    from simdr_lib.data.coco import CocoKeypoints, PersonRecord
    from simdr_lib.data.dataset import TopDownDataset


def ensure_dataset(cfg: Config, progress: bool = True) -> None:
    """Generate the default dataset at ``data.root`` if ``data.synthetic`` and it is missing."""
    if not cfg.data.synthetic:
        return
    if cfg.data.dataset == "mpii":
        from simdr_lib.data.synthetic_mpii import generate_synthetic_mpii

        generate_synthetic_mpii(
            cfg.data.root, cfg.data.synthetic_train, cfg.data.synthetic_val, 0, progress
        )
        return
    from simdr_lib.data.synthetic import generate_synthetic_coco

    generate_synthetic_coco(
        cfg.data.root,
        num_train=cfg.data.synthetic_train,
        num_val=cfg.data.synthetic_val,
        seed=0,
        progress=progress,
    )


def load_split(cfg: Config, split: str, check_images: bool = True) -> CocoKeypoints:
    """:class:`~simdr_lib.data.coco.CocoKeypoints` of ``train`` or ``val``
    (:class:`~simdr_lib.data.mpii.MpiiKeypoints` for ``data.dataset: mpii``)."""
    from simdr_lib.data.coco import load_coco_keypoints

    if cfg.data.dataset == "mpii":
        from simdr_lib.data.mpii import load_mpii

        return load_mpii(
            cfg.data.path(f"{split}_ann"),
            cfg.data.path(f"{split}_images"),
            num_joints=cfg.model.num_joints,
            check_images=check_images,
            pixel_std=cfg.data.pixel_std,
        )

    return load_coco_keypoints(
        cfg.data.path(f"{split}_ann"),
        cfg.data.path(f"{split}_images"),
        num_joints=cfg.model.num_joints,
        check_images=check_images,
    )


def split_stats(cfg: Config, data: CocoKeypoints) -> dict[str, Any]:
    """Counts of one loaded split: COCO :func:`~simdr_lib.data.coco.dataset_stats` or
    :func:`~simdr_lib.data.mpii.mpii_stats` (the same keys where they overlap)."""
    if cfg.data.dataset == "mpii":
        from simdr_lib.data.mpii import mpii_stats

        return mpii_stats(data)
    from simdr_lib.data.coco import dataset_stats

    return dataset_stats(data)


def eval_records(
    cfg: Config, data: CocoKeypoints, use_gt_bbox: bool | None = None
) -> list[PersonRecord]:
    """Person records to evaluate: GT boxes or detections above ``data.det_score_thresh``."""
    use_gt = cfg.eval.use_gt_bbox if use_gt_bbox is None else use_gt_bbox
    if use_gt:
        records = list(data.records)
    else:
        from simdr_lib.data.coco import load_detections

        records = load_detections(cfg.data.path("det_file"), data, cfg.data.det_score_thresh)
    if cfg.eval.max_images > 0:
        keep = set(sorted({r.image_id for r in records})[: cfg.eval.max_images])
        records = [r for r in records if r.image_id in keep]
    return records


def make_dataset(
    cfg: Config, records: list[PersonRecord], codec: Codec, train: bool
) -> TopDownDataset:
    """:class:`~simdr_lib.data.dataset.TopDownDataset` with the config's augmentation."""
    from simdr_lib.data.dataset import TopDownDataset
    from simdr_lib.data.dataset_kinds import flip_pairs_for, upper_body_ids_for
    from simdr_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    d = cfg.data
    return TopDownDataset(
        records,
        encode=codec.encode,
        input_size=tuple(cfg.codec.input_size),
        train=train,
        flip=d.flip,
        rot_factor=d.rot_factor,
        scale_factor=d.scale_factor,
        half_body_prob=d.half_body_prob,
        num_joints_half_body=d.num_joints_half_body,
        flip_pairs=flip_pairs_for(d.dataset),
        upper_body_ids=upper_body_ids_for(d.dataset),
        padding=d.padding,
        pixel_std=d.pixel_std,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        seed=cfg.train.seed,
        max_image_pixels=d.max_image_pixels,
    )


class EpochBatchSampler:
    """Shuffled batches that depend only on (seed, epoch): resuming replays the same order.

    With ``world_size > 1`` each rank takes a disjoint strided slice of the same permutation
    (padded by wrapping so every rank runs the same number of steps, as data parallel needs).
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        max_batches: int = 0,
    ) -> None:
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.max_batches = max_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> np.ndarray:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.num_samples)
        else:
            order = np.arange(self.num_samples)
        per_rank = -(-self.num_samples // self.world_size)
        if per_rank * self.world_size > self.num_samples:
            order = np.resize(order, per_rank * self.world_size)
        return order[self.rank :: self.world_size]

    def __iter__(self):  # noqa: ANN204 - generator of index lists
        idx = self._indices()
        n = len(self)
        for b in range(n):
            yield idx[b * self.batch_size : (b + 1) * self.batch_size].tolist()

    def __len__(self) -> int:
        per_rank = -(-self.num_samples // self.world_size)
        n = per_rank // self.batch_size if self.drop_last else -(-per_rank // self.batch_size)
        return min(n, self.max_batches) if self.max_batches > 0 else n


def _quiet_paddle_loader_thread(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """``threading.excepthook`` that drops the traceback of Paddle's loader thread.

    When a worker fails, Paddle's ``_thread_loop`` thread dies printing the worker's whole
    traceback; :class:`DataLoader` reports the same failure as one line, so that print is
    only noise. Every other thread keeps the previous hook.
    """

    def hook(args: Any) -> None:
        name = getattr(args.thread, "name", "") or ""
        if "_thread_loop" in name:
            return
        previous(args)

    return hook


def _shut_down(it: Any) -> None:
    """Stop a Paddle multi-process iterator's workers now (not at garbage collection).

    A failure's traceback keeps the iterator alive in a reference cycle, and its workers
    would otherwise only be killed at interpreter exit (observed as a hang at exit).
    """
    stop = getattr(it, "_try_shutdown_all", None)
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()


def make_loader(
    dataset: TopDownDataset, sampler: EpochBatchSampler, num_workers: int
) -> DataLoader:
    """Batches of ``dataset`` (dicts of tensors) in ``sampler`` order; see :class:`DataLoader`."""
    return DataLoader(dataset, sampler, num_workers)


class DataLoader:
    """``paddle.io.DataLoader`` whose failures name the bad sample in one line.

    ``num_workers == 0`` loads in the calling thread (:class:`MainThreadLoader`: Paddle's own
    single-process loader hangs when the dataset raises). With workers, a worker that dies on
    a corrupt image only surfaces as Paddle's ``SystemError``; the pending samples are then
    re-read in this process so the real :class:`~simdr_lib.errors.DataError` is raised.
    """

    def __init__(
        self, dataset: TopDownDataset, sampler: EpochBatchSampler, num_workers: int
    ) -> None:
        self.dataset = dataset
        self.sampler = sampler
        self.num_workers = num_workers

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from simdr_lib.data.dataset import MainThreadLoader

        if self.num_workers == 0:
            yield from MainThreadLoader(self.dataset, self.sampler)
            return
        import paddle

        loader = paddle.io.DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=self.num_workers,
            use_shared_memory=False,
        )
        done = 0
        previous_hook = threading.excepthook
        threading.excepthook = _quiet_paddle_loader_thread(previous_hook)
        it = None
        try:
            it = iter(loader)
            while True:
                try:
                    batch = next(it)
                except StopIteration:
                    return
                except Exception as exc:
                    self._raise_first_bad_sample(done)
                    raise DataError(
                        f"data loader worker failed ({type(exc).__name__}); rerun with "
                        "-o data.num_workers=0 to see the sample at fault"
                    ) from None
                done += 1
                yield batch
        finally:
            threading.excepthook = previous_hook
            _shut_down(it)

    def _raise_first_bad_sample(self, done: int) -> None:
        pending = list(self.sampler)[done : done + 2 * self.num_workers + 2]
        for indices in pending:
            for i in indices:
                self.dataset[i]  # raises the sample's own DataError
