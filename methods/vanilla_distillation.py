"""Vanilla distillation: regress the generator's knowledge with a student, mean squared error only.

The poster's GAN distillation objective (Yang, Cheng, Liu, Bilen, Ji, "Distilling Representations from
GAN Generator via Squeeze and Span", NeurIPS 2022), with no squeeze module and no variance/covariance:

    min_theta E_w || S_theta(a[G(w)]) - h_g(w) ||^2

- ``source=generator``: h_g(w) = every synthesis block's output, globally average pooled and
  concatenated (coarse to fine), the "Generator feature / Vanilla distillation" row of Table 1;
- ``source=latent``: h_g(w) = w itself, the "Latent variable / Vanilla distillation" row.
S_theta = backbone + the preset's MLP projector ending in a Linear to the target's width (no final BN).
``augment=false`` is the ablation's row a (L_RD alone); ``augment=true`` (a ~ A) is row b.
The loss is MSE averaged over every entry of the target, scaled by ``lambda_rd``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import II
from torch import nn

from benchmark.registry import METHODS
from benchmark.toolkit import (
    Batch,
    GeneratorOutput,
    Method,
    MethodContext,
    at_least_float32,
    invariance_loss,
    mlp_projector,
)

SOURCES = ("generator", "latent")


def pooled_generator_features(features: list[torch.Tensor]) -> torch.Tensor:
    """Every block's map globally average pooled, concatenated coarse to fine: (N, sum C_i)."""
    return torch.cat([at_least_float32(h).flatten(2).mean(-1) for h in features], dim=1)


def distillation_target(syn: GeneratorOutput, source: str) -> torch.Tensor:
    return at_least_float32(syn.w) if source == "latent" else pooled_generator_features(syn.features)


@dataclass
class VanillaDistillationConfig:
    source: str = "generator"  # "generator": pooled block features; "latent": w
    augment: bool = True       # the student sees a[G(w)]; false = the ablation's row a
    lambda_rd: float = 1.0     # loss scale; with plain SGD it acts as a learning-rate multiplier
    projector_hidden_dim: int = II("head.hidden_dim")
    projector_hidden_layers: int = II("head.hidden_layers")


@METHODS.register("distill")
class VanillaDistillation(Method):
    Config = VanillaDistillationConfig
    consumes = frozenset({"generator"})

    @classmethod
    def config_problems(cls, cfg: VanillaDistillationConfig) -> list[tuple[str, str]]:
        return [("source", f"must be one of {', '.join(SOURCES)}")] if cfg.source not in SOURCES else []

    def __init__(self, cfg: VanillaDistillationConfig, ctx: MethodContext):
        super().__init__(cfg, ctx)
        if ctx.generator is None:
            raise ValueError(f"method {self.name!r} distils a generator; the config names none")
        target_dim = (ctx.generator.w_dim if cfg.source == "latent"
                      else sum(shape[0] for shape in ctx.generator.feature_shapes))
        self.projector = mlp_projector(ctx.backbone.feature_dim, cfg.projector_hidden_dim, target_dim,
                                       cfg.projector_hidden_layers)
        self.augment = ctx.make_augment(source="synthetic") if cfg.augment else nn.Identity()

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        prediction = self.projector(self.backbone(self.augment(batch.syn.images)))
        rd = invariance_loss(prediction, distillation_target(batch.syn, self.cfg.source))
        return {"loss": self.cfg.lambda_rd * rd, "rd": rd.detach()}

    def describe(self) -> dict:
        return {"target": "w" if self.cfg.source == "latent" else "pooled block features, concatenated",
                "augmentation": ("none" if not self.cfg.augment else "one parameter set per batch"
                                 if self.augment.same_on_batch else "per-sample parameters")}
