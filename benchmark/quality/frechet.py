"""The Fréchet distance between a generator's images and real images in the features of a network: the FID
(Heusel et al., 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium")
when the network is the Inception-v3 of benchmark/quality/inception.py.

    d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

of the Gaussians with the features' sample means mu and covariances S (normalised by n - 1) of the two sets.

Why torchmetrics' FrechetInceptionDistance with torch-fidelity's Inception, and not clean-fid: the FIDs we
compare with (those StyleGAN2-ADA reports, the poster's) were computed with the TensorFlow Inception graph
``inception-2015-12-05``, whose input is the uint8 image resized by TensorFlow 1.x's bilinear filter.
torch-fidelity's port reproduces that graph and that resize, so its FID is the reported one (up to sampling
noise). clean-fid deliberately changes the resize (an antialiased PIL bicubic) and so gives other numbers, not
comparable to the reported ones. torchmetrics accumulates the feature sums and outer products in float64 and
computes the distance in float64 (Tr (S_1 S_2)^(1/2) as the sum of the square roots of the eigenvalues of
S_1 S_2); the features are handed to it in float64 so the value is not rounded to float32 at the end.

The same code gives the offline "Fréchet distance in the features of the suite's Fashion-MNIST classifier"
(benchmark/quality/reference_classifier.py) when that classifier is the feature network: not an FID, and named
by the ``feature`` description that every result carries.

Conventions: images from the generator and the real batches are the suite's, float in [-1, 1], (N, C, H, W).
``to_feature_input`` turns them into what the feature network takes (uint8 RGB for the Inception). Paper scale
is 50,000 generated images against the training set (StyleGAN2-ADA's fid50k_full: every training image,
``real_samples=math.inf``); ``samples`` and ``real_samples`` are parameters, so smaller checks cost less
(the FID is biased upwards at small sample counts: compare values only at equal counts).
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Iterable, Optional

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from tqdm import tqdm

from benchmark.data import build_dataset
from benchmark.data.in_memory import to_float
from benchmark.interfaces import Generator

log = logging.getLogger(__name__)


def clamp_unit(images: torch.Tensor) -> torch.Tensor:
    """The default input of a float feature network: the images clamped to [-1, 1], as they would be saved
    (a generator without a final tanh overshoots a little; real images never do)."""
    return images.clamp(-1.0, 1.0)


class _FeatureAdapter(nn.Module):
    """Suite images in, float64 features out: what torchmetrics' metric is given as its ``feature``."""

    def __init__(self, feature: nn.Module, to_feature_input: Callable, num_features: int):
        super().__init__()
        self.feature, self.to_feature_input, self.num_features = feature, to_feature_input, num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.feature(self.to_feature_input(images))
        return features.reshape(len(images), -1).double()


def describe(feature: nn.Module) -> str:
    return getattr(feature, "description", None) or f"{type(feature).__name__} features"


@torch.no_grad()
def frechet_distance(generator: Generator, real_batches: Iterable, feature: nn.Module, samples: int,
                     batch_size: int, device, seed: int = 0, to_feature_input: Optional[Callable] = None,
                     real_samples: Optional[float] = None, truncation: Optional[float] = 1.0) -> dict:
    """The Fréchet distance between ``samples`` images of ``generator`` and up to ``real_samples`` (default:
    ``samples``) images of ``real_batches`` in the features of ``feature``.

    ``real_batches``: an iterable of real image batches in [-1, 1] (or of (images, labels) pairs), e.g.
    ``real_image_batches``; it is read until ``real_samples`` images or its end (``real_samples=math.inf``:
    every image, as StyleGAN2-ADA's fid50k_full takes the whole training set). ``to_feature_input``: the
    images as ``feature`` takes them; None: the feature's own ``to_feature_input`` (inception_feature's:
    uint8 RGB), else ``clamp_unit``. The generator is sampled ``batch_size`` images at a time from a
    ``torch.Generator`` seeded with ``seed`` on ``device`` (where the generator is), without truncation by default (``truncation=1``,
    as the reported FIDs; None: the generator's own default).

    Returns {"value": d^2 (float), "samples": generated images used, "real_images": real images used,
    "feature": the description of the feature network}."""
    if samples < 2:
        raise ValueError(f"the Fréchet distance needs at least 2 generated images, got samples={samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    device = torch.device(device)
    real_samples = samples if real_samples is None else real_samples
    if to_feature_input is None:
        to_feature_input = getattr(feature, "to_feature_input", None) or clamp_unit
    num_features = getattr(feature, "num_features", None)
    if num_features is None:  # probe once with an image in the generator's format
        probe = torch.zeros(1, generator.image_channels, generator.resolution, generator.resolution)
        num_features = feature.to(device)(to_feature_input(probe.to(device))).reshape(1, -1).shape[1]
    metric = FrechetInceptionDistance(feature=_FeatureAdapter(feature, to_feature_input, int(num_features)))
    metric = metric.to(device)

    rng = torch.Generator(device=device).manual_seed(seed)
    kwargs = {} if truncation is None else {"truncation": truncation}
    n_fake = 0
    with tqdm(total=samples, desc="Fréchet distance: generated images", unit="img", mininterval=2) as bar:
        while n_fake < samples:
            n = min(batch_size, samples - n_fake)
            images = generator.sample(n, rng=rng, **kwargs).images
            metric.update(images.to(device), real=False)
            n_fake += n
            bar.update(n)

    n_real = 0
    with tqdm(total=None if math.isinf(real_samples) else real_samples, desc="Fréchet distance: real images",
              unit="img", mininterval=2) as bar:
        for batch in real_batches if real_samples > 0 else ():
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            if n_real + len(images) > real_samples:
                images = images[:int(real_samples - n_real)]
            metric.update(images.to(device), real=True)
            n_real += len(images)
            bar.update(len(images))
            if n_real >= real_samples:
                break
    if n_real < 2:
        raise ValueError(f"the Fréchet distance needs at least 2 real images; the real batches held {n_real}")
    if n_real < real_samples and not math.isinf(real_samples):
        log.warning("Fréchet distance: the real batches ran out after %d images (%d asked for)", n_real, real_samples)

    value = float(metric.compute().item())
    log.info("Fréchet distance %.4f between %d generated and %d real images (%s)", value, n_fake, n_real,
             describe(feature))
    return {"value": value, "samples": n_fake, "real_images": n_real, "feature": describe(feature)}


def dataset_batches(dataset, batch_size: int, limit: Optional[int] = None, seed: int = 0):
    """Each image of a suite dataset once (float in [-1, 1], batches of ``batch_size``, the last one partial):
    all of them, or a random subset of ``limit`` drawn from ``seed``. In-memory sets are sliced from their
    uint8 tensor; others (streamed files) are read by a DataLoader with the set's workers."""
    n = len(dataset)
    if limit is None or limit >= n:
        index = torch.arange(n)
    else:
        index = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
    images = getattr(dataset, "images", None)
    if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
        for start in range(0, len(index), batch_size):
            yield to_float(images[index[start:start + batch_size]])
        return
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, index.tolist()), batch_size=batch_size,
                                         num_workers=getattr(dataset, "num_workers", 0))
    for images, _ in loader:
        yield images


def real_image_batches(data_cfg, batch_size: int, split: str = "train", limit: Optional[int] = None,
                       seed: int = 0):
    """``dataset_batches`` of the ``split`` of the suite data set ``data_cfg`` (``build_dataset``). The FID
    is taken against the training set (``split="train"``)."""
    return dataset_batches(build_dataset(data_cfg, split), batch_size, limit, seed)
