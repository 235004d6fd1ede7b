"""VICReg (Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022), the poster's second SSL baseline, on real, synthetic or mixed
images (``domain``, see benchmark/toolkit/domains.py).

Two augmented views, Z_a and Z_b = projector(backbone(x)):
    L = lambda * MSE(Z_a, Z_b) + mu * s * [L_var(Z_a) + L_var(Z_b)] + nu * [L_cov(Z_a) + L_cov(Z_b)]
with 25 / 25 / 1 and the terms of benchmark/toolkit/losses.py. ``variance_convention``: "halved" (s = 1/2) is the
official VICReg code; "sum" (s = 1) is what the Squeeze-and-Span authors' code does. The result record
names the one used. The projector is the same MLP as sqsp's student projector (the preset's ``head``),
so that the comparison with sqsp differs only in the objective and the data.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import II

from benchmark.registry import METHODS
from benchmark.toolkit import Batch, DomainMethod, MethodContext, VICRegLoss, mlp_projector


@dataclass
class VICRegConfig:
    domain: str = "real"                # syn | real | syn_real
    syn_fraction: float = 0.5           # share of generated images in a syn_real batch
    lambda_inv: float = 25.0
    mu_var: float = 25.0
    nu_cov: float = 1.0
    variance_convention: str = II("objective.vicreg_variance")  # "halved" (official VICReg) | "sum" (the authors')
    projector_hidden_dim: int = II("head.hidden_dim")
    projector_hidden_layers: int = II("head.hidden_layers")
    embed_dim: int = II("head.embed_dim")


@METHODS.register("vicreg")
class VICReg(DomainMethod):
    Config = VICRegConfig

    def __init__(self, cfg: VICRegConfig, ctx: MethodContext):
        super().__init__(cfg, ctx)
        self.projector = mlp_projector(ctx.backbone.feature_dim, cfg.projector_hidden_dim, cfg.embed_dim,
                                       cfg.projector_hidden_layers)
        self.vicreg_loss = VICRegLoss(cfg.lambda_inv, cfg.mu_var, cfg.nu_cov, variance_convention=cfg.variance_convention,
                                      gather=ctx.gather_batch)

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        z_a = self.projector(self.backbone(self.augmented_view(batch)))
        z_b = self.projector(self.backbone(self.augmented_view(batch)))
        out = self.vicreg_loss(z_a, z_b)
        return {"loss": out["loss"], **{k: v.detach() for k, v in out.items() if k != "loss"}}

    def describe(self) -> dict:
        return {"domain": self.cfg.domain, "variance_convention": self.cfg.variance_convention,
                "augmentation": self.augmentation_description()}
