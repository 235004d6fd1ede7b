"""NYUv2 surface normals (Silberman, Hoiem, Kohli, Fergus, "Indoor Segmentation and Support Inference from
RGBD Images", ECCV 2012) as the self-supervision benchmark of Goyal, Mahajan, Gupta, Misra ("Scaling and
Benchmarking Self-Supervised Visual Representation Learning", ICCV 2019) distributes it: the 1449 labelled
images, 795 train / 654 test, with the ground-truth normals of Ladicky, Zeisl, Pollefeys ("Discriminatively
trained dense surface normal estimation", ECCV 2014).

Layout under ``<root>/nyuv2/`` (``root`` as resolved by ``data_root``)::

    nyu_depth_v2_labeled.mat                  the official labelled set (MATLAB v7.3, i.e. HDF5)
    nyuv2_surfacenormal_metadata.zip          the benchmark's metadata, still zipped, or unpacked as
    surfacenormal_metadata/all_normals.pklz   the zip unpacks (its files may also sit directly in
    surfacenormal_metadata/train_SN40.json    <root>/nyuv2/, as probe3d's instructions move them);
    surfacenormal_metadata/test_SN40.json     an unpacked copy is preferred to the zip when both exist
    normals_cache/                            written by this loader (see "Normals cache" below)

The two files: http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat (about
2.8 GB) and https://dl.fbaipublicfiles.com/fair_self_supervision_benchmark/nyuv2_surfacenormal_metadata.zip.

Format of the labelled .mat (h5py's view): dataset ``images`` of uint8, shape (1449, 3, 640, 480). HDF5
stores MATLAB's column-major 480 x 640 x 3 x 1449 (H, W, C, N) array with its axes reversed, i.e. as
(N, C, W, H), so an image is ``images[i].transpose(0, 2, 1)`` -> (3, H=480, W=640), and ``images[i]`` is
image number i + 1 in NYU's 1-based numbering (the numbering of the official splits.mat).

Format of the metadata zip. Sources (read for facts only):
  - imisra/semantic-segmentation-pytorch, README_normals.md ("Data"): the zip holds a ``pklz`` (gzip
    compressed pickle) with the normals, the train/test ``json`` files, and ``vocab40.mat`` (the k-means
    codebook of the benchmark's 40-way classification, not needed here);
  - same repo, make_SN_labels.py (``convert_matlab_normals_to_numpy_files`` writes the pklz,
    ``make_metadata_json_and_restructure_images`` the json files), io_utils.py (pklz = pickle in a
    gzip stream), dataset_generic.py (``<split>_SN40.json``, ``load_normals_file``) and
    normals_evaluation_utils.py (how the evaluation uses the normals and the mask);
  - VainF/nyuv2-meta-data, extract_nyuv2.py at 8226f3d8 (``extract_normals``): the member is
    ``surfacenormal_metadata/all_normals.pklz``; ``int(name)`` of an ``all_filenames`` entry is the 1-based
    NYU index (it is compared with splits.mat's ``trainNdxs``/``testNdxs``) and the normal map of that entry
    is saved as is beside the image ``images[index - 1]`` (no crop, no resize);
  - mbanani/probe3d, data_processing/create_nyu_pkl.py: the split is ``int(record["img"].split("_")[0]) - 1``
    over the records of train_SN40.json / test_SN40.json, used as a 0-based index into the .mat's images.
What they say (from the code that writes and reads the files; the zip itself was not opened when this
loader was written, so the shapes are those the code asserts or implies):
  - ``surfacenormal_metadata/all_normals.pklz``: a gzip-compressed pickle (written by Python 3) of a dict
      ``all_normals``            float32 (1449, 480, 640, 3): Ladicky's (nx, ny, nz) per pixel as raw unit
                                 vectors (no 8-bit encoding to undo), on the images' 480 x 640 grid (the
                                 benchmark's training asserts that label maps made from them have the
                                 image's shape; both extraction scripts above pair them pixel for pixel);
      ``all_valid_depth_masks``  float32 (1449, 480, 640): 1 where the Kinect depth was valid, else 0; the
                                 evaluation scores only pixels with ``mask.astype(int32) > 0``;
      ``all_filenames``          list of str, the Ladicky .mat names without extension, i.e. the 1-based NYU
                                 index zero-padded to 6 digits ("000001" .. "001449"), sorted.
  - ``surfacenormal_metadata/{train,test}_SN40.json``: a JSON list of records
    ``{"img": "000003_rgb.jpg", "segm": "000003_SN40.png", "width": 640, "height": 480}``, one per image of
    the split (795 train, 654 test); the number before "_" is the 1-based NYU index.
This loader takes the split (and its order) from the json files, the image ``images[id - 1]`` from the
.mat, and the normals and mask of the ``all_filenames`` entry whose ``int`` is ``id`` (looked up by name, as
the benchmark's evaluation does, not by position). Normals are renormalised to unit length (the
evaluation renormalises too); a pixel counts as valid where the mask says so and its normal is finite and
non-zero. If the normals' grid does not match the images', the loader raises rather than resample.

Normals cache: the pklz can only be read whole (about 7 GB once decompressed), which no DataLoader worker
should do. The first construction converts it, in the constructing process, into
``<root>/nyuv2/normals_cache/`` (``normals.npy`` float32 (N, H, W, 3) and ``valid.npy`` bool (N, H, W),
row k for NYU image k + 1; about 5.8 GB on disk), which items then read through memory maps. The cache
records the size and modification time of its source and is rebuilt when they change; delete the folder
to rebuild it by hand. Each .npy carries a sha256 sidecar (``normals.npy.sha256``, benchmark/verified_artifacts.py),
taken once when it is built and checked when a process first opens the set (about 0.7 s per GB of cache on
a CPU with SHA instructions, more on a cold disk; a second split in the same process reuses the check while
the file is unchanged), because a bit flipped in a memory-mapped normal would otherwise go unnoticed into
every metric. A damaged file is named in a warning, moved aside (``normals.npy.damaged-<UTC time>``; never
deleted, remove it by hand once looked at) and the cache rebuilt; a cache built before the sidecars existed
is accepted once, with a warning, and its digests recorded then. The .mat is opened on first access in each process (never at construction beyond
reading its shape), so no image is decoded before it is asked for.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from benchmark.verified_artifacts import file_sha256, load_or_set_aside, write_sidecar
from benchmark.data.dense_sets import DenseSet
from benchmark.data.errors import DatasetNotFoundError
from benchmark.data.image_sets import check_split, data_root
from benchmark.registry import DATASETS

SPLITS = ("train", "test")
MAT_NAME = "nyu_depth_v2_labeled.mat"
ZIP_NAME = "nyuv2_surfacenormal_metadata.zip"
META_DIR = "surfacenormal_metadata"  # the folder the zip unpacks to
NORMALS_NAME = "all_normals.pklz"
CACHE_DIR = "normals_cache"
MAT_URL = "http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat"
ZIP_URL = "https://dl.fbaipublicfiles.com/fair_self_supervision_benchmark/nyuv2_surfacenormal_metadata.zip"
HOW_TO_GET = (f"download {MAT_URL} and {ZIP_URL} into that folder (the zip may stay zipped or be unpacked "
              "there), or pass download=True")


def _split_names(split: str) -> list[str]:
    # the benchmark's lists are <split>_SN40.json (its 40-way codebook); a <split>_SN20.json, which its code can
    # also read, is used only where the 40-way list is absent
    return [f"{split}_SN40.json", f"{split}_SN20.json"]


class _Metadata:
    """The benchmark's metadata files, from an unpacked folder or from inside the zip."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.zip_path = folder / ZIP_NAME
        self.dirs = [folder / META_DIR, folder]

    def places(self, name: str) -> list[str]:
        return [str(d / name) for d in self.dirs] + [f"{self.zip_path} (member {META_DIR}/{name})"]

    def _member(self, name: str) -> Optional[str]:
        if not self.zip_path.is_file():
            return None
        with zipfile.ZipFile(self.zip_path) as archive:
            found = [m for m in archive.namelist()
                     if m.rsplit("/", 1)[-1] == name and not m.startswith("__MACOSX")]
        return min(found, key=len) if found else None

    def locate(self, name: str):
        """(path, None) for an unpacked file, (zip path, member) for one inside the zip, or None."""
        for d in self.dirs:
            if (d / name).is_file():
                return d / name, None
        member = self._member(name)
        return (self.zip_path, member) if member else None

    @staticmethod
    @contextlib.contextmanager
    def open(location):
        path, member = location
        if member is None:
            with open(path, "rb") as f:
                yield f
        else:
            with zipfile.ZipFile(path) as archive, archive.open(member) as f:
                yield f


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles containers, strings and numpy arrays only: the pklz is a download, and a pickle may
    otherwise call anything."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("collections", "OrderedDict"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{NORMALS_NAME} refers to {module}.{name}, which a file of numpy "
                                         "arrays does not need; refusing to load it")
        return super().find_class(module, name)


def _load_normals_pickle(location) -> dict:
    with _Metadata.open(location) as raw, gzip.GzipFile(fileobj=raw) as stream:
        # latin1 only matters for a Python 2 pickle (its numpy buffers are str); harmless otherwise
        data = _NumpyUnpickler(stream, encoding="latin1").load()
    missing = {"all_normals", "all_valid_depth_masks", "all_filenames"} - set(data)
    if missing:
        raise ValueError(f"{location[0]}: {NORMALS_NAME} lacks {sorted(missing)}; keys: {sorted(data)}")
    return data


def _image_number(name) -> int:
    """The 1-based NYU index in an ``all_filenames`` entry ("000001") or a json "img" ("000001_rgb.jpg")."""
    if isinstance(name, bytes):
        name = name.decode()
    return int(str(name).split("_")[0].split(".")[0])


def _read_split(location) -> np.ndarray:
    with _Metadata.open(location) as f:
        records = json.load(f)
    return np.array([_image_number(r["img"]) for r in records], dtype=np.int64)


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"source": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _build_cache(location, cache: Path, count: int, image_size: tuple[int, int]) -> None:
    """Write normals.npy / valid.npy with row k for NYU image k + 1 (see the module docstring)."""
    data = _load_normals_pickle(location)
    normals, masks = data["all_normals"], data["all_valid_depth_masks"]
    numbers = [_image_number(n) for n in data["all_filenames"]]
    source = location[0] if location[1] is None else f"{location[0]}:{location[1]}"
    if normals.ndim != 4 or normals.shape[-1] != 3 or masks.shape != normals.shape[:3] \
            or len(numbers) != len(normals):
        raise ValueError(f"{source}: expected all_normals (N, H, W, 3), all_valid_depth_masks (N, H, W) and N "
                         f"filenames; got {normals.shape}, {masks.shape} and {len(numbers)}")
    if tuple(normals.shape[1:3]) != tuple(image_size):
        raise ValueError(f"{source}: normals are {normals.shape[1]}x{normals.shape[2]} but the images of "
                         f"{MAT_NAME} are {image_size[0]}x{image_size[1]}; the benchmark pairs them pixel for "
                         "pixel, so one of the files is not the official release")
    row_of = {}
    for row, number in enumerate(numbers):
        if not 1 <= number <= count or number in row_of:
            raise ValueError(f"{source}: filename {data['all_filenames'][row]!r} is not a distinct image number "
                             f"in 1..{count}")
        row_of[number] = row
    absent = sorted(set(range(1, count + 1)) - set(row_of))
    if absent:
        raise ValueError(f"{source}: no normals for {len(absent)} of the {count} images, e.g. number {absent[0]}")
    order = [row_of[n] for n in range(1, count + 1)]

    cache.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp{os.getpid()}"
    targets = {"normals.npy": (np.float32, normals.shape[1:]), "valid.npy": (np.bool_, masks.shape[1:])}
    for name, (dtype, shape) in targets.items():
        out = np.lib.format.open_memmap(cache / (name + suffix), mode="w+", dtype=dtype, shape=(count, *shape))
        for k, row in enumerate(order):
            # the evaluation's test: valid_mask.astype(np.int32) > 0
            out[k] = normals[row] if name == "normals.npy" else np.asarray(masks[row]).astype(np.int32) > 0
        out.flush()
        del out
    for name in targets:
        digest, size = file_sha256(cache / (name + suffix))
        write_sidecar(cache / name, digest, size)  # the sidecar first: a crash in between leaves a mismatch
        os.replace(cache / (name + suffix), cache / name)
    (cache / ("source.json" + suffix)).write_text(json.dumps(_stamp(location[0])))
    os.replace(cache / ("source.json" + suffix), cache / "source.json")


def _npy_shape(f) -> tuple[int, ...]:
    """The shape in an open .npy file's header, after checking that the file holds exactly that array (a
    truncated or appended-to file would map garbage or fail in a DataLoader worker)."""
    version = np.lib.format.read_magic(f)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(f)
    expected = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = os.fstat(f.fileno()).st_size
    if size != expected:
        raise ValueError(f"{size} bytes, its header's {dtype} array of shape {shape} needs {expected}")
    return tuple(shape)


_VERIFIED_SHAPES: dict[tuple, tuple[int, ...]] = {}  # this process's checks, by file identity and sidecar


def _verified_npy_shape(path: Path, source: Path) -> Optional[tuple[int, ...]]:
    """The shape of a cache .npy that matches its sha256 sidecar; None when it is missing or damaged (then
    set aside, with a warning). Checked once per process while the file (inode, size, mtime) and its
    sidecar stay the same: the train and test sets of one run share the cache."""
    try:
        stat, sidecar = path.stat(), path.with_name(path.name + ".sha256").read_bytes()
        identity = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, sidecar)
    except OSError:
        identity = None
    if identity is not None and identity in _VERIFIED_SHAPES:
        return _VERIFIED_SHAPES[identity]
    shape = load_or_set_aside(path, "NYUv2 normals cache", f"rebuilding the cache from {source}", load=_npy_shape)
    if shape is not None and identity is not None:
        _VERIFIED_SHAPES[identity] = shape
    return shape


def _cache_is_current(cache: Path, source: Path, shape: tuple[int, int, int]) -> bool:
    """Built from this very source, for images of this (count, H, W), and intact (sha256 sidecars)."""
    try:
        if json.loads((cache / "source.json").read_text()) != _stamp(source):
            return False
    except (OSError, ValueError):
        return False
    return (_verified_npy_shape(cache / "normals.npy", source) == (*shape, 3)
            and _verified_npy_shape(cache / "valid.npy", source) == shape)


class NYUv2Normals(DenseSet):
    """Images of the labelled .mat (read on demand) with their normals and valid masks (memory-mapped)."""

    def __init__(self, mat_path: Path, cache: Path, image_numbers: np.ndarray):
        self.mat_path, self.cache = Path(mat_path), Path(cache)
        self.image_numbers = np.asarray(image_numbers, dtype=np.int64)  # 1-based NYU indices, in split order
        self.classes = []
        self._handles = None  # (pid, h5 file, normals memmap, valid memmap), opened on first access

    def __len__(self) -> int:
        return len(self.image_numbers)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = None
        return state

    def _open(self):
        if self._handles is None or self._handles[0] != os.getpid():  # a forked worker opens its own
            import h5py

            self._handles = (os.getpid(), h5py.File(self.mat_path, "r"),
                             np.load(self.cache / "normals.npy", mmap_mode="r"),
                             np.load(self.cache / "valid.npy", mmap_mode="r"))
        return self._handles[1:]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        k = int(self.image_numbers[i]) - 1
        mat, normals, valid = self._open()
        image = np.ascontiguousarray(np.asarray(mat["images"][k]).transpose(0, 2, 1))  # (C, W, H) -> (C, H, W)
        n = np.array(normals[k], dtype=np.float32).transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)
        length = np.sqrt((n.astype(np.float64) ** 2).sum(0))
        usable = np.isfinite(length) & (length > 1e-6)
        n = np.where(usable, n / np.where(usable, length, 1.0), 0.0).astype(np.float32)
        return torch.from_numpy(image), {"normals": torch.from_numpy(np.ascontiguousarray(n)),
                                         "valid": torch.from_numpy(np.asarray(valid[k]) & usable)}


def _image_shape(mat_path: Path) -> tuple[int, int, int]:
    """(count, H, W) of the .mat's images, read from the HDF5 header only."""
    import h5py

    with h5py.File(mat_path, "r") as f:
        if "images" not in f:
            raise ValueError(f"{mat_path} has no 'images' dataset; keys: {sorted(f.keys())}")
        shape = f["images"].shape
    if len(shape) != 4 or shape[1] != 3:
        raise ValueError(f"{mat_path}: 'images' has shape {shape}; the labelled set's is (1449, 3, 640, 480)")
    return shape[0], shape[3], shape[2]


@DATASETS.register("nyuv2_normals")
def nyuv2_normals(split: str, root: Optional[str] = None, download: bool = False, **_) -> NYUv2Normals:
    """The benchmark's ``split`` of the labelled NYUv2 images with Ladicky's normals (see the module doc)."""
    check_split("nyuv2_normals", split, SPLITS)
    folder = data_root(root) / "nyuv2"
    mat_path = folder / MAT_NAME
    metadata = _Metadata(folder)

    def find():
        split_file = next((loc for name in _split_names(split) if (loc := metadata.locate(name))), None)
        return split_file, metadata.locate(NORMALS_NAME)

    split_file, normals_file = find()
    if download and not (mat_path.is_file() and split_file and normals_file):
        from torchvision.datasets.utils import download_url

        # Neither host publishes a checksum for these files, so none is checked.
        if not mat_path.is_file():
            download_url(MAT_URL, str(folder), MAT_NAME)
        if not (split_file and normals_file) and not metadata.zip_path.is_file():
            download_url(ZIP_URL, str(folder), ZIP_NAME)
        split_file, normals_file = find()

    searched = []
    if not mat_path.is_file():
        searched.append(str(mat_path))
    if split_file is None:
        searched += [p for name in _split_names(split) for p in metadata.places(name)]
    if normals_file is None:
        searched += metadata.places(NORMALS_NAME)
    if searched:
        raise DatasetNotFoundError("nyuv2_normals", searched, HOW_TO_GET)

    count, height, width = _image_shape(mat_path)
    numbers = _read_split(split_file)
    outside = numbers[(numbers < 1) | (numbers > count)]
    if len(numbers) == 0 or len(outside):
        raise ValueError(f"{split_file[0]} ({split_file[1] or 'unpacked'}): the split must list 1-based image "
                         f"numbers in 1..{count} (the images of {mat_path}); got {len(numbers)} records"
                         + (f", e.g. {int(outside[0])}" if len(outside) else ""))
    cache = folder / CACHE_DIR
    if not _cache_is_current(cache, normals_file[0], (count, height, width)):
        _build_cache(normals_file, cache, count, (height, width))
    return NYUv2Normals(mat_path, cache, numbers)
