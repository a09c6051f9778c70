"""Top-down person crops as a map-style dataset (+ a small single-process loader).

One item = one :class:`~simdr_lib.data.coco.PersonRecord`: the image is decoded, the person is
cropped by an affine warp to ``input_size`` (W, H) (see :mod:`simdr_lib.data.transforms` for the
pixel-centre and rotation conventions), keypoints go through the same matrix, and the codec's
``encode`` turns them into targets. Train-mode augmentation (half body, scale, rotation, flip,
in HRNet's order) draws from ``np.random.default_rng([seed, epoch, index])``, so an item depends
only on (seed, epoch, index), whatever the number of DataLoader workers.

The module needs only numpy and OpenCV at import (notebooks draw crops without Paddle):
``paddle.io.DataLoader`` reads any object with ``__len__`` and ``__getitem__`` as a map-style
dataset, so :class:`TopDownDataset` does not derive from ``paddle.io.Dataset``; Paddle is
imported where tensors are made (:class:`MainThreadLoader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib.data import transforms as T
from simdr_lib.data.coco import PersonRecord
from simdr_lib.data.images import DEFAULT_MAX_PIXELS, load_image
from simdr_lib.keypoints import COCO_FLIP_PAIRS, COCO_UPPER_BODY_IDS

if TYPE_CHECKING:
    import paddle

Encoder = Callable[[np.ndarray, np.ndarray], dict]


def sample_augmentation(
    rng: np.random.Generator,
    keypoints: np.ndarray,
    visible: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    aspect_ratio: float,
    *,
    flip: bool,
    rot_factor: float,
    scale_factor: float,
    half_body_prob: float,
    num_joints_half_body: int,
    upper_body_ids: Sequence[int],
    pixel_std: float,
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """Draw one person's augmentation, HRNet's order: half body, scale, rotation, flip.

    Args:
        keypoints: (K, 2) image px. visible: (K,) COCO v. center, scale: (2,) of the box.

    Returns:
        ``(center (2,), scale (2,), rotation deg, flipped)``; centre and scale are in the
        unflipped image (apply :func:`~simdr_lib.data.transforms.flip_centers` when flipped).
    """
    labeled = int((np.asarray(visible) > 0).sum())
    if labeled > num_joints_half_body and rng.random() < half_body_prob:
        half = T.half_body_center_scale(
            keypoints, visible, upper_body_ids, aspect_ratio, rng, pixel_std=pixel_std
        )
        if half is not None:
            center, scale = half
    scale = T.random_scale(scale, scale_factor, rng)
    rotation = T.random_rotation(rot_factor, rng)
    flipped = flip and T.random_flip(rng)
    return np.asarray(center, dtype=np.float64), scale, rotation, flipped


class TopDownDataset:
    """Person crops + codec targets (a map-style dataset for ``paddle.io.DataLoader``).

    Args:
        records: people to crop (ground truth or detections).
        encode: ``encode(keypoints (1, K, 2) crop px, visible (1, K) COCO v) -> dict`` of
            arrays with a leading N=1 axis (a codec's ``encode``), including ``target_weight``
            (1, K) (if absent, ``visible > 0`` is used).
        input_size: (W, H) of the network input.
        train: augment (flip / rotation / scale / half body); eval mode crops the box as is.
        flip, rot_factor (deg), scale_factor, half_body_prob, num_joints_half_body,
        flip_pairs, upper_body_ids, padding, pixel_std: augmentation / crop parameters
            (HRNet / COCO values by default; rotation 40 as in the Paddle configs).
        mean, std: RGB normalization on the 0-1 scale.
        seed: base seed of the augmentation RNG.
        max_image_pixels: images whose header states more pixels are refused (config
            ``data.max_image_pixels``).

    Images are decoded in the frame the annotation file's ``width`` / ``height`` describe
    (``PersonRecord.image_size``; see :mod:`simdr_lib.data.images`): an image whose size does
    not match raises its one-line :class:`~simdr_lib.errors.DataError`.

    Items are dicts of numpy arrays: ``image`` (3, H, W) float32; the codec's targets without
    the N axis (float64 cast to float32); ``target_weight`` (K,) float32; ``keypoints`` (K, 2)
    float32 crop px; ``visible`` (K,) float32 COCO v (joints outside the crop keep theirs, the
    codec decides their weight); ``center`` (2,) px / ``scale`` (2,) float32 of the crop
    (in the mirrored image frame when ``flipped``); ``rotation`` () float32 deg; ``flipped``
    () bool; ``score`` () float32; ``image_id`` () int64; ``area`` () float32. In eval mode
    ``crop_to_image(keypoints, center, scale, input_size, rotation, pixel_std)`` (with this
    dataset's ``pixel_std``) maps crop px to image px.
    """

    def __init__(
        self,
        records: Sequence[PersonRecord],
        encode: Encoder,
        input_size: Sequence[int],
        train: bool,
        *,
        flip: bool = True,
        rot_factor: float = 40.0,
        scale_factor: float = 0.35,
        half_body_prob: float = 0.3,
        num_joints_half_body: int = 8,
        flip_pairs: Sequence[tuple[int, int]] = COCO_FLIP_PAIRS,
        upper_body_ids: Sequence[int] = COCO_UPPER_BODY_IDS,
        padding: float = 1.25,
        pixel_std: float = 200.0,
        mean: Sequence[float] = T.IMAGENET_MEAN,
        std: Sequence[float] = T.IMAGENET_STD,
        seed: int = 0,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if len(input_size) != 2 or min(input_size) <= 0:
            raise ValueError(f"input_size must be (W, H) > 0, got {input_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.records = list(records)
        self.encode = encode
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.train = bool(train)
        self.flip = flip
        self.rot_factor = float(rot_factor)
        self.scale_factor = float(scale_factor)
        self.half_body_prob = float(half_body_prob)
        self.num_joints_half_body = int(num_joints_half_body)
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)
        self.upper_body_ids = tuple(upper_body_ids)
        self.padding = float(padding)
        self.pixel_std = float(pixel_std)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.seed = int(seed)
        self.max_image_pixels = int(max_image_pixels)
        self.epoch = 0

    @property
    def aspect_ratio(self) -> float:
        """W / H of the input."""
        return self.input_size[0] / self.input_size[1]

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream ``default_rng([seed, epoch, index])``.

        Call it before creating the epoch's DataLoader iterator: workers copy the dataset when
        they start, so ``persistent_workers=True`` loaders would not see the change.
        """
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def geometry(
        self, index: int, image_width: int
    ) -> tuple[np.ndarray, np.ndarray, float, bool, np.ndarray, np.ndarray]:
        """Crop parameters and keypoints of item ``index`` (no image decoding).

        Returns:
            ``(center (2,), scale (2,), rotation deg, flipped, keypoints (K, 2) image px,
            visible (K,))``; when flipped, centre / keypoints / visibility are in the mirrored
            image (``x -> image_width - 1 - x``, pairs swapped).
        """
        rec = self.records[index]
        keypoints = np.array(rec.keypoints[:, :2], dtype=np.float64)
        visible = np.array(rec.keypoints[:, 2], dtype=np.float64)
        center, scale = T.box_to_center_scale(
            rec.box, self.aspect_ratio, self.padding, self.pixel_std
        )
        rotation, flipped = 0.0, False
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            center, scale, rotation, flipped = sample_augmentation(
                rng,
                keypoints,
                visible,
                center,
                scale,
                self.aspect_ratio,
                flip=self.flip,
                rot_factor=self.rot_factor,
                scale_factor=self.scale_factor,
                half_body_prob=self.half_body_prob,
                num_joints_half_body=self.num_joints_half_body,
                upper_body_ids=self.upper_body_ids,
                pixel_std=self.pixel_std,
            )
        if flipped:
            keypoints, visible = T.flip_keypoints(keypoints, visible, image_width, self.flip_pairs)
            center = T.flip_centers(center, image_width)
        return center, scale, rotation, flipped, keypoints, visible

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rec = self.records[index]
        image = load_image(
            rec.image_path, max_pixels=self.max_image_pixels, expect_size=rec.image_size
        )
        width = image.shape[1]
        center, scale, rotation, flipped, keypoints, visible = self.geometry(index, width)
        matrix = T.get_affine_matrix(center, scale, rotation, self.input_size, self.pixel_std)
        # A flipped crop warps the original image through (crop o mirror): no image copy.
        warp = T.compose_affine(matrix, T.flip_matrix(width)) if flipped else matrix
        crop = T.warp_image(image, warp, self.input_size)
        crop_kpts = T.affine_points(keypoints, matrix)
        targets = self.encode(crop_kpts[None], visible[None])
        item = {key: _float32(np.asarray(value)[0]) for key, value in targets.items()}
        if "target_weight" not in item:
            item["target_weight"] = (visible > 0).astype(np.float32)
        item.update(
            image=T.normalize_image(crop, self.mean, self.std),
            keypoints=crop_kpts.astype(np.float32),
            visible=visible.astype(np.float32),
            center=np.asarray(center, dtype=np.float32),
            scale=np.asarray(scale, dtype=np.float32),
            rotation=np.array(rotation, dtype=np.float32),
            flipped=np.array(flipped, dtype=bool),
            score=np.array(rec.score, dtype=np.float32),
            image_id=np.array(rec.image_id, dtype=np.int64),
            area=np.array(rec.area, dtype=np.float32),
        )
        return item


def _float32(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype == np.float64 else array


class MainThreadLoader:
    """Single-process loader: items fetched and collated in the calling thread.

    ``paddle.io.DataLoader(num_workers=0)`` fetches in a helper thread, and in Paddle 3.3 an
    exception raised by the dataset kills that thread while the iterator waits forever on its
    queue (``_DataLoaderIterSingleProcess._thread_loop`` does not catch fetch errors). Here a
    bad image raises its one-line :class:`DataError` in the caller.

    Iterating yields dicts of ``paddle.Tensor`` with a leading batch axis, like the DataLoader.
    """

    def __init__(self, dataset: TopDownDataset, batch_sampler: paddle.io.BatchSampler) -> None:
        self.dataset = dataset
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import paddle
        from paddle.io.dataloader.collate import default_collate_fn

        for indices in self.batch_sampler:
            batch = default_collate_fn([self.dataset[i] for i in indices])
            yield {key: paddle.to_tensor(value) for key, value in batch.items()}
