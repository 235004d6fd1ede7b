"""ImageNet (ILSVRC-2012; Russakovsky et al., "ImageNet Large Scale Visual Recognition Challenge", IJCV
2015) and its 100-class subset ImageNet-100 (Tian, Krishnan, Isola, "Contrastive Multiview Coding", 2019).

Layout: the ImageFolder layout most self-supervised codebases expect::

    <root>/imagenet/train/<wnid>/*.JPEG
    <root>/imagenet/val/<wnid>/*.JPEG

i.e. ILSVRC2012_img_train.tar unpacked with one folder per class, and the 50,000 validation images
sorted into the same wnid folders (e.g. with the widely used valprep.sh). Splits: "train", and "test",
which is the validation set: the labels of the ILSVRC-2012 test images were never released.

Classes are wnids (e.g. n01440764) sorted by name. The release cannot be downloaded without an account
at image-net.org, so ``download`` is ignored. Files are listed with os.scandir (no image is opened),
which takes seconds on the full 1.28M-image train folder where torchvision's ImageFolder is slower.

ImageNet-100 uses the class list published with CMC, shipped here as imagenet100_classes.txt (in the
published order; targets index the sorted list). Its images are read from ``<root>/imagenet100/<split
folder>`` when that exists (a copy of the subset), else from the full ImageNet folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

import numpy as np

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import ImageFiles, check_split, data_root
from benchmark.data.streamed import StreamedImages
from benchmark.registry import DATASETS

SPLIT_FOLDERS = {"train": "train", "test": "val"}
N_CLASSES = 1000
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
WNID = re.compile(r"n\d{8}")
IMAGENET100_LIST = Path(__file__).with_name("imagenet100_classes.txt")
HOW_TO_GET = ("download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from https://image-net.org "
              "(an account is needed), unpack the train images into {folder}/train/<wnid>/ and the "
              "validation images into {folder}/val/<wnid>/ (sorted by class, e.g. with valprep.sh)")


def _wnid_folders(directory: Path) -> list[str]:
    # Only wnid-named folders: stray folders (lost+found, .ipynb_checkpoints) are not classes.
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and WNID.fullmatch(e.name))


def _images(split_dir: Path, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """Every image file under split_dir/<class>, class by class in sorted file order, and its label."""
    paths, targets = [], []
    for label, wnid in enumerate(classes):
        class_dir = os.path.join(split_dir, wnid)
        if not os.path.isdir(class_dir):
            continue
        names = sorted(e.name for e in os.scandir(class_dir)
                       if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        paths += [os.path.join(class_dir, n) for n in names]
        targets += [label] * len(names)
    return paths, np.asarray(targets, dtype=np.int64)


@DATASETS.register("imagenet")
def imagenet(split: str, root: Optional[str] = None, download: bool = False, transform=None,
             allow_partial: bool = False, **_) -> ImageFiles:
    """All 1000 classes; ``allow_partial`` accepts fewer wnid folders (for tests and subsets)."""
    check_split("imagenet", split, tuple(SPLIT_FOLDERS))
    folder = data_root(root) / "imagenet"
    split_dir = folder / SPLIT_FOLDERS[split]
    if not split_dir.is_dir():
        raise DatasetNotFoundError("imagenet", [str(split_dir)], HOW_TO_GET.format(folder=folder))
    # The class list is the union of both split folders, so that a label means the same wnid in train
    # and test even when (with allow_partial) one of them lacks some classes.
    classes = sorted(set().union(*(_wnid_folders(folder / f) for f in SPLIT_FOLDERS.values()
                                   if (folder / f).is_dir())))
    present = set(_wnid_folders(split_dir))
    if not allow_partial and (len(classes) != N_CLASSES or len(present) != N_CLASSES):
        raise ValueError(f"imagenet {split}: {split_dir} holds {len(present)} wnid folders ({len(classes)} over "
                         f"train and val) but ImageNet has {N_CLASSES}; pass allow_partial=True to use a subset")
    paths, targets = _images(split_dir, classes)
    return ImageFiles(paths, targets, classes, transform)


def imagenet100_classes() -> list[str]:
    """The 100 wnids of ImageNet-100, in the order CMC published them."""
    return [line.strip() for line in IMAGENET100_LIST.read_text().splitlines() if line.strip()]


@DATASETS.register("imagenet100")
def imagenet100(split: str, root: Optional[str] = None, download: bool = False, transform=None,
                **_) -> ImageFiles:
    """The 100 CMC classes; every one of their folders must be present."""
    check_split("imagenet100", split, tuple(SPLIT_FOLDERS))
    classes = sorted(imagenet100_classes())
    base = data_root(root)
    candidates = [base / name / SPLIT_FOLDERS[split] for name in ("imagenet100", "imagenet")]
    split_dir = next((d for d in candidates if d.is_dir()), None)
    if split_dir is None:
        raise DatasetNotFoundError("imagenet100", [str(d) for d in candidates],
                                   HOW_TO_GET.format(folder=base / "imagenet"))
    missing = [w for w in classes if not (split_dir / w).is_dir()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DatasetNotFoundError(
            "imagenet100", [f"{split_dir} (missing {len(missing)} of the 100 class folders: {shown})"],
            f"ImageNet-100 is these classes of ImageNet (list in {IMAGENET100_LIST}); "
            + HOW_TO_GET.format(folder=base / "imagenet"))
    paths, targets = _images(split_dir, classes)
    return ImageFiles(paths, targets, classes, transform)


# Pretraining sources (``data=imagenet100`` / ``data=imagenet``): the same files, streamed and decoded by
# DataLoader workers (benchmark/data/streamed.py), too many to hold in memory.
@DATASETS.register("imagenet100_stream")
def imagenet100_stream(split: str, root: Optional[str] = None, download: bool = False, decode_size: int = 256,
                       num_workers: Optional[int] = None, draft: bool = True, **_) -> StreamedImages:
    files = imagenet100(split, root)
    return StreamedImages(files.paths, files.targets, files.classes, decode_size, num_workers, draft)


@DATASETS.register("imagenet_stream")
def imagenet_stream(split: str, root: Optional[str] = None, download: bool = False, decode_size: int = 256,
                    num_workers: Optional[int] = None, draft: bool = True, allow_partial: bool = False,
                    **_) -> StreamedImages:
    files = imagenet(split, root, allow_partial=allow_partial)
    return StreamedImages(files.paths, files.targets, files.classes, decode_size, num_workers, draft)
