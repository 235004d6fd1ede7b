"""Caltech-101 (Fei-Fei, Fergus, Perona, 2004) from the folder of its official release.

Layout, as ``101_ObjectCategories.tar.gz`` unpacks (the archive inside the official caltech-101.zip;
torchvision uses the same folder)::

    <root>/caltech101/101_ObjectCategories/<class>/image_0001.jpg

Protocol of Ericsson, Gouk, Hospedales, "How Well Do Self-Supervised Models Transfer?" (CVPR 2021):
102 classes, every folder including ``BACKGROUND_Google``, sorted by name (torchvision instead drops
BACKGROUND_Google, which gives 101 classes); per class, 30 images drawn at random for "train" and all
the others for "test". The draw is a fixed seeded permutation of each class's sorted file names, so
the split is the same on every machine.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import ImageFiles, check_split, data_root
from benchmark.registry import DATASETS

URL = "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip"
MD5 = "3138e1922a9193bfa496528edbbc45d0"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "test")


def _download(folder: Path) -> None:
    # The zip holds caltech-101/101_ObjectCategories.tar.gz (and the annotations); unpack the images.
    from torchvision.datasets.utils import download_and_extract_archive, extract_archive

    download_and_extract_archive(URL, download_root=str(folder), filename="caltech-101.zip", md5=MD5)
    extract_archive(str(folder / "caltech-101" / "101_ObjectCategories.tar.gz"), str(folder))


def _image_names(class_dir: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(class_dir)
                  if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS))


def train_indices(n_images: int, class_name: str, train_per_class: int, split_seed: int) -> np.ndarray:
    """Positions (in sorted file order) of the class's training images."""
    # Seeded by the class name as well, so one class's draw does not depend on which other classes exist.
    rng = np.random.default_rng([split_seed, zlib.crc32(class_name.encode())])
    return np.sort(rng.permutation(n_images)[:train_per_class])


@DATASETS.register("caltech101")
def caltech101(split: str, root: Optional[str] = None, download: bool = False, transform=None,
               train_per_class: int = 30, split_seed: int = 0, **_) -> ImageFiles:
    """``train_per_class`` images per class for "train" (30 in the protocol), the rest for "test"."""
    check_split("caltech101", split, SPLITS)
    folder = data_root(root) / "caltech101"
    images_dir = folder / "101_ObjectCategories"
    if not images_dir.is_dir() and download:
        _download(folder)
    classes = []
    if images_dir.is_dir():
        classes = sorted(e.name for e in os.scandir(images_dir) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DatasetNotFoundError(
            "caltech101", [f"{images_dir} (class folders)"],
            f"download {URL}, unzip it and unpack caltech-101/101_ObjectCategories.tar.gz into {folder} "
            "(or pass download=True)")

    paths, targets = [], []
    for label, name in enumerate(classes):
        names = _image_names(images_dir / name)
        if len(names) <= train_per_class:
            raise ValueError(f"caltech101 class {name!r} has {len(names)} images; the split needs more than "
                             f"train_per_class={train_per_class} so that every class has test images")
        in_train = np.zeros(len(names), dtype=bool)
        in_train[train_indices(len(names), name, train_per_class, split_seed)] = True
        keep = in_train if split == "train" else ~in_train
        paths += [images_dir / name / n for n, k in zip(names, keep) if k]
        targets += [label] * int(keep.sum())
    return ImageFiles(paths, np.asarray(targets, dtype=np.int64), classes, transform)
