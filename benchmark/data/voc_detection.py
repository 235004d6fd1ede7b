"""PASCAL VOC object detection (Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge",
IJCV 2010): the 20 classes of ``benchmark.data.voc2007.CLASSES``, boxes read from the devkit's XML files.

Layout, as the official archives unpack in ``<root>``::

    <root>/VOCdevkit/VOC2007/Annotations/<image id>.xml      (and the same for VOC2012)
    <root>/VOCdevkit/VOC2007/ImageSets/Main/<list>.txt       one image id a line
    <root>/VOCdevkit/VOC2007/JPEGImages/<image id>.jpg

Splits (the usual detection protocol: train on 07+12 trainval, test on 07 test):
  - "07_trainval": VOC2007 trainval (5,011 images; VOCtrainval_06-Nov-2007.tar);
  - "12_trainval": VOC2012 trainval (11,540 images; VOCtrainval_11-May-2012.tar);
  - "0712_trainval": the union of both (16,551 images), VOC2007's images first;
  - "07_test": VOC2007 test (4,952 images; VOCtest_06-Nov-2007.tar, which holds its annotations).

Each ``<object>`` directly under ``<annotation>`` is one box (the ``<part>`` boxes of VOC2012's person
layouts are not objects). Boxes are the XML's 1-based inclusive pixel coordinates minus 1 on all four,
the convention of benchmark/data/dense_sets.py; a few VOC2012 files write them as floats (e.g.
2011_003353.xml, ``<ymin>45.70000076293945</ymin>``), which are kept as written. ``<difficult>`` is
missing from some VOC2012 objects and then reads 0. Difficult boxes are kept, as detectron2 keeps them
for training; the evaluator (tasks/dense/voc_ap.py) leaves them out of the AP.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from benchmark.data.dense_sets import DetectionFiles
from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import check_split, data_root
from benchmark.data.voc2007 import ARCHIVES as VOC2007_ARCHIVES
from benchmark.data.voc2007 import CLASSES
from benchmark.registry import DATASETS

# split -> the (year, image list) pairs it joins
SPLITS = {
    "07_trainval": (("2007", "trainval"),),
    "12_trainval": (("2012", "trainval"),),
    "0712_trainval": (("2007", "trainval"), ("2012", "trainval")),
    "07_test": (("2007", "test"),),
}
# (year, image list) -> the official archive holding it, with its MD5 (torchvision's mirror of
# host.robots.ox.ac.uk, as in voc2007.py; the MD5s are those of torchvision/datasets/voc.py)
ARCHIVES = {
    ("2007", "trainval"): VOC2007_ARCHIVES["trainval"],
    ("2007", "test"): VOC2007_ARCHIVES["test"],
    ("2012", "trainval"): ("https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                           "6cd6e144f989b92b3379bac3b3de84fd"),
}
_CLASS_INDEX = {name: k for k, name in enumerate(CLASSES)}


def _archive_name(key: tuple[str, str]) -> str:
    return ARCHIVES[key][0].rsplit("/", 1)[-1]


def _coordinate(box: ET.Element, tag: str, path: Path) -> float:
    node = box.find(tag)
    if node is None or not (node.text or "").strip():
        raise ValueError(f"{path}: a <bndbox> lacks <{tag}>")
    return float(node.text)  # "273" or "273.0" or "45.70000076293945"


def parse_annotation(path: Path) -> dict:
    """The boxes of one VOC XML file: ``boxes`` (K, 4) float32 0-based inclusive, ``labels`` (K,) int64,
    ``difficult`` (K,) bool."""
    root = ET.parse(path).getroot()
    boxes, labels, difficult = [], [], []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in _CLASS_INDEX:
            raise ValueError(f"{path}: unknown VOC class {name!r}; valid names: {', '.join(CLASSES)}")
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"{path}: object {name!r} has no <bndbox>")
        boxes.append([_coordinate(box, tag, path) - 1.0 for tag in ("xmin", "ymin", "xmax", "ymax")])
        labels.append(_CLASS_INDEX[name])
        flag = (obj.findtext("difficult") or "0").strip()
        difficult.append(bool(int(float(flag))))
    return {"boxes": torch.tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "difficult": torch.tensor(difficult, dtype=torch.bool)}


def _how_to_get(root: Path, keys) -> str:
    archives = " and ".join(ARCHIVES[k][0] for k in keys)
    return (f"download {archives} and unpack them in {root} (they make VOCdevkit/VOC2007 and "
            "VOCdevkit/VOC2012; the VOC2007 test annotations are in VOCtest_06-Nov-2007.tar), "
            "or pass download=True")


@DATASETS.register("voc_detection")
def voc_detection(split: str, root: Optional[str] = None, download: bool = False, **_) -> DetectionFiles:
    """Images of ``split`` ("07_trainval", "12_trainval", "0712_trainval" = VOC07 trainval + VOC12 trainval,
    or "07_test") with their boxes, labels indexing ``CLASSES`` and difficult flags."""
    check_split("voc_detection", split, tuple(SPLITS))
    root = data_root(root)
    keys = SPLITS[split]

    def list_file(year: str, name: str) -> Path:
        return root / "VOCdevkit" / f"VOC{year}" / "ImageSets" / "Main" / f"{name}.txt"

    if download:
        from torchvision.datasets.utils import download_and_extract_archive

        for key in keys:
            if not list_file(*key).is_file():
                url, md5 = ARCHIVES[key]
                download_and_extract_archive(url, download_root=str(root), md5=md5)
    missing_lists = [k for k in keys if not list_file(*k).is_file()]
    if missing_lists:
        raise DatasetNotFoundError("voc_detection", [str(list_file(*k)) for k in missing_lists],
                                   _how_to_get(root, missing_lists))

    paths, xmls = [], []
    for year, name in keys:
        folder = root / "VOCdevkit" / f"VOC{year}"
        ids = [line.strip() for line in list_file(year, name).read_text().splitlines() if line.strip()]
        paths += [folder / "JPEGImages" / f"{i}.jpg" for i in ids]
        xmls += [folder / "Annotations" / f"{i}.xml" for i in ids]
    missing = [str(p) for p in xmls + paths if not p.is_file()]
    if missing:
        shown = missing[:5] + ([f"... and {len(missing) - 5} more"] if len(missing) > 5 else [])
        raise DatasetNotFoundError("voc_detection", shown, _how_to_get(root, keys)
                                   + f" ({len(missing)} files named by the {split} image lists are missing)")
    return DetectionFiles(paths, [parse_annotation(p) for p in xmls], CLASSES)
