"""The torchvision-backed evaluation sets on tiny replicas of each official release layout.

Each ``write_*`` function lays out a few images of three classes in the release's own file formats
(pickled CIFAR batches, STL-10 binaries, JPEGs with txt/json/.mat lists) and returns the targets it
wrote per split and the class names; the real torchvision classes then read them. Every image of a
class is filled with that class's colour, so a wrong label or a scrambled image shows up as a wrong colour.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from torchvision.datasets import Flowers102

from benchmark.data import aircraft, cars, cifar, dtd, flowers, food, pets, stl10  # noqa: F401  (registers)
from benchmark.data.errors import DatasetNotFoundError
from benchmark.registry import DATASETS

COLOURS = [(220, 40, 40), (40, 200, 60), (50, 60, 230)]  # the colour of every image of class 0, 1, 2
TRANSFORM = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])


def write_jpeg(path: Path, label: int, size=(20, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, COLOURS[label]).save(path, quality=95)


def write_lines(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def solid_images(labels, size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 images, each in its label's colour."""
    return np.stack([np.full((size, size, 3), COLOURS[label], np.uint8) for label in labels])


def pickle_dump(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def cifar_rows(labels) -> np.ndarray:
    """(N, 3072): the 32x32 red plane, then green, then blue, as in the CIFAR python batches."""
    return solid_images(labels, 32).transpose(0, 3, 1, 2).reshape(len(labels), 3072)


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10(root: Path):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{k}": [k % 3, (k + 1) % 3] for k in range(1, 6)}
    batches["test_batch"] = [2, 0, 1]
    for name, labels in batches.items():
        pickle_dump(folder / name, {"batch_label": f"{name} of 5", "labels": labels, "data": cifar_rows(labels),
                                    "filenames": [f"img_{i}.png" for i in range(len(labels))]})
    pickle_dump(folder / "batches.meta", {"num_cases_per_batch": 2, "label_names": CIFAR10_CLASSES, "num_vis": 3072})
    train = [label for k in range(1, 6) for label in batches[f"data_batch_{k}"]]
    return {"train": train, "test": [2, 0, 1]}, CIFAR10_CLASSES


def write_cifar100(root: Path):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    splits = {"train": [0, 1, 2, 1], "test": [1, 0, 2]}
    for name, fine in splits.items():
        pickle_dump(folder / name, {"filenames": [f"img_{i}.png" for i in range(len(fine))], "batch_label": name,
                                    "fine_labels": fine, "coarse_labels": [0] * len(fine), "data": cifar_rows(fine)})
    classes = ["apple", "aquarium_fish", "baby"]
    pickle_dump(folder / "meta", {"fine_label_names": classes, "coarse_label_names": ["fruit_and_vegetables"]})
    return splits, classes


STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def stl10_bytes(labels) -> bytes:
    """96x96 images in the class colour with a black band over their top 12 rows, written as the release
    does: per image, channel by channel, each channel column-major (the transposed HxW plane)."""
    images = solid_images(labels, 96)
    images[:, :12] = 0
    return images.transpose(0, 3, 2, 1).tobytes()


def write_stl10(root: Path):
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    splits = {"train": [0, 2, 1, 1], "test": [1, 2, 0]}
    for name, labels in splits.items():
        (folder / f"{name}_X.bin").write_bytes(stl10_bytes(labels))
        (folder / f"{name}_y.bin").write_bytes(bytes(label + 1 for label in labels))  # 1-based
    (folder / "unlabeled_X.bin").write_bytes(stl10_bytes([0, 0]))
    write_lines(folder / "class_names.txt", STL10_CLASSES)
    write_lines(folder / "fold_indices.txt", ["0 1 2 3"] * 10)
    return splits, STL10_CLASSES


def write_aircraft(root: Path):
    data = root / "fgvc-aircraft-2013b" / "data"
    classes = ["707-320", "F/A-18", "Hawk T1"]  # real variant names, with a slash and a space
    write_lines(data / "variants.txt", classes)
    ids = {"train": ["0034309", "0062765", "1042824"], "val": ["0056978", "0711787", "1191410"],
           "test": ["0038175", "0067585", "1908367", "2160386"]}
    splits = {"train": [0, 1, 2], "val": [2, 0, 1], "test": [1, 1, 0, 2]}
    ids["trainval"], splits["trainval"] = ids["train"] + ids["val"], splits["train"] + splits["val"]
    for split, labels in splits.items():
        write_lines(data / f"images_variant_{split}.txt", [f"{i} {classes[y]}" for i, y in zip(ids[split], labels)])
        for image_id, label in zip(ids[split], labels):
            write_jpeg(data / "images" / f"{image_id}.jpg", label)
    return splits, classes


def write_cars(root: Path):
    import scipy.io

    base = root / "stanford_cars"
    classes = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012"]
    (base / "devkit").mkdir(parents=True)
    scipy.io.savemat(base / "devkit" / "cars_meta.mat", {"class_names": np.array([classes], dtype=object)})
    splits = {"train": [0, 2, 1, 0], "test": [2, 1, 0]}
    for split, mat in (("train", base / "devkit" / "cars_train_annos.mat"),
                       ("test", base / "cars_test_annos_withlabels.mat")):
        fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
        annotations = np.zeros((1, len(splits[split])), dtype=[(f, "O") for f in fields])
        for i, label in enumerate(splits[split]):
            fname = f"{i + 1:05d}.jpg"
            annotations[0, i] = (np.uint8(1), np.uint8(1), np.uint8(18), np.uint8(14), np.uint8(label + 1), fname)
            write_jpeg(base / f"cars_{split}" / fname, label)
        scipy.io.savemat(mat, {"annotations": annotations})
    return splits, classes


def write_dtd(root: Path):
    data = root / "dtd" / "dtd"
    classes = ["banded", "blotchy", "braided"]
    numbers = {"train": [2, 8, 5, 1], "val": [9, 3, 4], "test": [6, 7, 10]}
    labels = {"train": [0, 0, 1, 2], "val": [0, 1, 2], "test": [0, 1, 2]}  # the release lists are sorted by class
    for split in numbers:
        names = [f"{classes[y]}/{classes[y]}_{n:04d}.jpg" for n, y in zip(numbers[split], labels[split])]
        write_lines(data / "labels" / f"{split}1.txt", names)
        for name, label in zip(names, labels[split]):
            write_jpeg(data / "images" / name, label)
    labels["trainval"] = labels["train"] + labels["val"]
    return labels, classes


def write_flowers(root: Path):
    import scipy.io

    base = root / "flowers-102"
    image_labels = [0, 1, 2, 2, 1, 0, 0, 1, 2]  # the class of image_00001.jpg, image_00002.jpg, ...
    for number, label in enumerate(image_labels, 1):
        write_jpeg(base / "jpg" / f"image_{number:05d}.jpg", label)
    scipy.io.savemat(base / "imagelabels.mat", {"labels": np.array([image_labels], np.uint8) + 1})
    ids = {"trnid": [1, 5, 9], "valid": [2, 6], "tstid": [8, 3, 4, 7]}
    scipy.io.savemat(base / "setid.mat", {key: np.array([v], np.uint16) for key, v in ids.items()})
    splits = {split: [image_labels[i - 1] for i in ids[key]]
              for split, key in (("train", "trnid"), ("val", "valid"), ("test", "tstid"))}
    splits["trainval"] = splits["train"] + splits["val"]
    return splits, Flowers102.classes


def write_food(root: Path):
    base = root / "food-101"
    # the json keys are not in sorted order: labels must follow the sorted class names regardless
    lists = {"train": {"beignets": ["beignets/1005", "beignets/2301"], "apple_pie": ["apple_pie/1043"],
                       "churros": ["churros/9910", "churros/1204"]},
             "test": {"beignets": ["beignets/3002"], "apple_pie": ["apple_pie/7777", "apple_pie/101"],
                      "churros": ["churros/4004"]}}
    classes = sorted(lists["train"])
    (base / "meta").mkdir(parents=True)
    splits = {}
    for split, by_class in lists.items():
        (base / "meta" / f"{split}.json").write_text(json.dumps(by_class))
        splits[split] = [classes.index(c) for c, images in by_class.items() for _ in images]
        for c, images in by_class.items():
            for image in images:
                write_jpeg(base / "images" / f"{image}.jpg", classes.index(c))
    return splits, classes


def write_pets(root: Path):
    base = root / "oxford-iiit-pet"
    breeds = [("Abyssinian", 1, 1), ("american_bulldog", 2, 1), ("american_pit_bull_terrier", 2, 2)]
    items = {"trainval": [(0, 100), (1, 12), (2, 7), (0, 3)], "test": [(2, 1), (1, 5), (0, 9)]}
    for split, pairs in items.items():
        lines = []
        for label, number in pairs:
            breed, species, breed_id = breeds[label]
            lines.append(f"{breed}_{number} {label + 1} {species} {breed_id}")
            write_jpeg(base / "images" / f"{breed}_{number}.jpg", label)
        write_lines(base / "annotations" / f"{split}.txt", lines)
    splits = {"train": [label for label, _ in items["trainval"]], "test": [label for label, _ in items["test"]]}
    return splits, ["Abyssinian", "American Bulldog", "American Pit Bull Terrier"]


# name -> (replica writer, the valid splits the error must name, the release folder under root)
CASES = {
    "cifar10": (write_cifar10, "train, test", "cifar-10-batches-py"),
    "cifar100": (write_cifar100, "train, test", "cifar-100-python"),
    "stl10": (write_stl10, "train, test", "stl10_binary"),
    "aircraft": (write_aircraft, "train, val, trainval, test", "fgvc-aircraft-2013b"),
    "cars": (write_cars, "train, test", "stanford_cars"),
    "dtd": (write_dtd, "train, val, trainval, test", "dtd"),
    "flowers": (write_flowers, "train, val, trainval, test", "flowers-102"),
    "food": (write_food, "train, test", "food-101"),
    "pets": (write_pets, "train, test", "oxford-iiit-pet"),
}


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
