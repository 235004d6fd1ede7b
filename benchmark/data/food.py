"""Food-101 (Bossard, Guillaumin, Van Gool, "Food-101 -- Mining Discriminative Components with Random Forests", ECCV 2014).

Read by torchvision's Food101 from the official release in <root>/food-101: ``meta/{train,test}.json``
({class: ["<class>/<image id>", ...]}) and the images in images/<class>/<image id>.jpg. Classes are
the sorted class names.
Splits: train (75,750), test (25,250). 101 classes.
"""
from __future__ import annotations

from typing import Optional

from torchvision.datasets import Food101

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import TorchvisionImages, check_split, data_root
from benchmark.registry import DATASETS

SPLITS = ("train", "test")


@DATASETS.register("food")
def food(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    check_split("food", split, SPLITS)
    root = data_root(root)
    try:
        dataset = Food101(str(root), split=split, download=download)
    except (RuntimeError, OSError) as e:  # torchvision: "Dataset not found"; a missing list; no network
        raise DatasetNotFoundError("food", [f"{root / 'food-101'} ({e})"],
                                   "run with download=true on a machine with internet") from e
    return TorchvisionImages(dataset, dataset._labels, dataset.classes, transform)
