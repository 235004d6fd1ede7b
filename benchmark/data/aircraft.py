"""FGVC-Aircraft (Maji et al., "Fine-Grained Visual Classification of Aircraft", arXiv:1306.5151, 2013).

Read by torchvision's FGVCAircraft at the "variant" level (e.g. "Boeing 737-700") from the official
release in <root>/fgvc-aircraft-2013b/data: ``variants.txt`` (the class names, one a line),
``images_variant_{train,val,trainval,test}.txt`` ("<image id> <variant>" lines) and images/<id>.jpg.
Splits: train, val, trainval, test (the release's own lists, about 3.3k/3.3k/6.7k/3.3k images).
100 classes.
"""
from __future__ import annotations

from typing import Optional

from torchvision.datasets import FGVCAircraft

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import TorchvisionImages, check_split, data_root
from benchmark.registry import DATASETS

SPLITS = ("train", "val", "trainval", "test")


@DATASETS.register("aircraft")
def aircraft(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    check_split("aircraft", split, SPLITS)
    root = data_root(root)
    try:
        dataset = FGVCAircraft(str(root), split=split, annotation_level="variant", download=download)
    except (RuntimeError, OSError) as e:  # torchvision: "Dataset not found"; a missing list; no network
        raise DatasetNotFoundError("aircraft", [f"{root / 'fgvc-aircraft-2013b'} ({e})"],
                                   "run with download=true on a machine with internet") from e
    return TorchvisionImages(dataset, dataset._labels, dataset.classes, transform)
