"""The real-image pretraining sources of CIFAR-100 and STL-10 (``data=cifar100``, ``data=stl10``) on tiny replicas
of the official releases: what they decode (shape, dtype, pixel values and orientation, labels), what they
need on disk, and that their batch sampler resumes exactly from its ``state_dict``.

Every replica image is filled with its class's colour (tests/helpers/replicas.py), and each STL-10 image has a
black band over its top 12 rows, so a swapped channel, a transposed plane or a misplaced image shows up.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import yaml

from benchmark.data import DatasetNotFoundError, build_dataset
from benchmark.data import stl10 as stl10_module
from benchmark.registry import DATASETS
from tests.helpers.launching import REPO
from tests.helpers.replicas import solid_images, write_cifar100, write_stl10


def load(name: str, root, split: str = "train", **extra):
    return build_dataset({"name": name, "root": str(root), "download": False, **extra}, split)


def stl10_expected(colours) -> np.ndarray:
    """The (N, 3, 96, 96) images the STL-10 replica holds, built independently of the file layout."""
    images = solid_images(colours, 96)
    images[:, :12] = 0  # the black band: the top 12 rows
    return images.transpose(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------------- CIFAR-100


def test_cifar100_in_memory_reads_the_python_pickles(tmp_path):
    splits, classes = write_cifar100(tmp_path)
    for split, labels in splits.items():
        data = load("cifar100_in_memory", tmp_path, split)
        assert data.images.dtype == torch.uint8 and data.images.shape == (len(labels), 3, 32, 32)
        assert data.images.is_contiguous()
        assert (data.channels, data.image_size) == (3, 32) and data.classes == classes
        assert data.labels.dtype == torch.int64 and data.labels.tolist() == labels  # the fine labels
        expected = solid_images(labels, 32).transpose(0, 3, 1, 2)  # red, green, blue planes in order
        assert np.array_equal(data.images.numpy(), expected)
        image, label = data[0]
        assert image.shape == (3, 32, 32) and image.min() >= -1 and image.max() <= 1 and label == labels[0]


def test_cifar100_in_memory_missing_says_where(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-100-python"):
        load("cifar100_in_memory", tmp_path / "none")


# -------------------------------------------------------------------------------------------------- STL-10


def test_stl10_in_memory_train_is_train_plus_unlabeled(tmp_path):
    splits, classes = write_stl10(tmp_path, unlabeled_colours=(2, 1, 0))
    data = load("stl10_in_memory", tmp_path)
    n = len(splits["train"]) + 3
    assert len(data) == n and data.images.shape == (n, 3, 96, 96) and data.images.dtype == torch.uint8
    assert (data.channels, data.image_size) == (3, 96) and data.classes == classes
    assert data.labels.dtype == torch.int64 and data.labels.tolist() == splits["train"] + [-1, -1, -1]
    # the labelled images first, then the unlabeled ones, each decoded to (C, H, W) with rows first
    assert np.array_equal(data.images.numpy(), stl10_expected(splits["train"] + [2, 1, 0]))
    assert data.images[:, :, :12].max() == 0 and data.images[:, :, 12:, :12].min() > 0  # a band of rows, not columns


def test_stl10_in_memory_default_replica_counts(tmp_path):
    splits, _ = write_stl10(tmp_path)  # unlabeled_X.bin with 2 images
    data = load("stl10_in_memory", tmp_path)
    assert len(data) == len(splits["train"]) + 2
    assert data.labels.tolist() == splits["train"] + [-1, -1]


def test_stl10_in_memory_test_split(tmp_path):
    splits, _ = write_stl10(tmp_path)
    data = load("stl10_in_memory", tmp_path, "test")
    assert data.images.shape == (len(splits["test"]), 3, 96, 96)
    assert data.labels.tolist() == splits["test"]
    assert np.array_equal(data.images.numpy(), stl10_expected(splits["test"]))


def test_stl10_in_memory_decodes_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(stl10_module, "CHUNK", 2)  # 4 train images: 2 + 2; 5 unlabeled: 2 + 2 + 1
    splits, _ = write_stl10(tmp_path, unlabeled_colours=(1, 2, 0, 0, 1))
    data = load("stl10_in_memory", tmp_path)
    assert np.array_equal(data.images.numpy(), stl10_expected(splits["train"] + [1, 2, 0, 0, 1]))


def test_stl10_in_memory_missing_unlabeled_file_is_named(tmp_path):
    write_stl10(tmp_path)
    (tmp_path / "stl10_binary" / "unlabeled_X.bin").unlink()
    with pytest.raises(DatasetNotFoundError, match="unlabeled_X.bin") as info:
        load("stl10_in_memory", tmp_path)
    assert "download=true" in str(info.value)
    assert len(load("stl10_in_memory", tmp_path, "test")) == 3  # the test split does not need it


def test_stl10_in_memory_rejects_broken_files(tmp_path):
    write_stl10(tmp_path)
    folder = tmp_path / "stl10_binary"
    (folder / "unlabeled_X.bin").write_bytes((folder / "unlabeled_X.bin").read_bytes()[:-10])
    with pytest.raises(ValueError, match="whole number"):
        load("stl10_in_memory", tmp_path)
    (folder / "unlabeled_X.bin").write_bytes(b"")
    (folder / "train_y.bin").write_bytes(b"\x01")
    with pytest.raises(ValueError, match="1 labels for the 4 images"):
        load("stl10_in_memory", tmp_path)
    with pytest.raises(ValueError, match="unknown stl10_in_memory split"):
        load("stl10_in_memory", tmp_path, "unlabeled")


# ------------------------------------------------------------------------------------------- exact resume


def tagged(name: str, root):
    """The source's train split, each image's first pixel set to its index, so a batch says which images it holds
    (the replicas' solid colours would let two different orders give equal batches)."""
    data = load(name, root)
    data.images[:, 0, 0, 0] = torch.arange(len(data), dtype=torch.uint8)
    return data


@pytest.mark.parametrize("name, write, batch_size", [("cifar100_in_memory", write_cifar100, 3),
                                                     ("stl10_in_memory", write_stl10, 2)])
def test_sampler_resumes_exactly(tmp_path, name, write, batch_size):
    write(tmp_path)
    k, more = 3, 5  # stop mid-epoch; the resumed run crosses epoch boundaries (drawing new permutations)
    reference = tagged(name, tmp_path).batches(batch_size, torch.Generator().manual_seed(7))
    expected = [next(reference) for _ in range(k + more)][k:]

    interrupted = tagged(name, tmp_path).batches(batch_size, torch.Generator().manual_seed(7))
    for _ in range(k):
        next(interrupted)
    buffer = io.BytesIO()
    torch.save(interrupted.state_dict(), buffer)  # as a checkpoint holds it

    buffer.seek(0)
    resumed = tagged(name, tmp_path).batches(batch_size, torch.Generator().manual_seed(12345))
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    got = [next(resumed) for _ in range(more)]
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    tags = [((b[:, 0, 0, 0] + 1) * 127.5).round().long().tolist() for b in got]
    assert len({tuple(t) for t in tags}) > 1  # the batches differ: the check above is not vacuous


# ------------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("config, name", [("cifar100", "cifar100_in_memory"), ("stl10", "stl10_in_memory")])
def test_launch_data_configs(config, name):
    cfg = yaml.safe_load((REPO / "launch" / "data" / f"{config}.yaml").read_text())
    assert cfg == {"name": name, "root": "${paths.datasets}", "download": True}
    assert DATASETS.get(name) is not None
