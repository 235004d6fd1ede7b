"""Generators and labelers the analysis tests share (benchmark/analysis: the poster's Fig. 2 with numbers), and
``cache_umap_jit`` (umap-learn's compiled functions kept on disk between test processes)."""
from __future__ import annotations

from typing import Optional

import torch

from benchmark.generators.small_gan import SmallGenerator
from benchmark.generators.train_small_gan import build_networks
from benchmark.interfaces import Generator, GeneratorOutput

GAN_CFG = {"z_dim": 16, "w_dim": 32, "g_channels": 32, "d_channels": 8, "spectral_norm": False}


def brightness_labels(images: torch.Tensor) -> torch.Tensor:
    """A deterministic two-class labeler: brighter than the batch's median or not."""
    mean = images.mean(dim=(1, 2, 3))
    return (mean > mean.median()).long()


def small_gan(with_discriminator: bool = True) -> SmallGenerator:
    torch.manual_seed(0)
    G, D = build_networks(GAN_CFG, 1, 32)  # random weights, the trained GAN's architecture
    if with_discriminator:
        G.discriminator = D.eval().requires_grad_(False)  # attached as small_gan_zoo attaches it
    return G.eval().requires_grad_(False)


class ConditionalPerLayer(Generator):
    """A conditional generator whose w is per layer (N, L, w_dim), to test labels=None and W+ flattening."""

    name = "conditional_per_layer"

    def __init__(self, layers: int = 3):
        super().__init__()
        self.inner = small_gan(with_discriminator=False)
        self.layers, self.num_classes, self.w_dim = layers, 4, self.inner.w_dim
        self.feature_names, self.feature_shapes = self.inner.feature_names, self.inner.feature_shapes

    def sample(self, n: int, labels: Optional[torch.Tensor] = None, truncation: float = 1.0,
               rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        labels = torch.randint(self.num_classes, (n,), generator=rng)
        z = torch.randn(n, self.inner.z_dim, generator=rng) + labels[:, None].float()
        out = self.inner.synthesize(self.inner.mapping(z))
        out.w = torch.stack([out.w * (i + 1) for i in range(self.layers)], dim=1)
        out.labels = labels
        return out


def cache_umap_jit() -> None:
    """Keep umap-learn's numba-compiled functions on disk between test processes.

    Most of umap-learn's jitted functions are not cached, and compiling them costs 8 s on an idle core (20 s
    and more beside other jobs) in every process that first runs UMAP: more than every other analysis test
    together. Turning numba's on-disk cache on for them (numba's own mechanism, stored where numba stores
    the ``cache=True`` functions: the package's __pycache__, or the user's cache folder when that is read
    only) pays the compilation once per machine and umap-learn version. The library's code is untouched;
    when numba's API differs, nothing is done and the tests are only slower.
    """
    try:
        import importlib

        from numba.core.dispatcher import Dispatcher

        for name in ("umap.umap_", "umap.utils", "umap.layouts", "umap.distances", "umap.sparse", "umap.spectral"):
            module = importlib.import_module(name)
            for value in vars(module).values():
                if isinstance(value, Dispatcher) and type(value._cache).__name__ == "NullCache":
                    value.enable_caching()
    except Exception:  # an optimisation of the tests' time only
        pass
