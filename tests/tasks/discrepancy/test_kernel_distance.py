"""The kernel distance against the unbiased MMD^2 written out from its formula (Gretton et al. 2012, Lemma 6;
the KID's cubic polynomial kernel, Bińkowski et al. 2018), element by element in numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.discrepancy.kernel_distance import kernel_distance


def unbiased_mmd2_from_formula(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], len(x)
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_one_subset_of_every_row_is_the_formula():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(loc=0.4, size=(12, 5))
    result = kernel_distance(torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=12)
    assert result["mmd2"] == pytest.approx(unbiased_mmd2_from_formula(x, y), rel=1e-12, abs=1e-15)
    assert result["subset_size"] == 12 and result["mmd2_std"] == 0.0


def test_subsets_average_the_formula_over_random_subsets_and_are_seeded():
    rng = np.random.default_rng(1)
    x, y = torch.from_numpy(rng.normal(size=(40, 4))), torch.from_numpy(rng.normal(size=(40, 4)))
    a = kernel_distance(x, y, subsets=5, subset_size=10, seed=3)
    assert a == kernel_distance(x, y, subsets=5, subset_size=10, seed=3)
    assert a["mmd2"] != kernel_distance(x, y, subsets=5, subset_size=10, seed=4)["mmd2"]
    torch.manual_seed(0)  # the global generator is left where it was
    untouched = torch.rand(1)
    torch.manual_seed(0)
    kernel_distance(x, y, subsets=5, subset_size=10, seed=3)
    assert torch.equal(torch.rand(1), untouched)


def test_the_unbiased_estimate_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(2)
    same = kernel_distance(torch.from_numpy(rng.normal(size=(400, 8))), torch.from_numpy(rng.normal(size=(400, 8))),
                           subsets=10, subset_size=200)
    shifted = [kernel_distance(torch.from_numpy(rng.normal(size=(400, 8))),
                               torch.from_numpy(rng.normal(loc=shift, size=(400, 8))), subsets=10, subset_size=200)
               for shift in (0.3, 1.0)]
    assert abs(same["mmd2"]) < 3 * same["mmd2_std"] + 1e-3
    assert 0 < shifted[0]["mmd2"] < shifted[1]["mmd2"]


def test_subset_size_is_cut_to_the_smaller_set_and_bad_shapes_are_named():
    x, y = torch.randn(30, 3), torch.randn(7, 3)
    assert kernel_distance(x, y, subsets=2, subset_size=1000)["subset_size"] == 7
    with pytest.raises(ValueError, match="one d"):
        kernel_distance(torch.randn(5, 3), torch.randn(5, 4), subsets=1, subset_size=5)
    with pytest.raises(ValueError, match="at least 2"):
        kernel_distance(torch.randn(5, 3), torch.randn(1, 3), subsets=1, subset_size=5)
