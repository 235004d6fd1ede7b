"""SUN397 (Xiao, Hays, Ehinger, Oliva, Torralba, "SUN database: Large-scale scene recognition from abbey
to zoo", CVPR 2010) with the official train/test partitions.

Layout: SUN397.tar.gz unpacked in ``<root>`` gives ``<root>/SUN397/``, holding

  - ``ClassName.txt``: the 397 class paths, one a line, e.g. ``/a/abbey`` or ``/b/bakery/shop``;
  - the images, ``SUN397/<class path>/sun_<id>.jpg``, e.g. ``SUN397/a/abbey/sun_aaalbzqrimafwbiv.jpg``.

The partitions come in a separate archive, Partitions.zip: ``Training_01.txt`` .. ``Training_10.txt``
and ``Testing_01.txt`` .. ``Testing_10.txt`` (50 images per class each), one image a line as its path
from the SUN397 folder, e.g. ``/a/abbey/sun_aaalbzqrimafwbiv.jpg``. They are looked for in ``SUN397/``
and in ``SUN397/Partitions/``.

The class of an image is its path minus the file name; targets follow the order of ClassName.txt.
Class names drop the leading ``/<letter>/`` (``abbey``, ``bakery/shop``), as torchvision's SUN397 does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import ImageFiles, check_split, data_root
from benchmark.registry import DATASETS

URL = "http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz"
MD5 = "8ca2778205c41d23104230ba66911c7a"
PARTITIONS_URL = "https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip"
LIST_PREFIX = {"train": "Training", "test": "Testing"}


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _download(folder: Path, images: bool, partitions: bool) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    if images:  # the archive holds the SUN397 folder itself
        download_and_extract_archive(URL, download_root=str(folder.parent), md5=MD5)
    if partitions:  # unpacked into SUN397/, where the lists are found whether or not the zip has a top folder
        download_and_extract_archive(PARTITIONS_URL, download_root=str(folder))


def _find_partition(folder: Path, name: str) -> Optional[Path]:
    for candidate in (folder / name, folder / "Partitions" / name):
        if candidate.is_file():
            return candidate
    return None


@DATASETS.register("sun397")
def sun397(split: str, root: Optional[str] = None, download: bool = False, transform=None,
           partition: int = 1, **_) -> ImageFiles:
    """The train (Training_XX) or test (Testing_XX) list of official partition ``partition`` (1..10)."""
    check_split("sun397", split, tuple(LIST_PREFIX))
    if not isinstance(partition, int) or not 1 <= partition <= 10:
        raise ValueError(f"sun397 partition must be one of 1..10, got {partition!r}")
    folder = data_root(root) / "SUN397"
    list_name = f"{LIST_PREFIX[split]}_{partition:02d}.txt"
    class_file = folder / "ClassName.txt"
    list_file = _find_partition(folder, list_name)
    if download and (not class_file.is_file() or list_file is None):
        _download(folder, images=not class_file.is_file(), partitions=list_file is None)
        list_file = _find_partition(folder, list_name)
    if not class_file.is_file() or list_file is None:
        raise DatasetNotFoundError(
            "sun397", [str(class_file), str(folder / list_name), str(folder / "Partitions" / list_name)],
            f"download {URL} and unpack it in {folder.parent} (it makes the SUN397 folder), then download "
            f"{PARTITIONS_URL} and unzip it into {folder} (or pass download=True)")

    class_paths = _read_lines(class_file)  # e.g. "/a/abbey"
    index = {c: i for i, c in enumerate(class_paths)}
    paths, targets = [], []
    for line in _read_lines(list_file):  # e.g. "/a/abbey/sun_aaalbzqrimafwbiv.jpg"
        class_path = line.rsplit("/", 1)[0]
        if class_path not in index:
            raise ValueError(f"{list_file}: image {line!r} is of class {class_path!r}, which is not in {class_file}")
        paths.append(folder / line.lstrip("/"))
        targets.append(index[class_path])
    # One cheap check that the images were unpacked next to the lists (a missing file would otherwise
    # only show up when a batch is read).
    if paths and not paths[0].is_file():
        raise DatasetNotFoundError("sun397", [str(paths[0])],
                                   f"download {URL} and unpack it in {folder.parent}")
    classes = [c.split("/", 2)[2] if c.count("/") >= 2 else c.lstrip("/") for c in class_paths]
    return ImageFiles(paths, np.asarray(targets, dtype=np.int64), classes, transform)
