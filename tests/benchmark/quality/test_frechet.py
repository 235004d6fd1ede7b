"""The Fréchet distance (benchmark/quality/frechet.py) against its definition computed here with numpy/scipy,
its zero on identical sets, the whole path from a suite generator and a suite data set, and the conversion of
suite images into the Inception's uint8 input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from benchmark.data import build_dataset
from benchmark.data.in_memory import to_float
from benchmark.quality.frechet import dataset_batches, frechet_distance, real_image_batches
from benchmark.quality.inception import to_uint8_rgb


class Projection(nn.Module):
    """A small deterministic feature network: a fixed random projection of the pixels, then tanh (8-d)."""

    def __init__(self, pixels: int, dim: int = 8, seed: int = 0):
        super().__init__()
        weight = torch.randn(dim, pixels, generator=torch.Generator().manual_seed(seed)) / pixels ** 0.5
        self.register_buffer("weight", weight * 4)
        self.num_features = dim
        self.description = f"{dim}-d random projection (test)"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tanh(images.flatten(1) @ self.weight.t())


def batches_of(images: torch.Tensor, size: int):
    return [images[i:i + size] for i in range(0, len(images), size)]


def same_samples(generator, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """The images frechet_distance draws: the same batches from a generator seeded the same way."""
    rng, out = torch.Generator().manual_seed(seed), []
    for start in range(0, n, batch_size):
        out.append(generator.sample(min(batch_size, n - start), rng=rng, truncation=1.0).images)
    return torch.cat(out)


def reference_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)) with the (n - 1)-normalised sample covariances."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False, ddof=1), np.cov(b, rowvar=False, ddof=1)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


def test_identical_sets_are_at_distance_zero(small_generator, one_thread):
    feature = Projection(32 * 32)
    images = same_samples(small_generator, 96, 32, seed=5)
    result = frechet_distance(small_generator, batches_of(images, 40), feature, samples=96, batch_size=32,
                              device="cpu", seed=5)
    assert result["samples"] == result["real_images"] == 96
    assert abs(result["value"]) < 1e-8
    assert result["feature"] == "8-d random projection (test)"


def test_value_is_the_frechet_distance_of_the_features(small_generator, one_thread):
    feature = Projection(32 * 32)
    fake = same_samples(small_generator, 150, 64, seed=1)
    # real images of another distribution: noise around a brighter mean (full-rank features, a clear distance)
    real = (torch.randn(130, 1, 32, 32, generator=torch.Generator().manual_seed(2)) * 0.3 + 0.2).clamp(-1, 1)
    result = frechet_distance(small_generator, batches_of(real, 50), feature, samples=150, batch_size=64,
                              device="cpu", seed=1, real_samples=130)
    assert (result["samples"], result["real_images"]) == (150, 130)
    with torch.no_grad():
        expected = reference_frechet(feature(fake).double().numpy(), feature(real).double().numpy())
    assert expected > 0.1
    assert result["value"] == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert isinstance(result["value"], float)


def test_real_images_stop_at_the_sample_count(small_generator, one_thread):
    feature = Projection(32 * 32)
    real = torch.rand(100, 1, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    seen = []

    def tracked():
        for batch in batches_of(real, 30):
            seen.append(len(batch))
            yield batch, torch.zeros(len(batch))  # (images, labels) pairs, as a DataLoader gives them

    result = frechet_distance(small_generator, tracked(), feature, samples=45, batch_size=20, device="cpu")
    assert (result["samples"], result["real_images"]) == (45, 45)
    assert seen == [30, 30]  # nothing read past the 45th image
    expected = reference_frechet(feature(same_samples(small_generator, 45, 20, 0)).double().numpy(),
                                 feature(real[:45]).double().numpy())
    assert result["value"] == pytest.approx(expected, rel=1e-7)


def test_generator_against_a_suite_dataset_end_to_end(small_generator, fmnist_replica, one_thread):
    """A suite GAN (random weights) against the Fashion-MNIST replica's training set, read by the helper."""
    data_cfg = {"name": "fashion_mnist", "download": False}
    feature = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
    torch.manual_seed(0)
    nn.init.normal_(feature[0].weight)  # no num_features: probed from the generator's image format
    result = frechet_distance(small_generator, real_image_batches(data_cfg, batch_size=64), feature, samples=120,
                              batch_size=50, device="cpu", real_samples=math.inf)
    assert result["samples"] == 120 and result["real_images"] == 200  # the replica's whole training set
    assert np.isfinite(result["value"]) and result["value"] > 0
    assert result["feature"] == "Sequential features"
    train = build_dataset(data_cfg, "train")
    with torch.no_grad():
        expected = reference_frechet(feature(same_samples(small_generator, 120, 50, 0)).double().numpy(),
                                     feature(to_float(train.images)).double().numpy())
    assert result["value"] == pytest.approx(expected, rel=1e-6)


def test_dataset_batches_cover_each_image_once(fmnist_replica):
    train = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    batches = list(dataset_batches(train, 64))
    assert [len(b) for b in batches] == [64, 64, 64, 8]
    assert torch.equal(torch.cat(batches), to_float(train.images))
    subset = torch.cat(list(dataset_batches(train, 64, limit=50, seed=1)))
    assert len(subset) == 50 and torch.equal(subset, torch.cat(list(dataset_batches(train, 64, limit=50, seed=1))))
    assert len({tuple(x.flatten().tolist()) for x in subset}) == 50  # no image twice


def test_uint8_input_gives_back_the_pixels_of_real_images():
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    rgb = to_uint8_rgb(to_float(pixels))
    assert rgb.dtype == torch.uint8 and rgb.shape == (1, 3, 16, 16)
    assert all(torch.equal(rgb[:, c:c + 1], pixels) for c in range(3))
    # generated images beyond [-1, 1] are clamped; 3 channels stay as they are
    out = to_uint8_rgb(torch.tensor([-1.5, -1.0, 0.0, 1.0, 1.2]).reshape(1, 1, 1, 5).expand(1, 3, 1, 5))
    assert out[0, 0, 0].tolist() == [0, 0, 128, 255, 255]


def test_to_feature_input_shapes_what_the_feature_sees(small_generator, one_thread):
    """An explicit ``to_feature_input`` (here the Inception's uint8 RGB form) is applied to both sets."""
    projection = Projection(3 * 32 * 32)

    class OnUint8(nn.Module):
        num_features = 8

        def forward(self, images):
            assert images.dtype == torch.uint8 and images.shape[1] == 3
            return projection(images.float() / 127.5 - 1)

    real = torch.rand(60, 1, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    result = frechet_distance(small_generator, [real], OnUint8(), samples=60, batch_size=30, device="cpu",
                              to_feature_input=to_uint8_rgb)
    with torch.no_grad():
        fake = OnUint8()(to_uint8_rgb(same_samples(small_generator, 60, 30, 0))).double().numpy()
        expected = reference_frechet(fake, OnUint8()(to_uint8_rgb(real)).double().numpy())
    assert result["value"] == pytest.approx(expected, rel=1e-7)
