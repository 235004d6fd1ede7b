"""CIFAR-10 and CIFAR-100 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009).

Read by torchvision's CIFAR10/CIFAR100 from the "python version" of the official release: pickled
dicts holding ``data`` ((N, 3072) uint8, the red, green then blue 32x32 planes of each image) and
``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100).
  - cifar10: <root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}, 10 classes;
  - cifar100: <root>/cifar-100-python/{train, test, meta}, 100 (fine) classes.
Splits: train (50k), test (10k).

``cifar10_in_memory`` (``data=cifar10``) and ``cifar100_in_memory`` (``data=cifar100``) read the same files
as pretraining real images: an ``InMemoryImages`` of uint8 (N, 3, 32, 32) images (the format of
``fashion_mnist``) with their (fine) labels, for generators that make 32 px RGB images
(``generator=stylegan2ada_cifar10u`` / ``_cifar10c``). Each holds one copy of the split (150 MB for train).
"""
from __future__ import annotations

from typing import Optional

import torch
from torchvision.datasets import CIFAR10, CIFAR100

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import TorchvisionImages, check_split, data_root
from benchmark.data.in_memory import InMemoryImages
from benchmark.registry import DATASETS

SPLITS = ("train", "test")


# torchvision hashes every batch and the meta file on each construction: that rejects any copy that is
# not byte-identical to the release (the test replicas) and re-reads 170 MB per split. These subclasses
# only check that the files exist (md5 None); a download is still verified by the archive's md5.
class _CIFAR10(CIFAR10):
    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


class _CIFAR100(CIFAR100):
    train_list = [[name, None] for name, _ in CIFAR100.train_list]
    test_list = [[name, None] for name, _ in CIFAR100.test_list]
    meta = {**CIFAR100.meta, "md5": None}


def _open(name: str, tv_class, split: str, root: Optional[str], download: bool):
    """The torchvision dataset of ``split`` (its ``data`` is the (N, 32, 32, 3) uint8 array)."""
    check_split(name, split, SPLITS)
    root = data_root(root)
    try:
        return tv_class(str(root), train=split == "train", download=download)
    except (RuntimeError, OSError) as e:  # torchvision: "Dataset not found or corrupted"; no network
        raise DatasetNotFoundError(name, [f"{root / tv_class.base_folder} ({e})"],
                                   "run with download=true on a machine with internet") from e


def _load(name: str, tv_class, split: str, root: Optional[str], download: bool, transform) -> TorchvisionImages:
    dataset = _open(name, tv_class, split, root, download)
    return TorchvisionImages(dataset, dataset.targets, dataset.classes, transform)


@DATASETS.register("cifar10")
def cifar10(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    return _load("cifar10", _CIFAR10, split, root, download, transform)


@DATASETS.register("cifar100")
def cifar100(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    return _load("cifar100", _CIFAR100, split, root, download, transform)


def _in_memory(name: str, tv_class, split: str, root: Optional[str], download: bool) -> InMemoryImages:
    dataset = _open(name, tv_class, split, root, download)
    # torchvision's ``data`` is a (N, H, W, C) view of the (N, C, H, W) rows it read: permuting back gives
    # that contiguous array again, so ``contiguous`` copies nothing.
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    return InMemoryImages(images, torch.as_tensor(dataset.targets, dtype=torch.int64), list(dataset.classes))


@DATASETS.register("cifar10_in_memory")
def cifar10_in_memory(split: str, root: Optional[str] = None, download: bool = False, **_) -> InMemoryImages:
    """CIFAR-10 ``split`` as pretraining images: uint8 (N, 3, 32, 32), RGB, with their labels."""
    return _in_memory("cifar10", _CIFAR10, split, root, download)


@DATASETS.register("cifar100_in_memory")
def cifar100_in_memory(split: str, root: Optional[str] = None, download: bool = False, **_) -> InMemoryImages:
    """CIFAR-100 ``split`` as pretraining images: uint8 (N, 3, 32, 32), RGB, with their fine labels (100 classes)."""
    return _in_memory("cifar100", _CIFAR100, split, root, download)
