"""Describable Textures Dataset (Cimpoi et al., "Describing Textures in the Wild", CVPR 2014).

Read by torchvision's DTD from the official release (dtd-r1.0.1) in <root>/dtd/dtd: the split lists
``labels/{train,val,test}1.txt`` ("<class>/<class>_<number>.jpg" lines) of partition 1 (of the ten the
release defines) and the images in images/<class>/. Classes are the sorted folder names.
Splits: train, val, trainval (= train1 + val1), test; 1,880 images each (3,760 for trainval). 47 classes.
"""
from __future__ import annotations

from typing import Optional

from torch.utils.data import ConcatDataset
from torchvision.datasets import DTD

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import TorchvisionImages, check_split, data_root
from benchmark.registry import DATASETS

SPLITS = ("train", "val", "trainval", "test")


@DATASETS.register("dtd")
def dtd(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    check_split("dtd", split, SPLITS)
    root = data_root(root)
    try:
        # torchvision has no trainval split: concatenate the train and val lists
        parts = [DTD(str(root), split=s, partition=1, download=download)
                 for s in (["train", "val"] if split == "trainval" else [split])]
    except (RuntimeError, OSError) as e:  # torchvision: "Dataset not found"; a missing list; no network
        raise DatasetNotFoundError("dtd", [f"{root / 'dtd' / 'dtd'} ({e})"],
                                   "run with download=true on a machine with internet") from e
    # torchvision names the classes found in each list: the indices agree only if both lists have them all
    if any(part.classes != parts[0].classes for part in parts):
        raise ValueError(f"dtd train1 and val1 lists name different classes under {root / 'dtd' / 'dtd'}")
    targets = [label for part in parts for label in part._labels]
    return TorchvisionImages(ConcatDataset(parts), targets, parts[0].classes, transform)
