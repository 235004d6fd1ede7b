"""scikit-learn's 8x8 handwritten digits, an embedded transfer target that needs no download.

The 1797 images of ``sklearn.datasets.load_digits``, which ships with scikit-learn: the test part of
the UCI "Optical Recognition of Handwritten Digits" set (Alpaydin, Kaynak, 1998), 32x32 bitmaps of
digits reduced to 8x8 by counting the set pixels in each 4x4 block, so every value is 0..16. They are
scaled to uint8 by *255/16, rounded. There is no official split: train and test are a stratified 70/30
split with a fixed seed (``train_test_split(test_size=0.3, stratify=labels, random_state=0)``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from benchmark.data.image_sets import ArrayImages, check_split
from benchmark.registry import DATASETS

CLASSES = [str(d) for d in range(10)]
SPLITS = ("train", "test")


@DATASETS.register("digits")
def digits(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_) -> ArrayImages:
    """(N, 8, 8) uint8 images: 1257 for "train", 540 for "test"."""
    check_split("digits", split, SPLITS)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:  # scikit-learn is not a dependency of the suite itself
        raise ImportError("the digits dataset ships with scikit-learn: pip install scikit-learn") from e
    data = load_digits()
    images = np.round(data.images * (255 / 16)).astype(np.uint8)
    labels = data.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(images, labels, test_size=0.3, stratify=labels,
                                                        random_state=0)
    if split == "train":
        return ArrayImages(train_x, train_y, CLASSES, transform)
    return ArrayImages(test_x, test_y, CLASSES, transform)
