"""Variance-invariance-covariance terms (Bardes, Ponce, LeCun, "VICReg", ICLR 2022), as Squeeze and
Span (Yang et al., NeurIPS 2022) writes them.

Conventions, for embeddings Z of shape (N, D):
- invariance / L_RD: mean squared error over all N*D entries (``F.mse_loss`` with mean reduction);
- L_var(Z) = (1/D) sum_j max(0, 1 - sqrt(Var(z_j) + eps)), Var unbiased (N-1), eps = 1e-4;
- L_cov(Z) = (1/D) sum_{i != j} C_ij^2 with C the (N-1)-normalised covariance matrix.
Computed in float32 whatever the autocast dtype (float64 stays float64): the terms are sums of many small
squares.
In data-parallel pretraining the variance and covariance terms take the embeddings of the whole global
batch (``gather``: MethodContext.gather_batch, benchmark/pretraining/distributed.py); the invariance term is a mean
over samples, so each process's mean over its rows, averaged by DDP, is the global one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def at_least_float32(z: torch.Tensor) -> torch.Tensor:
    """float32 for bf16/fp16 (autocast) tensors; float64 stays float64 (pretrain.precision=float64)."""
    return z if z.dtype == torch.float64 else z.float()


def invariance_loss(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(at_least_float32(z_a), at_least_float32(z_b))


def variance_loss(z: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    std = torch.sqrt(at_least_float32(z).var(dim=0) + eps)
    return F.relu(1.0 - std).mean()


def covariance_loss(z: torch.Tensor) -> torch.Tensor:
    z = at_least_float32(z)
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    off_diagonal = cov - torch.diag_embed(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / d


VARIANCE_CONVENTIONS = ("sum", "halved")


class VICRegLoss(nn.Module):
    """lambda * invariance + mu * [var(Z_a) + var(Z_b)] + nu * [cov(Z_a) + cov(Z_b)].

    ``variance_convention``: "sum" adds both views' variance terms, as the Squeeze-and-Span poster and
    the authors' code do; "halved" averages them, as the official VICReg code does (its ``std_loss`` is
    each view's term divided by two). The covariance terms are summed in both conventions. The convention
    has no default: the two are easy to confuse and change the loss by a factor on the variance term, so
    every caller names the one it means (``method=vicreg`` takes it from the preset's ``objective``).
    """

    def __init__(self, lambda_: float = 25.0, mu: float = 25.0, nu: float = 1.0, *, variance_convention: str,
                 gather=None):
        super().__init__()
        self.gather = gather if gather is not None else (lambda z: z)
        if variance_convention not in VARIANCE_CONVENTIONS:
            raise ValueError(f"variance_convention={variance_convention!r}: choose one of {VARIANCE_CONVENTIONS} "
                             "('sum': the Squeeze-and-Span authors' code; 'halved': official VICReg)")
        self.lambda_, self.mu, self.nu = lambda_, mu, nu
        self.variance_scale = 1.0 if variance_convention == "sum" else 0.5

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> dict[str, torch.Tensor]:
        inv = invariance_loss(z_a, z_b)
        z_a, z_b = self.gather(z_a), self.gather(z_b)
        var = self.variance_scale * (variance_loss(z_a) + variance_loss(z_b))
        cov = covariance_loss(z_a) + covariance_loss(z_b)
        return {"loss": self.lambda_ * inv + self.mu * var + self.nu * cov, "invariance": inv, "variance": var,
                "covariance": cov}
