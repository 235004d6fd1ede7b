"""Shared fixtures: a tiny replica of the Fashion-MNIST release and small random-weight networks."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.generators.small_gan import SmallDiscriminator, SmallGenerator

REPO = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def fmnist_replica(tmp_path, monkeypatch):
    root = write_fashion_mnist_replica(tmp_path / "fmnist")
    monkeypatch.setenv("GANREP_DATA", str(root))
    return root


@pytest.fixture
def small_generator():
    torch.manual_seed(0)
    G = SmallGenerator(z_dim=16, w_dim=32, channels=32, resolution=32, image_channels=1)
    G.update_w_avg(64)
    G.discriminator = SmallDiscriminator(8, 32, 1).eval().requires_grad_(False)
    return G.eval().requires_grad_(False)
