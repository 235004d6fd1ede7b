"""Loaders of the dense transfer sets (PASCAL VOC detection, ADE20K SceneParsing), each on a tiny replica of
its official on-disk layout: real JPEG and PNG files, XML and class lists written as released."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.data import DatasetNotFoundError, build_dataset
from benchmark.data import ade20k as ade_module
from benchmark.data import voc_detection as voc_module
from benchmark.data.dense_sets import IGNORE_INDEX, DetectionFiles, SegmentationFiles
from benchmark.data.voc2007 import CLASSES as VOC_CLASSES
from benchmark.registry import DATASETS
from tests.helpers.replicas import ADE_SPLITS
from tests.helpers.replicas import DENSE_COLOURS as COLOURS
from tests.helpers.replicas import VOC_IMAGES, write_ade_replica, write_object_info, write_voc_detection_replica


def assert_image(image: torch.Tensor, size, colour) -> None:
    width, height = size
    assert image.shape == (3, height, width) and image.dtype == torch.uint8
    # JPEG is lossy, but a flat colour comes back within a few levels
    assert (image.float() - torch.tensor(colour, dtype=torch.float32).view(3, 1, 1)).abs().max() <= 8


def test_loaders_are_registered():
    assert DATASETS.get("voc_detection") is voc_module.voc_detection
    assert DATASETS.get("ade20k") is ade_module.ade20k


# ------------------------------------------------------------------------------------------- VOC detection

# the targets the loader must give: the XML's 1-based coordinates minus 1 on all four
EXPECTED = {
    "000005": ([[2, 4, 9, 13], [11, 1, 19, 8]], ["chair", "pottedplant"], [False, True]),
    "000007": ([[0, 0, 23, 19]], ["car"], [False]),
    "000001": ([[1, 2, 14, 15], [7, 0, 19, 11]], ["dog", "person"], [False, False]),
    "2008_000008": ([[3, 5, 19, 17], [9, 1, 15, 16]], ["horse", "person"], [False, False]),
    "2011_003353": ([[2.0, 6.70000076293945, 19.0, 14.0]], ["bicycle"], [False]),
}
SPLIT_IDS = {"07_trainval": ["000005", "000007"], "12_trainval": ["2008_000008", "2011_003353"],
             "0712_trainval": ["000005", "000007", "2008_000008", "2011_003353"], "07_test": ["000001"]}


@pytest.mark.parametrize("split", list(SPLIT_IDS))
def test_voc_detection_targets(tmp_path, split):
    root = write_voc_detection_replica(tmp_path)
    dataset = voc_module.voc_detection(split, root=str(root))
    assert isinstance(dataset, DetectionFiles) and dataset.classes == VOC_CLASSES
    ids = SPLIT_IDS[split]
    assert len(dataset) == len(ids)
    assert [(Path(p).parent.parent.name, Path(p).stem) for p in dataset.paths] == \
        [(f"VOC{VOC_IMAGES[i][0]}", i) for i in ids]
    for k, image_id in enumerate(ids):
        image, target = dataset[k]
        assert_image(image, VOC_IMAGES[image_id][1], COLOURS[list(VOC_IMAGES).index(image_id)])
        boxes, names, difficult = EXPECTED[image_id]
        assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (len(names), 4)
        assert torch.equal(target["boxes"], torch.tensor(boxes, dtype=torch.float32))
        assert target["labels"].dtype == torch.int64
        assert target["labels"].tolist() == [VOC_CLASSES.index(n) for n in names]
        assert target["difficult"].dtype == torch.bool and target["difficult"].tolist() == difficult


def test_voc_detection_union_and_registry(tmp_path):
    root = write_voc_detection_replica(tmp_path)
    both = voc_module.voc_detection("0712_trainval", root=str(root))
    parts = [voc_module.voc_detection(s, root=str(root)) for s in ("07_trainval", "12_trainval")]
    assert both.paths == parts[0].paths + parts[1].paths and len(both) == 4
    test = voc_module.voc_detection("07_test", root=str(root))
    assert not set(test.paths) & set(both.paths)
    built = build_dataset({"name": "voc_detection", "root": str(root), "transform": None}, "07_test")
    assert built.paths == test.paths
    # the float VOC2012 coordinate, exactly as float32 makes it
    assert both.annotations[3]["boxes"][0, 1].item() == np.float32(7.70000076293945 - 1)
    # the <part> of the person is not an object of its own
    assert len(both.annotations[2]["labels"]) == 2


def test_voc_detection_errors(tmp_path):
    root = write_voc_detection_replica(tmp_path, lists=[("2007", "trainval"), ("2007", "test")])  # no VOC2012
    with pytest.raises(ValueError, match="valid splits: 07_trainval, 12_trainval, 0712_trainval, 07_test"):
        voc_module.voc_detection("trainval", root=str(root))
    with pytest.raises(DatasetNotFoundError, match=re.escape(
            str(root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main" / "trainval.txt"))) as error:
        voc_module.voc_detection("0712_trainval", root=str(root))
    assert "VOCtrainval_11-May-2012.tar" in str(error.value) and "VOC2007" not in str(error.value).split("To get")[0]
    with pytest.raises(DatasetNotFoundError, match="VOCtest_06-Nov-2007.tar"):
        voc_module.voc_detection("07_test", root=str(tmp_path / "empty"))
    folder = root / "VOCdevkit" / "VOC2007"
    (folder / "JPEGImages" / "000007.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(folder / "JPEGImages" / "000007.jpg"))):
        voc_module.voc_detection("07_trainval", root=str(root))
    xml = folder / "Annotations" / "000001.xml"
    xml.write_text(xml.read_text().replace("<name>dog</name>", "<name>doggo</name>"))
    message = r"000001\.xml: unknown VOC class 'doggo'; valid names: aeroplane, .*, tvmonitor"
    with pytest.raises(ValueError, match=message):
        voc_module.voc_detection("07_test", root=str(root))


# ------------------------------------------------------------------------------------------------ ADE20K


@pytest.mark.parametrize("split,folder", [("train", "training"), ("val", "validation")])
def test_ade20k_label_maps(tmp_path, split, folder):
    root = write_ade_replica(tmp_path)
    dataset = ade_module.ade20k(split, root=str(root))
    assert isinstance(dataset, SegmentationFiles)
    assert [Path(p).stem for p in dataset.images] == ADE_SPLITS[folder]
    assert [Path(p).stem for p in dataset.label_maps] == ADE_SPLITS[folder]
    assert all(Path(p).parent == root / "ADEChallengeData2016" / "annotations" / folder for p in dataset.label_maps)
    assert len(dataset.classes) == 150 and dataset.classes[0] == "wall"
    assert dataset.classes[1] == "building, edifice" and dataset.classes[7] == "bed"  # names stripped
    assert dataset.classes[21] == "class 22"  # its index is written "22 " (a trailing space)
    for i in range(len(dataset)):
        image, target = dataset[i]
        with Image.open(dataset.label_maps[i]) as png:
            raw = np.asarray(png)
        k = int(raw[0, 0]) - 17
        assert_image(image, (10, 8), COLOURS[k % len(COLOURS)])
        mask = target["mask"]
        assert mask.dtype == torch.int64 and mask.shape == (8, 10)
        expected = np.where(raw == 0, IGNORE_INDEX, raw.astype(np.int64) - 1)
        assert np.array_equal(mask.numpy(), expected)
        # pixel by pixel: 0 -> 255, 1 -> 0, 150 -> 149
        assert (mask[1:, :3] == IGNORE_INDEX).all() and (mask[1:, 3:6] == 0).all() and (mask[1:, 6:] == 149).all()


def test_ade20k_label_map_function():
    raw = np.array([[0, 1, 2], [149, 150, 151]], dtype=np.uint8)
    assert ade_module.reduce_zero_label(raw).tolist() == [[255, 0, 1], [148, 149, 255]]


def test_ade20k_errors(tmp_path):
    root = write_ade_replica(tmp_path)
    with pytest.raises(ValueError, match="valid splits: train, val"):
        ade_module.ade20k("test", root=str(root))
    images = tmp_path / "none" / "ADEChallengeData2016" / "images" / "validation"
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(images))) as error:
        ade_module.ade20k("val", root=str(tmp_path / "none"))
    assert "ADEChallengeData2016.zip" in str(error.value)
    assert len(build_dataset({"name": "ade20k", "root": str(root)}, "val")) == 2
    folder = root / "ADEChallengeData2016"
    (folder / "annotations" / "training" / "ADE_train_00000002.png").unlink()
    with pytest.raises(ValueError, match="ADE_train_00000002.jpg"):
        ade_module.ade20k("train", root=str(root))
    write_object_info(folder / "objectInfo150.txt", n=149)
    with pytest.raises(ValueError, match="objectInfo150.txt: expected the classes 1..150"):
        ade_module.ade20k("val", root=str(root))
    (folder / "objectInfo150.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="objectInfo150.txt"):
        ade_module.ade20k("val", root=str(root))
