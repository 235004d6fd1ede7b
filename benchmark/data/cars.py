"""Stanford Cars (Krause et al., "3D Object Representations for Fine-Grained Categorization", 3dRR 2013).

Read by torchvision's StanfordCars from the official release in <root>/stanford_cars:
``devkit/cars_meta.mat`` (``class_names``), ``devkit/cars_train_annos.mat`` and
``cars_test_annos_withlabels.mat`` (``annotations`` structs: bounding box, 1-based ``class``, ``fname``),
and the images in cars_train/ and cars_test/. Needs scipy to read the .mat files.
Splits: train (8,144), test (8,041). 196 classes.
"""
from __future__ import annotations

from typing import Optional

from torchvision.datasets import StanfordCars

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import TorchvisionImages, check_split, data_root
from benchmark.registry import DATASETS

SPLITS = ("train", "test")
HOW_TO_GET = (
    "the official site (https://ai.stanford.edu/~jkrause/cars/car_dataset.html) is offline and torchvision "
    "cannot download it; from a copy of the release, unpack car_devkit.tgz, cars_train.tgz and cars_test.tgz "
    "into <root>/stanford_cars (giving devkit/, cars_train/, cars_test/) and put "
    "cars_test_annos_withlabels.mat next to them"
)


@DATASETS.register("cars")
def cars(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    check_split("cars", split, SPLITS)
    root = data_root(root)
    # ``download`` is not passed on: torchvision's StanfordCars raises ValueError whenever it is true,
    # even with the files in place, as the release's URL is dead.
    try:
        dataset = StanfordCars(str(root), split=split)
    except (RuntimeError, OSError) as e:  # torchvision: "Dataset not found."; a missing .mat file
        raise DatasetNotFoundError("cars", [f"{root / 'stanford_cars'} ({e})"], HOW_TO_GET) from e
    targets = [label for _, label in dataset._samples]
    return TorchvisionImages(dataset, targets, dataset.classes, transform)
