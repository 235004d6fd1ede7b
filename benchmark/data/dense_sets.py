"""Image sets with dense targets (boxes, label maps, normal maps): what the dense-task loaders return.

A dense set yields ``(image, target)`` with ``image`` a (3, H, W) uint8 tensor at the file's own size
(the task resizes and augments image and target together) and ``target`` a dict of tensors:
  - detection (``DetectionFiles``): ``boxes`` (K, 4) float32 (x1, y1, x2, y2) in 0-based inclusive
    pixels (VOC's 1-based XML coordinates minus 1, the convention of tasks/dense/voc_ap.py),
    ``labels`` (K,) int64 indices into ``classes``, ``difficult`` (K,) bool;
  - segmentation (``SegmentationFiles``): ``mask`` (H, W) int64 class indices, ``IGNORE_INDEX`` where unlabelled;
  - surface normals: ``normals`` (3, H, W) float32 unit vectors and ``valid`` (H, W) bool.
Every set exposes ``classes`` (empty for normals). Loaders are registered in ``DATASETS`` as
``loader(split, root=None, download=False, **options)``, like the evaluation sets of image_sets.py.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

IGNORE_INDEX = 255  # label-map value no loss or metric counts (mmseg's and detectron2's convention)


def read_rgb(path) -> torch.Tensor:
    """A (3, H, W) uint8 tensor from an image file, converted to RGB."""
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def to_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """A (C, H, W) image with ``channels`` channels: RGB -> gray by ITU-R 601 luma, gray -> RGB by copies."""
    if image.shape[0] == channels:
        return image
    if image.shape[0] == 3 and channels == 1:
        from torchvision.transforms.v2.functional import rgb_to_grayscale

        return rgb_to_grayscale(image)
    if image.shape[0] == 1 and channels == 3:
        return image.expand(3, -1, -1)
    raise ValueError(f"cannot convert a {image.shape[0]}-channel image to {channels} channels")


def dense_subset(dataset, n, seed: int = 0):
    """A seeded random subset of ``n`` items (the set itself when n is None or not smaller)."""
    if n is None or n >= len(dataset):
        return dataset
    keep = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    subset = torch.utils.data.Subset(dataset, keep.tolist())
    subset.classes = dataset.classes
    return subset


class DenseSet(torch.utils.data.Dataset):
    classes: list[str]

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError


class DetectionFiles(DenseSet):
    """Images read on demand, with their boxes already parsed (``annotations[i]`` is item i's target)."""

    def __init__(self, paths: Sequence, annotations: list[dict], classes: list[str]):
        if len(paths) != len(annotations):
            raise ValueError(f"{len(paths)} image paths but {len(annotations)} annotations")
        self.paths, self.annotations, self.classes = [str(p) for p in paths], annotations, list(classes)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict]:
        return read_rgb(self.paths[i]), self.annotations[i]


class SegmentationFiles(DenseSet):
    """Image files paired with label-map PNGs; ``label_map`` turns a PNG's array into class indices."""

    def __init__(self, images: Sequence, label_maps: Sequence, classes: list[str], label_map):
        if len(images) != len(label_maps):
            raise ValueError(f"{len(images)} images but {len(label_maps)} label maps")
        self.images, self.label_maps = [str(p) for p in images], [str(p) for p in label_maps]
        self.classes, self.label_map = list(classes), label_map

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict]:
        with Image.open(self.label_maps[i]) as png:
            raw = np.asarray(png)
        return read_rgb(self.images[i]), {"mask": torch.from_numpy(self.label_map(raw))}
