"""The torchvision-backed evaluation sets on tiny replicas of each official release layout.

Each ``write_*`` function of tests/helpers/replicas.py lays out a few images of three classes in the release's
own file formats (pickled CIFAR batches, STL-10 binaries, JPEGs with txt/json/.mat lists) and returns the
targets it wrote per split and the class names; the real torchvision classes then read them. Every image of a
class is filled with that class's colour, so a wrong label or a scrambled image shows up as a wrong colour.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms as T

from benchmark.data import aircraft, cars, cifar, dtd, flowers, food, pets, stl10  # noqa: F401  (registers)
from benchmark.data.errors import DatasetNotFoundError
from benchmark.registry import DATASETS
from tests.helpers.replicas import CASES
from tests.helpers.replicas import TORCHVISION_COLOURS as COLOURS
from tests.helpers.replicas import write_cars, write_dtd, write_lines, write_stl10

TRANSFORM = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])


def assert_item(ds, i: int, label: int) -> None:
    image, target = ds[i]
    assert image.shape == (3, 8, 8) and int(target) == label
    colour = torch.tensor(COLOURS[label], dtype=torch.float32)[:, None, None] / 255
    # the centre, away from STL-10's black band; JPEG leaves solid colours within a few levels
    assert (image[:, 2:6, 2:6] - colour).abs().max() < 0.05, f"item {i} is not the colour of class {label}"


@pytest.mark.parametrize("name", CASES)
def test_reads_replica(tmp_path, name):
    write, _, _ = CASES[name]
    expected, classes = write(tmp_path)
    load = DATASETS.get(name)
    loaded = {}
    for split, targets in expected.items():
        ds = loaded[split] = load(split, root=str(tmp_path), transform=TRANSFORM)
        assert len(ds) == len(targets)
        assert ds.targets.dtype == torch.int64 and ds.targets.tolist() == targets
        assert ds.classes == list(classes) and not ds.multilabel
        for i, label in enumerate(targets):
            assert_item(ds, i, label)
    if "trainval" in expected:
        assert loaded["trainval"].targets.tolist() == loaded["train"].targets.tolist() + loaded["val"].targets.tolist()


@pytest.mark.parametrize("name", CASES)
def test_bad_split_names_valid_ones(tmp_path, name):
    with pytest.raises(ValueError, match=f"'unlabeled'; valid splits: {CASES[name][1]}$"):
        DATASETS.get(name)("unlabeled", root=str(tmp_path))


@pytest.mark.parametrize("name", CASES)
def test_missing_folder_says_where_and_how(tmp_path, name):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as error:
        DATASETS.get(name)("train", root=str(root))
    message = str(error.value)
    assert str(root / CASES[name][2]) in message
    assert ("car_dataset.html" if name == "cars" else "download=true") in message


def test_stl10_column_major_layout(tmp_path):
    """Untransformed, the black band is across the top rows: rows and columns were not swapped."""
    write_stl10(tmp_path)
    image = np.asarray(DATASETS.get("stl10")("test", root=str(tmp_path))[0][0])
    assert image.shape == (96, 96, 3)
    assert (image[:12] == 0).all() and (image[12:] == COLOURS[1]).all()


def test_cars_ignores_download_flag(tmp_path):
    """torchvision's StanfordCars raises whenever download is true; the loader reads the files regardless."""
    write_cars(tmp_path)
    assert len(DATASETS.get("cars")("test", root=str(tmp_path), download=True)) == 3


def test_dtd_trainval_needs_the_same_classes_in_train_and_val(tmp_path):
    write_dtd(tmp_path)
    write_lines(tmp_path / "dtd" / "dtd" / "labels" / "val1.txt", ["banded/banded_0009.jpg"])
    with pytest.raises(ValueError, match="different classes"):
        DATASETS.get("dtd")("trainval", root=str(tmp_path))
