"""Shared fixtures: a tiny replica of the Fashion-MNIST release and small random-weight networks.
Helpers that tests import live in tests/helpers/."""
from __future__ import annotations

import pytest
import torch

from benchmark.generators.small_gan import SmallDiscriminator, SmallGenerator
from tests.helpers.replicas import write_fashion_mnist_replica


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


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: tiny convolutions only spin on more, the more so beside other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
