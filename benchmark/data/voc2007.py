"""PASCAL VOC 2007 (Everingham, Van Gool, Williams, Winn, Zisserman, "The PASCAL Visual Object Classes
(VOC) Challenge", IJCV 2010) as a 20-way multi-label classification set.

Layout, as the official VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar unpack in ``<root>``::

    <root>/VOCdevkit/VOC2007/JPEGImages/<image id>.jpg
    <root>/VOCdevkit/VOC2007/ImageSets/Main/<split>.txt          one image id a line
    <root>/VOCdevkit/VOC2007/ImageSets/Main/<class>_<split>.txt  lines "<image id> <flag>"

where flag is 1 (the class is in the image), -1 (it is not) or 0 (only "difficult" instances of it).
Targets are an (N, 20) float matrix holding 1 where the flag is 1 and 0 otherwise: difficult counts as
absent when training the classifiers, the usual convention for VOC07 linear classification (e.g.
Goyal et al., "Scaling and Benchmarking Self-Supervised Visual Representation Learning", 2019;
Ericsson et al., "How Well Do Self-Supervised Models Transfer?", 2021). The (N, 20) bool mask
``difficult`` marks the 0 flags, which the devkit's AP leaves out of the ranking (tasks/linear/metrics.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import ImageFiles, check_split, data_root
from benchmark.registry import DATASETS

CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
           "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
SPLITS = ("train", "val", "trainval", "test")
# The official archives (torchvision's mirror of host.robots.ox.ac.uk, which is often down), with their MD5.
ARCHIVES = {
    "trainval": ("https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar",
                 "c52e279531787c972589f7e41ab4ae64"),
    "test": ("https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar",
             "b6e924de25625d8de591ea690078ad9f"),
}


def _archive(split: str) -> str:
    return "test" if split == "test" else "trainval"


def _read_flags(path: Path) -> dict[str, int]:
    flags = {}
    for line in path.read_text().splitlines():
        if line.strip():
            image_id, flag = line.split()
            if flag not in ("1", "0", "-1"):
                raise ValueError(f"{path}: flag {flag!r} of image {image_id}; valid flags: 1, 0, -1")
            flags[image_id] = int(flag)
    return flags


@DATASETS.register("voc2007")
def voc2007(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_) -> ImageFiles:
    """Images of ``split`` with (N, 20) 0/1 targets in the order of ``CLASSES``."""
    check_split("voc2007", split, SPLITS)
    root = data_root(root)
    folder = root / "VOCdevkit" / "VOC2007"
    lists = folder / "ImageSets" / "Main"
    needed = [lists / f"{split}.txt"] + [lists / f"{c}_{split}.txt" for c in CLASSES]
    if download and not all(p.is_file() for p in needed):
        from torchvision.datasets.utils import download_and_extract_archive

        url, md5 = ARCHIVES[_archive(split)]
        download_and_extract_archive(url, download_root=str(root), md5=md5)
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        url = ARCHIVES[_archive(split)][0]
        raise DatasetNotFoundError(
            "voc2007", missing,
            f"download {url} and unpack it in {root} (it makes VOCdevkit/VOC2007; the train, val and "
            "trainval lists are in VOCtrainval_06-Nov-2007.tar, the test lists in VOCtest_06-Nov-2007.tar), "
            "or pass download=True")

    image_ids = [line.strip() for line in needed[0].read_text().splitlines() if line.strip()]
    targets = np.zeros((len(image_ids), len(CLASSES)), dtype=np.float32)
    difficult = np.zeros((len(image_ids), len(CLASSES)), dtype=bool)
    for k, class_name in enumerate(CLASSES):
        flags = _read_flags(lists / f"{class_name}_{split}.txt")
        absent = set(image_ids) - set(flags)
        if absent:
            raise ValueError(f"{lists / f'{class_name}_{split}.txt'} lacks {len(absent)} images of {split}.txt, "
                             f"e.g. {sorted(absent)[0]}")
        targets[:, k] = [flags[i] == 1 for i in image_ids]  # 0 (difficult) and -1 both count as absent
        difficult[:, k] = [flags[i] == 0 for i in image_ids]
    paths = [folder / "JPEGImages" / f"{i}.jpg" for i in image_ids]
    dataset = ImageFiles(paths, targets, CLASSES, transform)
    dataset.difficult = torch.from_numpy(difficult)
    return dataset
