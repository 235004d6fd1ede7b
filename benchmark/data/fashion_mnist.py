"""Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017) from the idx files of its official release.

Where the files are looked for, in order:
  1. ``$GANREP_DATA`` (or ``data.root`` in the config), the files directly inside or under FashionMNIST/raw;
  2. the Debian package ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist);
  3. torchvision's download into the suite's data cache (only when ``download`` is true).
Files may be gzipped (as released) or not (as torchvision leaves them).
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from benchmark.data.errors import DamagedDatasetFileError, DatasetNotFoundError
from benchmark.data.in_memory import InMemoryImages
from benchmark.registry import DATASETS

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an idx file: 2 zero bytes, a dtype code, the number of dims, big-endian int32 dims, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, zlib.error) as e:  # a truncated or altered .gz
        raise DamagedDatasetFileError(path, f"{type(e).__name__}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DamagedDatasetFileError(path, f"not an idx file: magic bytes {raw[:4].hex()}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DamagedDatasetFileError(path, f"the file ends inside its {ndim}-dimension header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    data = np.frombuffer(raw, _IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DamagedDatasetFileError(path, f"the header says {shape} but the file holds {data.size} values")
    return data.reshape(shape)


def _find_in(directory: Path) -> Optional[dict[str, Path]]:
    for base in (directory, directory / "FashionMNIST" / "raw"):
        found = {}
        for split_files in FILES.values():
            for stem in split_files:
                for candidate in (base / stem, base / f"{stem}.gz"):
                    if candidate.is_file():
                        found[stem] = candidate
                        break
        if len(found) == 4:
            return found
    return None


def locate(root: Optional[str], cache_dir: str, download: bool) -> dict[str, Path]:
    """Paths of the four idx files, or a DatasetNotFoundError saying where it looked and what to do."""
    searched = []
    candidates = []
    if root:
        candidates.append(("data.root", Path(root)))
    if os.environ.get("GANREP_DATA"):
        candidates.append(("$GANREP_DATA", Path(os.environ["GANREP_DATA"])))
    candidates += [("Debian dataset-fashion-mnist", DEBIAN_DIR), ("suite cache", Path(cache_dir))]
    for label, directory in candidates:
        searched.append(f"{directory} ({label})")
        found = _find_in(directory)
        if found:
            return found
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(cache_dir, train=True, download=True)
            FashionMNIST(cache_dir, train=False, download=True)
            found = _find_in(Path(cache_dir))
            if found:
                return found
        except Exception as e:  # no network here is the usual reason; the message below says what to do
            searched.append(f"torchvision download into {cache_dir} failed: {e}")
    raise DatasetNotFoundError(
        "Fashion-MNIST",
        searched,
        "install the Debian package (sudo apt-get install dataset-fashion-mnist), or put the four idx "
        "files (train/t10k images/labels, .gz or not) in a folder and set GANREP_DATA to it, or run "
        "with data.download=true on a machine with internet access",
    )


@DATASETS.register("fashion_mnist")
def fashion_mnist(split: str, root: Optional[str] = None, cache_dir: str = "data", download: bool = True,
                  image_size: int = 32, **_) -> InMemoryImages:
    """The train (60k) or test (10k) split, zero-padded from 28 to ``image_size`` px, 1 channel."""
    if split not in FILES:
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; valid splits: {sorted(FILES)}")
    paths = locate(root, cache_dir, download)
    images = torch.from_numpy(read_idx(paths[FILES[split][0]]).copy())
    labels = torch.from_numpy(read_idx(paths[FILES[split][1]]).astype(np.int64))
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"Fashion-MNIST {split}: images {tuple(images.shape)} do not match labels {tuple(labels.shape)}")
    pad = image_size - images.shape[-1]
    if pad < 0 or pad % 2:
        raise ValueError(f"image_size must be an even size >= 28, got {image_size}")
    images = torch.nn.functional.pad(images, (pad // 2,) * 4)  # black border, as the items are centred
    return InMemoryImages(images[:, None], labels, CLASSES)
