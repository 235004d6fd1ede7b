"""task=rep_discrepancy on a replica of Fashion-MNIST's idx files: a generator that draws real images is held
closer to the real test images than one that draws noise, the value is reproducible, sizes that differ from
the student's are resized, and a missing generator or a bad option is named."""
from __future__ import annotations

from typing import Optional

import pytest
import torch

from benchmark.backbones import resnet18_cifar
from benchmark.data import build_dataset
from benchmark.data.in_memory import to_float
from benchmark.interfaces import Generator, GeneratorOutput, TaskContext
from tasks.discrepancy.representation_discrepancy import RepresentationDiscrepancy
from tests.helpers.replicas import write_fashion_mnist_replica
from tests.helpers.tasks import build_task


class PoolGenerator(Generator):
    """Draws its images from a fixed pool (real training images, or noise), at the pool's size or ``resolution``."""

    name = "pool"

    def __init__(self, pool: torch.Tensor, resolution: Optional[int] = None):
        super().__init__()
        self.pool, self.image_channels = pool, pool.shape[1]
        self.resolution = resolution or pool.shape[-1]
        self.z_dim = self.w_dim = 1
        self.feature_names, self.feature_shapes = [], []

    def sample(self, n, labels=None, truncation=1.0, rng=None) -> GeneratorOutput:
        images = self.pool[torch.randint(len(self.pool), (n,), generator=rng)]
        if self.resolution != images.shape[-1]:
            images = torch.nn.functional.interpolate(images, size=self.resolution)
        return GeneratorOutput(images=images, features=[], w=torch.zeros(n, 1))


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory):
    root = write_fashion_mnist_replica(tmp_path_factory.mktemp("fmnist"), n_train=300, n_test=120)
    data_cfg = {"name": "fashion_mnist", "root": str(root), "download": False}
    return data_cfg, to_float(build_dataset(data_cfg, "train").images)


def context(data_cfg, generator, image_size=28, **eval_cfg) -> TaskContext:
    return TaskContext(device=torch.device("cpu"), data_cfg=data_cfg, cache_dir="data", eval_cfg=eval_cfg,
                       image_channels=1, image_size=image_size, generator=generator)


def backbone():
    torch.manual_seed(0)
    return resnet18_cifar(width=4, in_channels=1)


def task(**overrides):
    return build_task("rep_discrepancy", subsets=20, subset_size=60, batch_size=50, **overrides)


def test_real_looking_images_are_held_closer_than_noise(fmnist):
    data_cfg, train_images = fmnist
    net = backbone()
    real_like = task().run(net, context(data_cfg, PoolGenerator(train_images)))
    noise = task().run(net, context(data_cfg, PoolGenerator(torch.rand(300, 1, 28, 28) * 2 - 1)))
    assert real_like["real_images"] == real_like["generated_images"] == 120  # the whole test split
    assert real_like["subset_size"] == 60 and real_like["feature_dim"] == net.feature_dim
    assert noise["mmd2_e5"] > 10 * max(real_like["mmd2_e5"], real_like["mmd2_std_e5"])
    assert noise["mmd2"] == pytest.approx(noise["mmd2_e5"] * 1e-5)
    assert real_like == task().run(net, context(data_cfg, PoolGenerator(train_images)))  # seeded throughout


def test_the_preset_limit_and_the_student_size_apply(fmnist):
    data_cfg, train_images = fmnist
    # a 32 px generator and 28 px real images, both shown to a 24 px student (the STL-10 recipe's case)
    result = task().run(backbone(), context(data_cfg, PoolGenerator(train_images, resolution=32), image_size=24,
                                            max_test_samples=80))
    assert result["real_images"] == result["generated_images"] == 80
    recipe = task().recipe(context(data_cfg, None, max_test_samples=80))
    assert "80 real test images" in recipe["protocol"] and "suite's measure" in recipe["protocol"]


def test_a_missing_generator_and_bad_options_are_named(fmnist):
    data_cfg, _ = fmnist
    with pytest.raises(ValueError, match="needs the run's generator"):
        task().run(backbone(), context(data_cfg, None))
    with pytest.raises(ValueError, match="valid: l2, none"):
        task(normalise="zscore")
    with pytest.raises(ValueError, match="valid: train, test"):
        task(split="val")
    with pytest.raises(ValueError, match="samples must be at least 2"):
        task(samples=1)
    assert RepresentationDiscrepancy.uses_generator and not RepresentationDiscrepancy.higher_is_better
