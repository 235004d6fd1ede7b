"""ADE20K SceneParsing, the 150-class benchmark of the MIT Scene Parsing Challenge 2016 (Zhou et al.,
"Scene Parsing through ADE20K Dataset", CVPR 2017), as released in ADEChallengeData2016.zip.

Layout, as the zip unpacks in ``<root>``::

    <root>/ADEChallengeData2016/images/training/ADE_train_00000001.jpg      (20,210 images)
    <root>/ADEChallengeData2016/annotations/training/ADE_train_00000001.png (the same stem)
    <root>/ADEChallengeData2016/images/validation/ADE_val_00000001.jpg      (2,000 images)
    <root>/ADEChallengeData2016/annotations/validation/ADE_val_00000001.png
    <root>/ADEChallengeData2016/objectInfo150.txt                           the class list
    <root>/ADEChallengeData2016/sceneCategories.txt                         scene labels (unused here)

Splits: "train" (images/training) and "val" (images/validation); the test images have no released
annotations. Annotations are 8-bit PNGs holding 0 ("other objects", which the challenge does not score)
or a class 1..150. Targets use mmsegmentation's ``reduce_zero_label``: raw 0 -> ``IGNORE_INDEX``, raw k ->
k - 1, so classes are 0..149 (any raw value above 150 is ignored too).

Class names are read from the release's objectInfo150.txt (tab-separated columns Idx, Ratio, Train,
Val, Name, one row per class 1..150): each is its Name as written, synonyms included ("wall",
"building, edifice", ...); ``name.split(",")[0]`` gives the short form.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from benchmark.data.dense_sets import IGNORE_INDEX, SegmentationFiles
from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import check_split, data_root
from benchmark.registry import DATASETS

SPLIT_FOLDERS = {"train": "training", "val": "validation"}
N_CLASSES = 150
# The release and its MD5 (as used by several public loaders of this zip; gluoncv gives its SHA-1,
# 219e1696abb36c8ba3a3afe7fb2f4b4606a897c7).
URL = "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip"
MD5 = "7328b3957e407ddae1d3cbf487f149ef"


def reduce_zero_label(raw: np.ndarray) -> np.ndarray:
    """An annotation PNG's array (0 unlabelled, 1..150 classes) as int64 class indices 0..149, with
    ``IGNORE_INDEX`` where the PNG holds 0 (or anything above 150)."""
    raw = np.asarray(raw)
    mask = raw.astype(np.int64) - 1
    mask[(raw == 0) | (raw > N_CLASSES)] = IGNORE_INDEX
    return mask


def read_class_names(path: Path) -> list[str]:
    """The 150 names of objectInfo150.txt in index order."""
    rows = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        columns = [c.strip() for c in line.split("\t")]
        if not line.strip() or columns[0] == "Idx":
            continue
        if len(columns) < 5 or not columns[0].isdigit():
            raise ValueError(f"{path}, line {number}: expected 5 tab-separated columns (Idx, Ratio, Train, "
                             f"Val, Name), got {line!r}")
        rows[int(columns[0])] = columns[-1]
    if sorted(rows) != list(range(1, N_CLASSES + 1)):
        raise ValueError(f"{path}: expected the classes 1..{N_CLASSES}, got {len(rows)} rows")
    return [rows[k] for k in range(1, N_CLASSES + 1)]


@DATASETS.register("ade20k")
def ade20k(split: str, root: Optional[str] = None, download: bool = False, **_) -> SegmentationFiles:
    """Images of ``split`` ("train" or "val") with their label maps, classes 0..149, 255 ignored."""
    check_split("ade20k", split, tuple(SPLIT_FOLDERS))
    root = data_root(root)
    folder = root / "ADEChallengeData2016"
    image_dir = folder / "images" / SPLIT_FOLDERS[split]
    label_dir = folder / "annotations" / SPLIT_FOLDERS[split]
    class_file = folder / "objectInfo150.txt"
    needed = [image_dir, label_dir, class_file]
    if download and not all(p.exists() for p in needed):
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(URL, download_root=str(root), md5=MD5)
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise DatasetNotFoundError(
            "ade20k", missing,
            f"download {URL} and unpack it in {root} (it makes ADEChallengeData2016), or pass download=True")

    stems = sorted(e.name[:-4] for e in os.scandir(image_dir) if e.is_file() and e.name.endswith(".jpg"))
    if not stems:
        raise DatasetNotFoundError("ade20k", [f"{image_dir} (no .jpg images)"],
                                   f"download {URL} and unpack it in {root}, or pass download=True")
    labelled = {e.name[:-4] for e in os.scandir(label_dir) if e.is_file() and e.name.endswith(".png")}
    unlabelled = [s for s in stems if s not in labelled]
    if unlabelled:
        raise ValueError(f"ade20k {split}: {len(unlabelled)} images have no annotation in {label_dir}, e.g. "
                         f"{image_dir / (unlabelled[0] + '.jpg')} (expected {label_dir / (unlabelled[0] + '.png')})")
    images = [image_dir / f"{s}.jpg" for s in stems]
    label_maps = [label_dir / f"{s}.png" for s in stems]
    return SegmentationFiles(images, label_maps, read_class_names(class_file), reduce_zero_label)
