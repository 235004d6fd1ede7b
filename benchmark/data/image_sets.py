"""Labelled image sets for evaluation: what every evaluation-dataset loader returns.

An evaluation set yields ``(transform(PIL RGB image), target)`` and exposes, without decoding any
image, ``targets`` ((N,) int64 class indices, or an (N, K) float 0/1 matrix for multi-label sets such
as VOC2007), ``classes`` (names, in target order) and ``multilabel``. Three sources:
  - ``ImageFiles``: images read from files on demand (most transfer sets, ImageNet);
  - ``ArrayImages``: images already decoded into a uint8 array (Fashion-MNIST, scikit-learn digits);
  - ``TorchvisionImages``: a torchvision dataset class that reads the official release itself.

Loaders are registered in ``DATASETS`` as ``loader(split, root=None, download=False, transform=None)``.
Every set has "train" and "test"; sets with an official validation split also have "val" and
"trainval". ``root`` is the folder holding every dataset in its usual sub-folder (the layout
torchvision uses, e.g. <root>/dtd/labels); ``data_root`` resolves it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image

DEFAULT_DATA_ROOT = "data"


def data_root(root: Optional[str]) -> Path:
    """``root`` if given, else ``$GANREP_DATA``, else ./data."""
    return Path(root or os.environ.get("GANREP_DATA") or DEFAULT_DATA_ROOT).expanduser()


def image_format(channels: int, size) -> dict:
    """How images are laid out, as records state it: ``mode`` ("L" for 1 channel, "RGB" for 3, PIL's names),
    ``channels`` and ``size``: the side in px of square images, "WxH" of other fixed ones, "variable" when
    the images of a set differ (most sets read from files)."""
    if isinstance(size, (tuple, list)):
        width, height = size
        size = int(width) if width == height else f"{width}x{height}"
    mode = {1: "L", 3: "RGB"}.get(channels, f"{channels}-channel")
    return {"mode": mode, "channels": int(channels), "size": size}


def check_split(dataset: str, split: str, valid: Sequence[str]) -> None:
    if split not in valid:
        raise ValueError(f"unknown {dataset} split {split!r}; valid splits: {', '.join(valid)}")


class _EvaluationSet(torch.utils.data.Dataset):
    def __init__(self, targets, classes: list[str], transform: Optional[Callable]):
        self.targets = torch.as_tensor(np.asarray(targets))
        if self.targets.ndim == 2:
            self.targets = self.targets.float()
        else:
            self.targets = self.targets.long()
        self.classes = list(classes)
        self.transform = transform

    @property
    def multilabel(self) -> bool:
        return self.targets.ndim == 2

    def __len__(self) -> int:
        return len(self.targets)

    def _image(self, i: int) -> Image.Image:
        raise NotImplementedError

    def native_format(self) -> dict:
        """The images as the release stores them (``image_format``), before any transform: what an evaluation
        that converts them departs from. Default: RGB (files are decoded to it) of variable size."""
        return image_format(3, "variable")

    def __getitem__(self, i: int):
        image = self._image(i)
        return (self.transform(image) if self.transform else image), self.targets[i]

    def fingerprint(self) -> str:
        """A hash of which items the set holds, in which order, with their targets: what features extracted
        from it are of (the feature cache's key). Two sets of one size, e.g. two SUN397 partitions or two
        seeded subsets, differ in it."""
        digest = hashlib.sha256(type(self).__name__.encode())
        digest.update(self.targets.numpy().tobytes())
        self._hash_items(digest)
        return digest.hexdigest()[:16]

    def _hash_items(self, digest) -> None:
        """Feed what identifies the items (file names, pixels) to ``digest``; a set that cannot tell
        is known by its size alone."""
        digest.update(str(len(self)).encode())


class ImageFiles(_EvaluationSet):
    """Images decoded from ``paths`` on demand (converted to RGB)."""

    def __init__(self, paths: Sequence, targets, classes: list[str], transform: Optional[Callable] = None):
        super().__init__(targets, classes, transform)
        if len(paths) != len(self.targets):
            raise ValueError(f"{len(paths)} image paths but {len(self.targets)} targets")
        self.paths = [str(p) for p in paths]

    def _image(self, i: int) -> Image.Image:
        with Image.open(self.paths[i]) as image:
            return image.convert("RGB")

    def _hash_items(self, digest) -> None:
        digest.update(_relative_listing(self.paths))


class ArrayImages(_EvaluationSet):
    """Images held as a uint8 array, (N, H, W) grayscale or (N, H, W, 3) RGB."""

    def __init__(self, images: np.ndarray, targets, classes: list[str], transform: Optional[Callable] = None):
        super().__init__(targets, classes, transform)
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) != len(self.targets):
            raise ValueError(f"expects {len(self.targets)} uint8 images (N, H, W[, 3]), got {images.dtype} "
                             f"{images.shape}")
        self.images = images

    def _image(self, i: int) -> Image.Image:
        return Image.fromarray(self.images[i]).convert("RGB")

    def native_format(self) -> dict:
        height, width = self.images.shape[1:3]
        return image_format(1 if self.images.ndim == 3 else self.images.shape[-1], (width, height))

    def _hash_items(self, digest) -> None:
        digest.update(np.ascontiguousarray(self.images).tobytes())


class TorchvisionImages(_EvaluationSet):
    """A torchvision dataset whose items are (PIL image, int label); targets are read from its lists."""

    def __init__(self, dataset, targets, classes: list[str], transform: Optional[Callable] = None):
        super().__init__(targets, classes, transform)
        if len(dataset) != len(self.targets):
            raise ValueError(f"{len(dataset)} items but {len(self.targets)} targets")
        self.dataset = dataset

    def _image(self, i: int) -> Image.Image:
        return self.dataset[i][0].convert("RGB")

    def native_format(self) -> dict:
        """A release held as one array (CIFAR, STL-10) has one format: its first image's; a set of files has
        images of several sizes (the default)."""
        if not isinstance(getattr(self.dataset, "data", None), np.ndarray) or not len(self.dataset):
            return super().native_format()
        image = self.dataset[0][0]
        return image_format(len(image.getbands()), image.size)

    def _hash_items(self, digest) -> None:
        _hash_torchvision_items(self.dataset, digest)


class SubsetView(_EvaluationSet):
    """The items ``indices`` of an evaluation set (targets and transform carried over)."""

    def __init__(self, dataset: _EvaluationSet, indices: torch.Tensor):
        super().__init__(dataset.targets[indices], dataset.classes, dataset.transform)
        self.dataset, self.indices = dataset, indices.tolist()
        if getattr(dataset, "difficult", None) is not None:
            self.difficult = dataset.difficult[indices]

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]

    def native_format(self) -> dict:
        return self.dataset.native_format()

    def _hash_items(self, digest) -> None:
        digest.update(self.dataset.fingerprint().encode())
        digest.update(np.asarray(self.indices, dtype=np.int64).tobytes())


def _hash_torchvision_items(dataset, digest) -> None:
    """A torchvision dataset's items, in order: its list of image files, or its array of images."""
    if isinstance(dataset, torch.utils.data.ConcatDataset):
        for part in dataset.datasets:
            _hash_torchvision_items(part, digest)
        return
    for name in ("_image_files", "_images", "_samples", "samples", "imgs"):  # the lists torchvision keeps
        items = getattr(dataset, name, None)
        if items is not None:
            digest.update(_relative_listing([i[0] if isinstance(i, (tuple, list)) else i for i in items]))
            return
    data = getattr(dataset, "data", None)
    if isinstance(data, np.ndarray):  # CIFAR, STL-10
        digest.update(np.ascontiguousarray(data).tobytes())
        return
    digest.update(f"{type(dataset).__qualname__}:{len(dataset)}:{getattr(dataset, 'root', '')}".encode())


def limit(dataset: _EvaluationSet, n: Optional[int], seed: int = 0) -> _EvaluationSet:
    """A seeded random subset of ``n`` items (the set itself when n is None or not smaller)."""
    if n is None or n >= len(dataset):
        return dataset
    return SubsetView(dataset, torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n])


def _relative_listing(paths) -> bytes:
    """File names relative to the folder they all lie in, in order: the same files read from another place
    (a node's local copy, another mount, ``data`` vs ``./data``) list the same."""
    names = [os.path.normpath(str(p)) for p in paths]
    try:
        base = os.path.commonpath([os.path.dirname(n) for n in names]) if names else ""
    except ValueError:  # absolute and relative names mixed
        base = ""
    cut = len(base.rstrip(os.sep)) + 1 if base else 0
    return "\n".join(n[cut:] for n in names).encode()
