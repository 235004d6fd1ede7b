"""Loaders of the evaluation sets whose protocol torchvision's classes do not match, each on a tiny replica
of its official on-disk layout (real JPEG files, lists written as released); digits on the real data."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T

from benchmark.data import DatasetNotFoundError
from benchmark.data import caltech101 as caltech_module
from benchmark.data import digits as digits_module
from benchmark.data import imagenet as imagenet_module
from benchmark.data import sun397 as sun_module
from benchmark.data import voc2007 as voc_module
from benchmark.registry import DATASETS
from tests.helpers.replicas import (CALTECH_COUNTS, IMAGENET_TRAIN, VOC_FLAGS, VOC_SPLITS, write_caltech_replica,
                                    write_imagenet_replica, write_sun_replica, write_voc2007_replica)
from tests.helpers.replicas import OWN_FORMAT_COLOURS as COLOURS
from tests.helpers.replicas import write_own_format_jpeg as write_jpeg

TRANSFORM = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])


def assert_item(dataset, i: int, colour, target) -> None:
    image, label = dataset[i]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32
    # JPEG is lossy, but a flat colour comes back within a couple of levels
    expected = torch.tensor(colour, dtype=torch.float32).view(3, 1, 1) / 255
    assert (image - expected).abs().max() < 0.03
    assert torch.equal(label, torch.as_tensor(target, dtype=label.dtype))


def test_loaders_are_registered():
    for name, function in [("caltech101", caltech_module.caltech101), ("sun397", sun_module.sun397),
                           ("voc2007", voc_module.voc2007), ("imagenet", imagenet_module.imagenet),
                           ("imagenet100", imagenet_module.imagenet100), ("digits", digits_module.digits)]:
        assert DATASETS.get(name) is function


# ---------------------------------------------------------------------------------------------- Caltech-101


def test_caltech101_split(tmp_path):
    root = write_caltech_replica(tmp_path)
    train = caltech_module.caltech101("train", root=str(root), train_per_class=2, transform=TRANSFORM)
    test = caltech_module.caltech101("test", root=str(root), train_per_class=2, transform=TRANSFORM)
    # all folders, background included, sorted by name (upper case first), names untouched
    assert train.classes == test.classes == ["BACKGROUND_Google", "Faces", "accordion", "airplanes"]
    assert len(train) == 2 * 4 and len(test) == sum(CALTECH_COUNTS.values()) - 8
    assert train.targets.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert test.targets.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    assert not train.multilabel and train.targets.dtype == torch.int64
    # disjoint, and together every file, each under its own class
    on_disk = {str(p) for p in (root / "caltech101" / "101_ObjectCategories").glob("*/*.jpg")}
    assert not set(train.paths) & set(test.paths) and set(train.paths) | set(test.paths) == on_disk
    for dataset in (train, test):
        for path, label in zip(dataset.paths, dataset.targets.tolist()):
            assert Path(path).parent.name == dataset.classes[label]
    colour_of = dict(zip(CALTECH_COUNTS, COLOURS))
    assert_item(train, 0, colour_of["BACKGROUND_Google"], 0)
    assert_item(test, len(test) - 1, colour_of["airplanes"], 3)


def test_caltech101_split_is_seeded(tmp_path):
    root = write_caltech_replica(tmp_path / "a")
    def train_files(seed, where=root):
        dataset = caltech_module.caltech101("train", root=str(where), train_per_class=2, split_seed=seed)
        return [str(Path(p).relative_to(where)) for p in dataset.paths]
    assert train_files(0) == train_files(0)
    assert any(train_files(s) != train_files(0) for s in range(1, 5))
    # a class's draw does not depend on the other classes
    other = write_caltech_replica(tmp_path / "b", {"Faces": 4, "zebra": 5})
    faces = [f for f in train_files(0) if "/Faces/" in f]
    assert [f for f in train_files(0, other) if "/Faces/" in f] == faces


def test_caltech101_errors(tmp_path):
    root = write_caltech_replica(tmp_path)
    with pytest.raises(ValueError, match="valid splits: train, test"):
        caltech_module.caltech101("val", root=str(root))
    with pytest.raises(ValueError, match="'BACKGROUND_Google' has 5 images.*train_per_class=30"):
        caltech_module.caltech101("train", root=str(root))  # the protocol's 30 per class
    with pytest.raises(DatasetNotFoundError, match="101_ObjectCategories") as error:
        caltech_module.caltech101("train", root=str(tmp_path / "empty"))
    assert "caltech-101.zip" in str(error.value)


# ---------------------------------------------------------------------------------------------------- SUN397


@pytest.mark.parametrize("partitions_dir", ["Partitions", "."])
def test_sun397_partitions(tmp_path, partitions_dir):
    root = write_sun_replica(tmp_path, partitions_dir)
    train = sun_module.sun397("train", root=str(root), transform=TRANSFORM)
    test = sun_module.sun397("test", root=str(root), transform=TRANSFORM)
    assert train.classes == test.classes == ["abbey", "bakery/shop", "office"]
    assert (len(train), len(test)) == (4, 4)
    assert train.targets.tolist() == [0, 0, 1, 2] and test.targets.tolist() == [0, 1, 2, 2]
    assert train.paths[2] == str(root / "SUN397" / "b" / "bakery" / "shop" / "sun_abcdovdgiggfhvva.jpg")
    assert_item(train, 2, COLOURS[1], 1)
    assert_item(test, 3, COLOURS[2], 2)
    second = sun_module.sun397("train", root=str(root), partition=2)
    assert second.targets.tolist() == [2, 0]
    assert len(sun_module.sun397("test", root=str(root), partition=2)) == 1


def test_sun397_errors(tmp_path, monkeypatch):
    root = write_sun_replica(tmp_path)
    with pytest.raises(ValueError, match="valid splits: train, test"):
        sun_module.sun397("val", root=str(root))
    with pytest.raises(ValueError, match="1..10, got 11"):
        sun_module.sun397("train", root=str(root), partition=11)
    with pytest.raises(DatasetNotFoundError, match="Testing_03.txt") as error:
        sun_module.sun397("test", root=str(root), partition=3)
    assert "Partitions.zip" in str(error.value)
    with pytest.raises(DatasetNotFoundError, match="ClassName.txt"):
        sun_module.sun397("train", root=str(tmp_path / "empty"))
    # root=None reads $GANREP_DATA
    monkeypatch.setenv("GANREP_DATA", str(root))
    assert len(sun_module.sun397("train")) == 4
    (root / "SUN397" / "Partitions" / "Training_01.txt").write_text("/z/zoo/sun_aaaaaaaaaaaaaaaa.jpg\n")
    with pytest.raises(ValueError, match="'/z/zoo'"):
        sun_module.sun397("train")


# --------------------------------------------------------------------------------------------------- VOC2007


def expected_voc_targets(ids):
    targets = np.zeros((len(ids), 20), dtype=np.float32)
    for row, image_id in enumerate(ids):
        for class_name, flag in VOC_FLAGS[image_id].items():
            targets[row, voc_module.CLASSES.index(class_name)] = float(flag == 1)
    return targets


@pytest.mark.parametrize("split", ["train", "val", "trainval", "test"])
def test_voc2007_targets(tmp_path, split):
    root = write_voc2007_replica(tmp_path)
    dataset = voc_module.voc2007(split, root=str(root), transform=TRANSFORM)
    assert dataset.classes == voc_module.CLASSES and len(dataset.classes) == 20
    assert dataset.multilabel and dataset.targets.shape == (len(VOC_SPLITS[split]), 20)
    assert np.array_equal(dataset.targets.numpy(), expected_voc_targets(VOC_SPLITS[split]))
    assert [Path(p).name for p in dataset.paths] == [f"{i}.jpg" for i in VOC_SPLITS[split]]
    first = VOC_SPLITS[split][0]
    assert_item(dataset, 0, COLOURS[list(VOC_FLAGS).index(first)], expected_voc_targets([first])[0])


def test_voc2007_flags(tmp_path):
    """1 is present; -1 absent; 0 (difficult only) counts as absent."""
    dataset = voc_module.voc2007("trainval", root=str(write_voc2007_replica(tmp_path)))
    row = dict(zip(VOC_SPLITS["trainval"], dataset.targets.tolist()))
    index = voc_module.CLASSES.index
    assert row["000005"][index("chair")] == 1 and row["000005"][index("pottedplant")] == 0
    assert row["000016"][index("bicycle")] == 1 and row["000016"][index("person")] == 0
    assert row["000009"][index("person")] == 1
    assert sum(row["000012"]) == 0  # all -1
    difficult = dict(zip(VOC_SPLITS["trainval"], dataset.difficult.tolist()))  # the 0 flags, for the AP
    assert difficult["000005"][index("pottedplant")] and difficult["000016"][index("person")]
    assert not difficult["000005"][index("chair")] and not any(difficult["000012"])


def test_voc2007_errors(tmp_path):
    root = write_voc2007_replica(tmp_path, splits=("train", "val", "trainval"))  # the trainval archive only
    with pytest.raises(ValueError, match="valid splits: train, val, trainval, test"):
        voc_module.voc2007("testval", root=str(root))
    with pytest.raises(DatasetNotFoundError, match="test.txt") as error:
        voc_module.voc2007("test", root=str(root))
    assert "VOCtest_06-Nov-2007.tar" in str(error.value)
    (root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "dog_val.txt").write_text("000012 2\n000016 -1\n")
    with pytest.raises(ValueError, match="flag '2'"):
        voc_module.voc2007("val", root=str(root))
    (root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "dog_val.txt").write_text("000012 -1\n")
    with pytest.raises(ValueError, match="000016"):
        voc_module.voc2007("val", root=str(root))


# -------------------------------------------------------------------------------------------------- ImageNet


def test_imagenet_folders(tmp_path):
    root = write_imagenet_replica(tmp_path)
    train = imagenet_module.imagenet("train", root=str(root), allow_partial=True, transform=TRANSFORM)
    test = imagenet_module.imagenet("test", root=str(root), allow_partial=True, transform=TRANSFORM)
    assert train.classes == test.classes == sorted(IMAGENET_TRAIN)
    assert train.targets.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert test.targets.tolist() == [0, 0, 1]  # the labels of train, though val lacks a class
    assert all(Path(p).parent.parent.name == "val" for p in test.paths)
    assert Path(train.paths[0]).name == "n01440764_10026.JPEG"
    assert_item(train, 5, COLOURS[2], 2)
    assert_item(test, 2, COLOURS[1], 1)


def test_imagenet_errors(tmp_path):
    root = write_imagenet_replica(tmp_path)
    with pytest.raises(ValueError, match="3 wnid folders.*1000.*allow_partial"):
        imagenet_module.imagenet("train", root=str(root))
    with pytest.raises(ValueError, match="valid splits: train, test"):
        imagenet_module.imagenet("val", root=str(root), allow_partial=True)
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path / "none" / "imagenet" / "val"))):
        imagenet_module.imagenet("test", root=str(tmp_path / "none"), allow_partial=True)


def test_imagenet100_class_list():
    wnids = imagenet_module.imagenet100_classes()
    assert len(wnids) == 100 == len(set(wnids))
    assert all(re.fullmatch(r"n\d{8}", w) for w in wnids)
    assert wnids[:3] == ["n02869837", "n01749939", "n02488291"] and wnids[-1] == "n02090622"


def test_imagenet100(tmp_path):
    wnids = sorted(imagenet_module.imagenet100_classes())
    root = write_imagenet_replica(tmp_path)  # full-ImageNet folders, none of them in ImageNet-100
    assert not set(IMAGENET_TRAIN) & set(wnids)
    for wnid in wnids[:3]:
        write_jpeg(root / "imagenet" / "train" / wnid / f"{wnid}_1.JPEG", COLOURS[0], size=(8, 8))
    with pytest.raises(DatasetNotFoundError, match=f"missing 97 of the 100 class folders: {wnids[3]}"):
        imagenet_module.imagenet100("train", root=str(root))
    for k, wnid in enumerate(wnids):
        write_jpeg(root / "imagenet" / "train" / wnid / f"{wnid}_1.JPEG", COLOURS[k % len(COLOURS)], size=(8, 8))
    train = imagenet_module.imagenet100("train", root=str(root), transform=TRANSFORM)
    assert train.classes == wnids and train.targets.tolist() == list(range(100))
    assert all(Path(p).parent.name == wnids[t] for p, t in zip(train.paths, train.targets.tolist()))
    assert_item(train, 9, COLOURS[9 % len(COLOURS)], 9)
    with pytest.raises(ValueError, match="valid splits: train, test"):
        imagenet_module.imagenet100("val", root=str(root))
    with pytest.raises(DatasetNotFoundError, match="imagenet100"):
        imagenet_module.imagenet100("test", root=str(root))  # val holds none of the 100


def test_imagenet100_own_folder(tmp_path):
    """A copy of the subset in <root>/imagenet100 is read in preference to the full ImageNet folder."""
    wnids = sorted(imagenet_module.imagenet100_classes())
    for wnid in wnids:
        write_jpeg(tmp_path / "imagenet100" / "val" / wnid / "ILSVRC2012_val_00000001.JPEG", COLOURS[0], size=(8, 8))
    test = imagenet_module.imagenet100("test", root=str(tmp_path))
    assert len(test) == 100 and Path(test.paths[0]).parts[-3:-1] == ("val", wnids[0])


# ---------------------------------------------------------------------------------------------------- digits


def test_digits():
    train = digits_module.digits("train")
    test = digits_module.digits("test", transform=T.ToTensor())
    assert (len(train), len(test)) == (1257, 540) and len(train) + len(test) == 1797
    assert train.classes == [str(d) for d in range(10)]
    assert train.images.shape == (1257, 8, 8) and train.images.dtype == np.uint8
    # 0..16 scaled by 255/16: black to white, and nothing else
    levels = np.round(np.arange(17) * 255 / 16).astype(np.uint8)
    values = np.unique(np.concatenate([train.images.ravel(), test.images.ravel()]))
    assert values[0] == 0 and values[-1] == 255 and set(values) <= set(levels)
    # stratified: each class is 30% of test to within one image
    total = np.bincount(np.concatenate([train.targets.numpy(), test.targets.numpy()]), minlength=10)
    assert total.sum() == 1797
    assert np.all(np.abs(np.bincount(test.targets.numpy(), minlength=10) - 0.3 * total) <= 1)
    # seeded: the same split every time
    assert np.array_equal(digits_module.digits("train").images, train.images)
    image, label = test[0]
    assert image.shape == (3, 8, 8) and label == test.targets[0]
    with pytest.raises(ValueError, match="valid splits: train, test"):
        digits_module.digits("val")
