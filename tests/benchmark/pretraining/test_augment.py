"""The pretraining augmentation: per-sample parameters for real images, one parameter set per synthetic batch
under ``augment.synthetic: per_batch`` (the authors' code augments the synthetic batch as one tensor)."""
from __future__ import annotations

import pytest
import torch

from benchmark.pretraining.augment import make_augment


def distinct_images(n: int, size: int = 32) -> torch.Tensor:
    """Images whose every pixel differs, so a crop or flip shows in where each value lands."""
    ramp = torch.linspace(-1, 1, size * size).view(1, 1, size, size)
    return ramp.expand(n, 3, size, size).clone()


@pytest.mark.parametrize("synthetic", ["per_batch", "per_sample"])
def test_synthetic_batches_take_one_parameter_set_per_batch(synthetic):
    cfg = {"synthetic": synthetic, "blur_p": 0.0, "blur_kernel": None}
    torch.manual_seed(0)
    out = make_augment(32, 3, cfg, source="synthetic")(distinct_images(16))
    same = all(torch.equal(out[0], out[i]) for i in range(1, 16))
    assert same == (synthetic == "per_batch")
    torch.manual_seed(0)
    real = make_augment(32, 3, cfg, source="real")(distinct_images(16))
    assert not all(torch.equal(real[0], real[i]) for i in range(1, 16))  # real images: always per sample


def test_crop_size_blur_and_bad_values():
    cfg = {"synthetic": "per_batch", "blur_p": 0.5, "blur_kernel": 5}
    augment = make_augment(64, 3, cfg, source="synthetic")
    assert "RandomGaussianBlur" in augment.description and augment.same_on_batch
    assert augment(torch.rand(4, 3, 128, 128) * 2 - 1).shape == (4, 3, 64, 64)  # a 128 px generator, 64 px crops
    assert augment(torch.rand(4, 3, 96, 96) * 2 - 1).shape == (4, 3, 64, 64)  # 96 px STL-10 images
    assert "RandomGaussianBlur" not in make_augment(32, 3, cfg).description  # below 64 px the blur is left out
    with pytest.raises(ValueError, match="augment.synthetic='batch'.*per_sample"):
        make_augment(32, 3, {"synthetic": "batch"}, source="synthetic")
    with pytest.raises(ValueError, match="source='fake'"):
        make_augment(32, 3, cfg, source="fake")
