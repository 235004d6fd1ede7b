"""The kernel distance between two sets of features: the unbiased estimate of the squared maximum mean
discrepancy (Gretton et al., 2012, "A Kernel Two-Sample Test", Lemma 6) under the cubic polynomial kernel of
the Kernel Inception Distance (Bińkowski et al., 2018, "Demystifying MMD GANs", Sec. 4 and App. D):

    k(x, y) = (x . y / d + 1)^3                                    (d: the feature dimension)

    MMD_u^2 = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j) - 2/m^2 sum_{i, j} k(x_i, y_j)

for m features x of one set and m of the other. As for the KID, the estimate is averaged over ``subsets`` random
subsets of ``subset_size`` of each set (with their standard deviation), so that sets of any size cost
O(subsets * subset_size^2) and the value at equal subset sizes compares across runs.

torchmetrics' ``KernelInceptionDistance`` computes it: its feature network is the identity here, since the
features are computed (and normalised) by the caller. The features are handed over in float64: the discrepancy
of good representations is of order 1e-5 while every kernel value is near 1, so float32 sums would lose it.
The random subsets are drawn from a CPU generator seeded with ``seed``, outside the global random state.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance


def kernel_distance(features_a: torch.Tensor, features_b: torch.Tensor, subsets: int, subset_size: int,
                    seed: int = 0) -> dict:
    """{"mmd2": the mean over subsets of MMD_u^2 between the rows of ``features_a`` and ``features_b`` (N, d),
    "mmd2_std": its standard deviation over the subsets, "subsets", "subset_size"}. ``subset_size`` is cut to
    the smaller set's size (a smoke-sized evaluation); each set needs at least 2 rows."""
    if features_a.ndim != 2 or features_b.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"kernel_distance takes two (N, d) feature sets of one d, got {tuple(features_a.shape)} "
                         f"and {tuple(features_b.shape)}")
    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise ValueError(f"the kernel distance needs at least 2 features in each set, got {len(features_a)} and "
                         f"{len(features_b)}")
    with warnings.catch_warnings():  # that it keeps every feature: so do we, they are ours
        warnings.filterwarnings("ignore", message=".*will save all extracted features")
        metric = KernelInceptionDistance(feature=nn.Identity(), subsets=subsets, subset_size=size)
    metric.update(features_a.double(), real=True)
    metric.update(features_b.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws the subsets from the global CPU generator
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"mmd2": float(mean), "mmd2_std": float(std), "subsets": subsets, "subset_size": size}
