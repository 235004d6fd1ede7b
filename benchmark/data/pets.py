"""Oxford-IIIT Pet (Parkhi, Vedaldi, Zisserman, Jawahar, "Cats and Dogs", CVPR 2012).

Read by torchvision's OxfordIIITPet (breed labels, target_types="category") from the official release
in <root>/oxford-iiit-pet: ``annotations/{trainval,test}.txt`` ("<image id> <class id> <species>
<breed id>" lines, 1-based class ids) and images/<image id>.jpg. Class names come from the image ids
("american_bulldog_12" -> "American Bulldog").
Splits: train (the release's trainval list, its only training list: 3,680), test (3,669). 37 classes.
"""
from __future__ import annotations

from typing import Optional

from torchvision.datasets import OxfordIIITPet

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import TorchvisionImages, check_split, data_root
from benchmark.registry import DATASETS

SPLITS = ("train", "test")
RELEASE_SPLIT = {"train": "trainval", "test": "test"}


@DATASETS.register("pets")
def pets(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    check_split("pets", split, SPLITS)
    root = data_root(root)
    try:
        dataset = OxfordIIITPet(str(root), split=RELEASE_SPLIT[split], target_types="category", download=download)
    except (RuntimeError, OSError) as e:  # torchvision: "Dataset not found"; a missing list; no network
        raise DatasetNotFoundError("pets", [f"{root / 'oxford-iiit-pet'} ({e})"],
                                   "run with download=true on a machine with internet") from e
    return TorchvisionImages(dataset, dataset._labels, dataset.classes, transform)
