"""The Fashion-MNIST loader on tiny replicas of the release's idx files (gzipped, and as torchvision leaves them)."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from benchmark.data import DatasetNotFoundError, build_dataset
from benchmark.data import fashion_mnist as fm
from tests.helpers.replicas import write_fashion_mnist_replica, write_idx


@pytest.mark.parametrize("gz", [True, False])
def test_reads_replica(tmp_path, monkeypatch, gz):
    root = write_fashion_mnist_replica(tmp_path / "raw", n_train=30, n_test=20, gz=gz)
    monkeypatch.setenv("GANREP_DATA", str(root))
    train = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    test = build_dataset({"name": "fashion_mnist", "download": False}, "test")
    assert (len(train), len(test)) == (30, 20)
    assert train.images.shape == (30, 1, 32, 32) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [i % 10 for i in range(30)]
    # zero padding of 2 px on each side, the 28x28 content intact
    assert train.images[:, :, :2].sum() == 0 and train.images[:, :, :, -2:].sum() == 0
    opener = gzip.open if gz else open
    with opener(root / ("train-images-idx3-ubyte" + (".gz" if gz else "")), "rb") as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(30, 28, 28)
    assert np.array_equal(train.images[:, 0, 2:30, 2:30].numpy(), raw)
    image, label = train[3]
    assert image.min() >= -1 and image.max() <= 1 and label == 3


def test_torchvision_layout(tmp_path, monkeypatch):
    write_fashion_mnist_replica(tmp_path / "FashionMNIST" / "raw", n_train=10, n_test=10, gz=False)
    monkeypatch.setenv("GANREP_DATA", str(tmp_path))
    assert len(build_dataset({"name": "fashion_mnist", "download": False}, "train")) == 10


def test_missing_dataset_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("GANREP_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(DatasetNotFoundError) as info:
        build_dataset({"name": "fashion_mnist", "download": False, "cache_dir": str(tmp_path / "cache")}, "train")
    message = str(info.value)
    for place in ("empty", "no-debian", "cache"):
        assert place in message
    assert "apt-get install dataset-fashion-mnist" in message and "GANREP_DATA" in message


def test_bad_magic_is_rejected(tmp_path):
    path = tmp_path / "bad-idx"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an idx file"):
        fm.read_idx(path)


def test_truncated_file_is_rejected(tmp_path):
    write_idx(tmp_path / "x", np.zeros((4, 28, 28)), gz=False)
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-10])
    with pytest.raises(ValueError, match="header says"):
        fm.read_idx(tmp_path / "x")


def test_unknown_split(fmnist_replica):
    with pytest.raises(ValueError, match="valid splits"):
        build_dataset({"name": "fashion_mnist"}, "validation")
