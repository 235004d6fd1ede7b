"""The NYUv2 surface-normal loader on a tiny replica of both official files: an HDF5 file laid out like
nyu_depth_v2_labeled.mat (MATLAB v7.3) and the benchmark's nyuv2_surfacenormal_metadata.zip (see the
docstring of benchmark/data/nyuv2.py for the format and where it is documented), written by
tests/helpers/replicas.py."""
from __future__ import annotations

import gzip
import pickle
import re

import numpy as np
import pytest
import torch

from benchmark.data import DatasetNotFoundError
from benchmark.data import nyuv2 as nyuv2_module
from benchmark.data.dense_sets import DenseSet
from benchmark.registry import DATASETS
from tests.helpers.replicas import NYUV2_H as H
from tests.helpers.replicas import NYUV2_TEST as TEST
from tests.helpers.replicas import NYUV2_TRAIN as TRAIN
from tests.helpers.replicas import NYUV2_W as W
from tests.helpers.replicas import write_nyuv2_replica


def test_registered():
    assert DATASETS.get("nyuv2_normals") is nyuv2_module.nyuv2_normals


@pytest.mark.parametrize("layout", ["zip", "unpacked", "flat"])
def test_split_images_normals_and_mask(tmp_path, layout):
    images, normals, valid = write_nyuv2_replica(tmp_path, layout)
    train = nyuv2_module.nyuv2_normals("train", root=str(tmp_path))
    test = DATASETS.get("nyuv2_normals")(split="test", root=str(tmp_path))
    assert isinstance(train, DenseSet) and train.classes == [] and test.classes == []
    assert (len(train), len(test)) == (len(TRAIN), len(TEST))
    for dataset, numbers in ((train, TRAIN), (test, TEST)):
        for i, number in enumerate(numbers):
            image, target = dataset[i]
            k = number - 1  # the json's numbers are 1-based
            assert image.dtype == torch.uint8 and image.shape == (3, H, W)
            assert torch.equal(image, torch.from_numpy(images[k]).permute(2, 0, 1))
            assert set(target) == {"normals", "valid"}
            n, v = target["normals"], target["valid"]
            assert n.dtype == torch.float32 and n.shape == (3, H, W)
            assert v.dtype == torch.bool and v.shape == (H, W)
            assert torch.equal(v, torch.from_numpy(valid[k] > 0))
            assert torch.allclose(n, torch.from_numpy(normals[k]).permute(2, 0, 1), atol=1e-6)
            assert torch.allclose(n.norm(dim=0)[v], torch.ones(int(v.sum())), atol=1e-5)


def test_transpose_and_index_base(tmp_path):
    images, _, _ = write_nyuv2_replica(tmp_path)
    train = nyuv2_module.nyuv2_normals("train", root=str(tmp_path))
    image, _ = train[0]  # NYU image number 3, i.e. images[2] of the .mat
    assert image[:, 1, 3].tolist() == [10, 20, 30]
    assert image[:, 3, 1].tolist() == [200, 100, 50]
    assert torch.equal(image, torch.from_numpy(images[2]).permute(2, 0, 1))
    assert not torch.equal(image, torch.from_numpy(images[3]).permute(2, 0, 1))  # not read 0-based


def test_invalid_normals_are_renormalised_or_masked(tmp_path):
    write_nyuv2_replica(tmp_path, "unpacked")
    pklz = tmp_path / "nyuv2" / "surfacenormal_metadata" / "all_normals.pklz"
    data = pickle.loads(gzip.decompress(pklz.read_bytes()))
    row = data["all_filenames"].index("000003")
    data["all_normals"][row, 0, 0] = [0.0, 0.0, 2.0]  # not unit length: renormalised
    data["all_normals"][row, 0, 1] = 0.0  # no direction: masked out even where the depth is valid
    data["all_valid_depth_masks"][row, 0, :2] = 1.0
    pklz.write_bytes(gzip.compress(pickle.dumps(data)))
    _, target = nyuv2_module.nyuv2_normals("train", root=str(tmp_path))[0]
    assert target["normals"][:, 0, 0].tolist() == [0.0, 0.0, 1.0] and bool(target["valid"][0, 0])
    assert target["normals"][:, 0, 1].tolist() == [0.0, 0.0, 0.0] and not bool(target["valid"][0, 1])


def test_lazy_per_process_handles_and_picklable(tmp_path):
    images, _, _ = write_nyuv2_replica(tmp_path)
    train = nyuv2_module.nyuv2_normals("train", root=str(tmp_path))
    assert train._handles is None  # nothing opened at construction
    train[1]
    assert train._handles is not None
    clone = pickle.loads(pickle.dumps(train))
    assert clone._handles is None
    assert torch.equal(clone[1][0], torch.from_numpy(images[0]).permute(2, 0, 1))


def test_cache_is_rebuilt_when_the_metadata_changes(tmp_path):
    cache = tmp_path / "nyuv2" / "normals_cache"
    _, first, _ = write_nyuv2_replica(tmp_path, "zip", seed=0)
    nyuv2_module.nyuv2_normals("train", root=str(tmp_path))
    built = (cache / "source.json").read_text()
    nyuv2_module.nyuv2_normals("test", root=str(tmp_path))
    assert (cache / "source.json").read_text() == built  # reused, not rebuilt
    _, normals, _ = write_nyuv2_replica(tmp_path, "zip", seed=1)  # overwrites the files, keeps the cache
    assert not np.allclose(normals, first)
    _, target = nyuv2_module.nyuv2_normals("train", root=str(tmp_path))[0]
    assert (cache / "source.json").read_text() != built
    assert torch.allclose(target["normals"], torch.from_numpy(normals[2]).permute(2, 0, 1), atol=1e-6)


def test_refuses_a_pickle_that_calls_anything(tmp_path):
    write_nyuv2_replica(tmp_path, "unpacked")
    pklz = tmp_path / "nyuv2" / "surfacenormal_metadata" / "all_normals.pklz"
    pklz.write_bytes(gzip.compress(pickle.dumps({"all_normals": print})))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        nyuv2_module.nyuv2_normals("train", root=str(tmp_path))


def test_missing_files_raise_and_name_every_place(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        nyuv2_module.nyuv2_normals("train", root=str(tmp_path))
    message = str(caught.value)
    folder = tmp_path / "nyuv2"
    for path in (folder / "nyu_depth_v2_labeled.mat", folder / "nyuv2_surfacenormal_metadata.zip",
                 folder / "surfacenormal_metadata" / "all_normals.pklz",
                 folder / "surfacenormal_metadata" / "train_SN40.json"):
        assert str(path) in message
    assert nyuv2_module.MAT_URL in message and nyuv2_module.ZIP_URL in message

    write_nyuv2_replica(tmp_path)
    (folder / "nyu_depth_v2_labeled.mat").unlink()
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(folder / "nyu_depth_v2_labeled.mat"))):
        nyuv2_module.nyuv2_normals("test", root=str(tmp_path))


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="valid splits: train, test"):
        nyuv2_module.nyuv2_normals("val", root=str(tmp_path))
