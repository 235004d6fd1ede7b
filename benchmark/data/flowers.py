"""Oxford 102 Flowers (Nilsback, Zisserman, "Automated Flower Classification over a Large Number of Classes", ICVGIP 2008).

Read by torchvision's Flowers102 from the official release in <root>/flowers-102: ``jpg/image_NNNNN.jpg``
(from 102flowers.tgz), ``imagelabels.mat`` (``labels``: the 1-based class of every image) and
``setid.mat`` (``trnid``, ``valid``, ``tstid``: the 1-based image numbers of each split). Class names
are torchvision's list. Needs scipy to read the .mat files.
Splits: train (1,020), val (1,020), trainval (= train + val), test (6,149). 102 classes.
"""
from __future__ import annotations

from typing import Optional

from torch.utils.data import ConcatDataset
from torchvision.datasets import Flowers102

from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import TorchvisionImages, check_split, data_root
from benchmark.registry import DATASETS

SPLITS = ("train", "val", "trainval", "test")


class _Flowers102(Flowers102):
    def _check_integrity(self) -> bool:
        # torchvision also checks the md5 of the two .mat files, which rejects any copy that is not
        # byte-identical to the release (the test replicas); check that they exist. A download is still
        # verified, as download() keeps the md5s.
        return self._images_folder.is_dir() and all(
            (self._base_folder / self._file_dict[key][0]).is_file() for key in ("label", "setid"))


@DATASETS.register("flowers")
def flowers(split: str, root: Optional[str] = None, download: bool = False, transform=None, **_):
    check_split("flowers", split, SPLITS)
    root = data_root(root)
    try:
        # torchvision has no trainval split: concatenate train and val
        parts = [_Flowers102(str(root), split=s, download=download)
                 for s in (["train", "val"] if split == "trainval" else [split])]
    except (RuntimeError, OSError) as e:  # torchvision: "Dataset not found or corrupted"; no network
        raise DatasetNotFoundError("flowers", [f"{root / 'flowers-102'} ({e})"],
                                   "run with download=true on a machine with internet") from e
    targets = [label for part in parts for label in part._labels]
    return TorchvisionImages(ConcatDataset(parts), targets, Flowers102.classes, transform)
