"""Tiny replicas of the official releases of every dataset the suite reads, each in its release's own on-disk
layout and file formats (idx files, pickled batches, binaries, real JPEG and PNG files, txt/json/xml/.mat lists,
HDF5), with the tables that say what each replica holds.

Sections: Fashion-MNIST; the evaluation sets with loaders of their own (Caltech-101, SUN397, VOC2007
classification, ImageNet, ImageNet-100); the torchvision-backed evaluation sets (``CASES``); the dense sets
(VOC detection, ADE20K, NYUv2 surface normals).
"""
from __future__ import annotations

import gzip
import json
import pickle
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np
from PIL import Image
from torchvision.datasets import Flowers102

from benchmark.data.imagenet import imagenet100_classes
from benchmark.data.voc2007 import CLASSES as VOC_CLASSES

# ---------------------------------------------------------------------------------------------- Fashion-MNIST


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """The idx format of the MNIST family: 0, 0, dtype code 0x08 (uint8), ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def write_fashion_mnist_replica(root: Path, n_train: int = 200, n_test: int = 100, gz: bool = True, seed: int = 0):
    """Class-dependent 28x28 images (a bright bar whose row is the class) so a linear model can learn them."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label: 4 + 2 * label, 4:24] = 255
        write_idx(root / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return root


# ======================================================================== evaluation sets with loaders of their own

OWN_FORMAT_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
                      (128, 128, 128)]


def write_own_format_jpeg(path: Path, colour, size=(12, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)
    return path


# ---------------------------------------------------------------------------------------------- Caltech-101

CALTECH_COUNTS = {"BACKGROUND_Google": 5, "Faces": 4, "accordion": 6, "airplanes": 3}


def write_caltech_replica(root: Path, counts=CALTECH_COUNTS) -> Path:
    """<root>/caltech101/101_ObjectCategories/<class>/image_0001.jpg .. as the release unpacks."""
    for k, (name, n) in enumerate(counts.items()):
        for j in range(1, n + 1):
            write_own_format_jpeg(root / "caltech101" / "101_ObjectCategories" / name / f"image_{j:04d}.jpg",
                                  OWN_FORMAT_COLOURS[k])
    return root


# ---------------------------------------------------------------------------------------------------- SUN397

SUN_CLASSES = ["/a/abbey", "/b/bakery/shop", "/o/office"]
SUN_IMAGES = {  # class path -> image names (sun_ + 16 letters, as released)
    "/a/abbey": ["sun_aaalbzqrimafwbiv.jpg", "sun_aacphuqehdodwawg.jpg", "sun_abakkvmkynsmtuqo.jpg"],
    "/b/bakery/shop": ["sun_aabywezfxytvjrbw.jpg", "sun_abcdovdgiggfhvva.jpg"],
    "/o/office": ["sun_aadgjlzdjgczqbqz.jpg", "sun_aeqnucwrmxgrrekd.jpg", "sun_agduyshjekghutbr.jpg"],
}
SUN_PARTITIONS = {  # list name -> lines, as in Partitions.zip
    "Training_01.txt": ["/a/abbey/sun_aaalbzqrimafwbiv.jpg", "/a/abbey/sun_abakkvmkynsmtuqo.jpg",
                        "/b/bakery/shop/sun_abcdovdgiggfhvva.jpg", "/o/office/sun_aadgjlzdjgczqbqz.jpg"],
    "Testing_01.txt": ["/a/abbey/sun_aacphuqehdodwawg.jpg", "/b/bakery/shop/sun_aabywezfxytvjrbw.jpg",
                       "/o/office/sun_aeqnucwrmxgrrekd.jpg", "/o/office/sun_agduyshjekghutbr.jpg"],
    "Training_02.txt": ["/o/office/sun_agduyshjekghutbr.jpg", "/a/abbey/sun_aacphuqehdodwawg.jpg"],
    "Testing_02.txt": ["/b/bakery/shop/sun_aabywezfxytvjrbw.jpg"],
}


def write_sun_replica(root: Path, partitions_dir: str = "Partitions") -> Path:
    folder = root / "SUN397"
    for k, class_path in enumerate(SUN_CLASSES):
        for name in SUN_IMAGES[class_path]:
            write_own_format_jpeg(folder / class_path.lstrip("/") / name, OWN_FORMAT_COLOURS[k])
    (folder / "ClassName.txt").write_text("".join(c + "\n" for c in SUN_CLASSES))
    (folder / partitions_dir).mkdir(parents=True, exist_ok=True)
    for name, lines in SUN_PARTITIONS.items():
        (folder / partitions_dir / name).write_text("".join(line + "\n" for line in lines))
    return root


# ------------------------------------------------------------------------------------ VOC2007 classification

VOC_SPLITS = {"train": ["000005", "000007", "000009"], "val": ["000012", "000016"], "test": ["000001", "000002"]}
VOC_SPLITS["trainval"] = sorted(VOC_SPLITS["train"] + VOC_SPLITS["val"])
# image id -> the classes whose flag is not -1 (1 present, 0 difficult only)
VOC_FLAGS = {
    "000005": {"chair": 1, "pottedplant": 0},
    "000007": {"car": 1},
    "000009": {"horse": 1, "person": 1},
    "000012": {},
    "000016": {"bicycle": 1, "person": 0},
    "000001": {"dog": 1, "person": 1},
    "000002": {"train": 1, "aeroplane": 0},
}


def write_voc2007_replica(root: Path, splits=("train", "val", "trainval", "test")) -> Path:
    """VOC2007's classification lists: ImageSets/Main/<split>.txt and <class>_<split>.txt, with JPEGImages."""
    folder = root / "VOCdevkit" / "VOC2007"
    main = folder / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    for k, image_id in enumerate(VOC_FLAGS):
        write_own_format_jpeg(folder / "JPEGImages" / f"{image_id}.jpg", OWN_FORMAT_COLOURS[k])
    for split in splits:
        ids = VOC_SPLITS[split]
        (main / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
        for class_name in VOC_CLASSES:
            # as released: "000005 -1", "000007  1", "000009  0" (the flag right-aligned in 2 columns)
            lines = [f"{i} {VOC_FLAGS[i].get(class_name, -1):2d}\n" for i in ids]
            (main / f"{class_name}_{split}.txt").write_text("".join(lines))
    return root


# -------------------------------------------------------------------------------------------------- ImageNet

IMAGENET_TRAIN = {"n01440764": 3, "n01443537": 2, "n01484850": 4}
IMAGENET_VAL = {"n01440764": 2, "n01443537": 1}  # n01484850 has no val folder here


def write_imagenet_replica(root: Path) -> Path:
    colour_of = dict(zip(IMAGENET_TRAIN, OWN_FORMAT_COLOURS))
    for wnid, n in IMAGENET_TRAIN.items():
        for j in range(n):
            write_own_format_jpeg(root / "imagenet" / "train" / wnid / f"{wnid}_{10026 + j}.JPEG", colour_of[wnid])
    number = 293
    for wnid, n in IMAGENET_VAL.items():
        for j in range(n):
            write_own_format_jpeg(root / "imagenet" / "val" / wnid / f"ILSVRC2012_val_{number:08d}.JPEG",
                                  colour_of[wnid])
            number += 1
    (root / "imagenet" / "train" / "lost+found").mkdir()  # not a wnid, not a class
    return root


def write_imagenet100_replica(root: Path) -> Path:
    """Two train images and one val image of each ImageNet-100 class, in the full ImageNet folders."""
    for k, wnid in enumerate(sorted(imagenet100_classes())):
        colour = (k * 2, 255 - k * 2, (k * 37) % 256)
        write_own_format_jpeg(root / "imagenet" / "train" / wnid / f"{wnid}_1.JPEG", colour)
        write_own_format_jpeg(root / "imagenet" / "train" / wnid / f"{wnid}_2.JPEG", colour)
        write_own_format_jpeg(root / "imagenet" / "val" / wnid / f"ILSVRC2012_val_{k + 1:08d}.JPEG", colour)
    return root


# ============================================================================ torchvision-backed evaluation sets
# Each write_* lays out a few images of three classes and returns the targets it wrote per split and the class
# names. Every image of a class is filled with that class's colour, so a wrong label or a scrambled image shows
# up as a wrong colour.

TORCHVISION_COLOURS = [(220, 40, 40), (40, 200, 60), (50, 60, 230)]  # the colour of every image of class 0, 1, 2


def write_torchvision_jpeg(path: Path, label: int, size=(20, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, TORCHVISION_COLOURS[label]).save(path, quality=95)


def write_lines(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def solid_images(labels, size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 images, each in its label's colour."""
    return np.stack([np.full((size, size, 3), TORCHVISION_COLOURS[label], np.uint8) for label in labels])


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


def write_stl10(root: Path, unlabeled_colours=(0, 0)):
    """``unlabeled_colours``: the class colour of each image of unlabeled_X.bin (which has no labels)."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    splits = {"train": [0, 2, 1, 1], "test": [1, 2, 0]}
    for name, labels in splits.items():
        (folder / f"{name}_X.bin").write_bytes(stl10_bytes(labels))
        (folder / f"{name}_y.bin").write_bytes(bytes(label + 1 for label in labels))  # 1-based
    (folder / "unlabeled_X.bin").write_bytes(stl10_bytes(list(unlabeled_colours)))
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
            write_torchvision_jpeg(data / "images" / f"{image_id}.jpg", label)
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
            write_torchvision_jpeg(base / f"cars_{split}" / fname, label)
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
            write_torchvision_jpeg(data / "images" / name, label)
    labels["trainval"] = labels["train"] + labels["val"]
    return labels, classes


def write_flowers(root: Path):
    import scipy.io

    base = root / "flowers-102"
    image_labels = [0, 1, 2, 2, 1, 0, 0, 1, 2]  # the class of image_00001.jpg, image_00002.jpg, ...
    for number, label in enumerate(image_labels, 1):
        write_torchvision_jpeg(base / "jpg" / f"image_{number:05d}.jpg", label)
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
                write_torchvision_jpeg(base / "images" / f"{image}.jpg", classes.index(c))
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
            write_torchvision_jpeg(base / "images" / f"{breed}_{number}.jpg", label)
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


# ====================================================================================================== dense sets

DENSE_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]


def write_dense_jpeg(path: Path, colour, size) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)
    return path


# ------------------------------------------------------------------------------------------- VOC detection

# image id -> (year, size (w, h), objects (name, difficult or None when the tag is absent, box as written))
VOC_IMAGES = {
    "000005": ("2007", (24, 20), [("chair", "0", ("3", "5", "10", "14")),
                                  ("pottedplant", "1", ("12", "2", "20", "9"))]),
    "000007": ("2007", (24, 20), [("car", "0", ("1", "1", "24", "20"))]),
    "000001": ("2007", (20, 16), [("dog", "0", ("2", "3", "15", "16")), ("person", "0", ("8", "1", "20", "12"))]),
    "2008_000008": ("2012", (22, 18), [("horse", "0", ("4", "6", "20", "18")),
                                       ("person", None, ("10", "2", "16", "17"))]),
    # VOC2012 writes a few coordinates as floats (e.g. 2011_003353.xml, <ymin>45.70000076293945</ymin>)
    "2011_003353": ("2012", (22, 18), [("bicycle", "0", ("3.0", "7.70000076293945", "20.0", "15"))]),
}
VOC_LISTS = {("2007", "trainval"): ["000005", "000007"], ("2007", "test"): ["000001"],
             ("2012", "trainval"): ["2008_000008", "2011_003353"]}


def voc2007_xml(image_id: str, size, objects) -> str:
    """As VOC2007 writes it: source and owner (whose <name> is no object), size, then each object."""
    width, height = size
    parts = [f"<annotation>\n\t<folder>VOC2007</folder>\n\t<filename>{image_id}.jpg</filename>\n"
             "\t<source>\n\t\t<database>The VOC2007 Database</database>\n\t\t<annotation>PASCAL VOC2007</annotation>\n"
             "\t\t<image>flickr</image>\n\t\t<flickrid>341012865</flickrid>\n\t</source>\n"
             "\t<owner>\n\t\t<flickrid>Fried Camels</flickrid>\n\t\t<name>Jinky the Fruit Bat</name>\n\t</owner>\n"
             f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
             "\t<segmented>0</segmented>\n"]
    for name, difficult, (x1, y1, x2, y2) in objects:
        parts.append(f"\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Left</pose>\n\t\t<truncated>0</truncated>\n"
                     f"\t\t<difficult>{difficult}</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{x1}</xmin>\n"
                     f"\t\t\t<ymin>{y1}</ymin>\n\t\t\t<xmax>{x2}</xmax>\n\t\t\t<ymax>{y2}</ymax>\n\t\t</bndbox>\n"
                     "\t</object>\n")
    return "".join(parts) + "</annotation>\n"


def voc2012_xml(image_id: str, size, objects) -> str:
    """As VOC2012 writes it: tags in alphabetical order, <difficult> sometimes absent, person <part> boxes."""
    width, height = size
    parts = [f"<annotation>\n\t<filename>{image_id}.jpg</filename>\n\t<folder>VOC2012</folder>\n"]
    for name, difficult, (x1, y1, x2, y2) in objects:
        parts.append(f"\t<object>\n\t\t<name>{name}</name>\n\t\t<bndbox>\n\t\t\t<xmax>{x2}</xmax>\n"
                     f"\t\t\t<xmin>{x1}</xmin>\n\t\t\t<ymax>{y2}</ymax>\n\t\t\t<ymin>{y1}</ymin>\n\t\t</bndbox>\n")
        if difficult is not None:
            parts.append(f"\t\t<difficult>{difficult}</difficult>\n")
        parts.append("\t\t<occluded>0</occluded>\n")
        if name == "person":  # a layout part: its <name> and <bndbox> belong to no object
            parts.append("\t\t<part>\n\t\t\t<name>head</name>\n\t\t\t<bndbox>\n\t\t\t\t<xmax>14</xmax>\n"
                         "\t\t\t\t<xmin>11</xmin>\n\t\t\t\t<ymax>5</ymax>\n\t\t\t\t<ymin>2</ymin>\n\t\t\t</bndbox>\n"
                         "\t\t</part>\n")
        parts.append("\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t</object>\n")
    parts.append("\t<segmented>0</segmented>\n"
                 f"\t<size>\n\t\t<depth>3</depth>\n\t\t<height>{height}</height>\n"
                 f"\t\t<width>{width}</width>\n\t</size>\n"
                 "\t<source>\n\t\t<annotation>PASCAL VOC2012</annotation>\n"
                 "\t\t<database>The VOC2012 Database</database>\n"
                 "\t\t<image>flickr</image>\n\t</source>\n</annotation>\n")
    return "".join(parts)


def write_voc_detection_replica(root: Path, lists=tuple(VOC_LISTS)) -> Path:
    """VOC2007 and VOC2012 as the detection task reads them: ImageSets/Main lists, Annotations/*.xml, JPEGImages."""
    for year, name in lists:
        folder = root / "VOCdevkit" / f"VOC{year}"
        ids = VOC_LISTS[(year, name)]
        (folder / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (folder / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(i + "\n" for i in ids))
        (folder / "Annotations").mkdir(exist_ok=True)
        for image_id in ids:
            _, size, objects = VOC_IMAGES[image_id]
            write_dense_jpeg(folder / "JPEGImages" / f"{image_id}.jpg", DENSE_COLOURS[list(VOC_IMAGES).index(image_id)],
                             size)
            xml = (voc2007_xml if year == "2007" else voc2012_xml)(image_id, size, objects)
            (folder / "Annotations" / f"{image_id}.xml").write_text(xml)
    return root


# ------------------------------------------------------------------------------------------------ ADE20K

ADE_NAMES = ["wall", "building, edifice", "sky", "floor, flooring", "tree", "ceiling", "road, route", "bed ",
             "windowpane, window ", "grass"]  # the release's first rows, trailing spaces included


def write_object_info(path: Path, n: int = 150) -> None:
    """objectInfo150.txt as released: a header, then Idx, Ratio, Train, Val, Name separated by tabs (some
    indices with a trailing space). Names past the tenth are placeholders here."""
    lines = ["Idx\tRatio\tTrain\tVal\tName"]
    for k in range(1, n + 1):
        name = ADE_NAMES[k - 1] if k <= len(ADE_NAMES) else f"class {k}"
        index = f"{k} " if k in (22, 24, 25) else str(k)
        lines.append(f"{index}\t{0.1576 / k:.4f}\t{12000 // k}\t{1200 // k}\t{name}")
    path.write_text("\n".join(lines) + "\n")


def raw_label_map(k: int, size=(10, 8)) -> np.ndarray:
    """An annotation with 0 (unlabelled), 1 and 150 (the first and last class) and a value of its own."""
    width, height = size
    raw = np.zeros((height, width), dtype=np.uint8)
    raw[:, 3:6] = 1
    raw[:, 6:] = 150
    raw[0, :] = 17 + k
    return raw


ADE_SPLITS = {"training": ["ADE_train_00000001", "ADE_train_00000002", "ADE_train_00000003"],
              "validation": ["ADE_val_00000001", "ADE_val_00000002"]}


def write_ade_replica(root: Path) -> Path:
    folder = root / "ADEChallengeData2016"
    k = 0
    for split_folder, stems in ADE_SPLITS.items():
        for stem in reversed(stems):  # file order on disk is no order
            write_dense_jpeg(folder / "images" / split_folder / f"{stem}.jpg", DENSE_COLOURS[k % len(DENSE_COLOURS)],
                             (10, 8))
            (folder / "annotations" / split_folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(raw_label_map(k)).save(folder / "annotations" / split_folder / f"{stem}.png")
            k += 1
    write_object_info(folder / "objectInfo150.txt")
    (folder / "sceneCategories.txt").write_text("ADE_train_00000001 airport_terminal\n")
    return root


# ----------------------------------------------------------------------------------- NYUv2 surface normals
# Both official files: an HDF5 file laid out like nyu_depth_v2_labeled.mat (MATLAB v7.3) and the benchmark's
# nyuv2_surfacenormal_metadata.zip (see the docstring of benchmark/data/nyuv2.py for the format).

NYUV2_N, NYUV2_H, NYUV2_W = 6, 12, 16
NYUV2_TRAIN = [3, 1, 6]  # 1-based NYU numbers, in the json's order
NYUV2_TEST = [2, 5, 4]


def make_nyuv2_arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    # (N, H, W, C), as MATLAB shows them
    images = rng.integers(0, 256, size=(NYUV2_N, NYUV2_H, NYUV2_W, 3), dtype=np.uint8)
    images[:, 1, 3] = [10, 20, 30]  # pixel (row 1, col 3) of every image differs from (row 3, col 1)
    images[:, 3, 1] = [200, 100, 50]
    normals = rng.normal(size=(NYUV2_N, NYUV2_H, NYUV2_W, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    valid = (rng.random((NYUV2_N, NYUV2_H, NYUV2_W)) > 0.3).astype(np.float32)
    return images, normals.astype(np.float32), valid


def write_nyuv2_replica(root: Path, layout: str = "zip", seed: int = 0):
    """<root>/nyuv2/nyu_depth_v2_labeled.mat and the metadata: the zip ("zip"), the folder it unpacks to
    ("unpacked"), or that folder's files moved up into <root>/nyuv2 ("flat")."""
    images, normals, valid = make_nyuv2_arrays(seed)
    folder = root / "nyuv2"
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "nyu_depth_v2_labeled.mat", "w") as f:
        # MATLAB's H x W x C x N, column-major, reaches h5py with its axes reversed: (N, C, W, H)
        f.create_dataset("images", data=images.transpose(0, 3, 2, 1))
        f.create_dataset("depths", data=np.zeros((NYUV2_N, NYUV2_W, NYUV2_H), dtype=np.float32))
    # all_filenames in shuffled order: the loader must match normals to images by name
    order = [4, 0, 5, 2, 1, 3]
    payload = {"all_normals": normals[order], "all_valid_depth_masks": valid[order],
               "all_filenames": [f"{k + 1:06d}" for k in order]}
    files = {"all_normals.pklz": gzip.compress(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))}
    for split, numbers in (("train", NYUV2_TRAIN), ("test", NYUV2_TEST)):
        records = [{"img": f"{n:06d}_rgb.jpg", "segm": f"{n:06d}_SN40.png", "width": NYUV2_W, "height": NYUV2_H}
                   for n in numbers]
        files[f"{split}_SN40.json"] = json.dumps(records).encode()
    if layout == "zip":
        with zipfile.ZipFile(folder / "nyuv2_surfacenormal_metadata.zip", "w") as archive:
            for name, data in files.items():
                archive.writestr(f"surfacenormal_metadata/{name}", data)
    else:
        target = folder / "surfacenormal_metadata" if layout == "unpacked" else folder
        target.mkdir(exist_ok=True)
        for name, data in files.items():
            (target / name).write_bytes(data)
    return images, normals, valid


# every linear-evaluation dataset's replica writer, by dataset name (each writes into a datasets root)
REPLICAS = {**{name: case[0] for name, case in CASES.items()}, "caltech101": write_caltech_replica,
            "sun397": write_sun_replica, "voc2007": write_voc2007_replica, "imagenet": write_imagenet_replica,
            "imagenet100": write_imagenet100_replica}
