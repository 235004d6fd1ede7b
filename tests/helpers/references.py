"""Loss terms re-computed from their paper formulas with plain numpy loops, to check the package's losses against."""
from __future__ import annotations

import numpy as np

EPS = 1e-4


def ref_variance(z: np.ndarray) -> float:
    """L_var(Z) = 1/M sum_j max(0, 1 - sqrt(Var(z^j) + eps)), Var with N-1."""
    n, m = z.shape
    total = 0.0
    for j in range(m):
        col = z[:, j]
        var = sum((v - col.mean()) ** 2 for v in col) / (n - 1)
        total += max(0.0, 1.0 - np.sqrt(var + EPS))
    return total / m


def ref_covariance(z: np.ndarray) -> float:
    """L_cov(Z) = 1/M sum_{i != j} C_ij^2, C = 1/(N-1) sum_k (z_k - zbar)(z_k - zbar)^T."""
    n, m = z.shape
    zbar = z.mean(0)
    c = sum(np.outer(z[k] - zbar, z[k] - zbar) for k in range(n)) / (n - 1)
    return sum(c[i, j] ** 2 for i in range(m) for j in range(m) if i != j) / m


def ref_rd(a: np.ndarray, b: np.ndarray) -> float:
    """L_RD as mean squared error over every entry."""
    return float(((a - b) ** 2).sum() / a.size)
