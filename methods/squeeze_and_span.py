"""Squeeze and Span (Yang, Cheng, Liu, Bilen, Ji, "Distilling Representations from GAN Generator via
Squeeze and Span", NeurIPS 2022), and Squeeze, the same method with alpha = 1 (no span).

Squeeze, on synthetic images x = G(w):
    Z_f = projector(S(A(x)))               the student sees an augmented sample
    Z_g = T_phi(h_g(w))                    the squeeze module sees the un-augmented sample's features,
                                           trained jointly with the student (not detached)
    L_squeeze = lambda L_RD(Z_f, Z_g) + mu [L_var(Z_f) + L_var(Z_g)] + nu [L_cov(Z_f) + L_cov(Z_g)]
Span, on real images: VICReg between two augmented views, variance terms summed (not halved):
    L_span = lambda L_RD(Z_r, Z_r') + mu [L_var(Z_r) + L_var(Z_r')] + nu [L_cov(Z_r) + L_cov(Z_r')]
Total: alpha L_squeeze + (1 - alpha) L_span; a batch of B is split round(alpha B) synthetic : rest real.

``zg_varcov``: "poster" puts var/cov on Z_g as the poster's formula (and the paper's Eq. 11) does;
"log_only" follows the authors' public code, which computes them on Z_g only for logging (the paper
presets' default; the embedded preset keeps "poster").
Each view is passed through the student separately, so BatchNorm statistics never mix synthetic and
real images, or two views of the same image.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import II

from benchmark.registry import METHODS
from benchmark.toolkit import (
    Batch,
    Method,
    MethodContext,
    SqueezeModule,
    VICRegLoss,
    covariance_loss,
    invariance_loss,
    mlp_projector,
    variance_loss,
)

SOURCES = ("generator", "latent")
ZG_VARCOV = ("poster", "log_only")


@dataclass
class SqueezeAndSpanConfig:
    alpha: float = 0.5  # weight of squeeze vs span, and the synthetic share of each batch
    # the weights and the Z_g convention come from the preset's ``objective`` section (the authors' values
    # differ per data set: 25/25/1, 10/10/1 on CIFAR-100)
    lambda_rd: float = II("objective.lambda_rd")  # weight of L_RD (and of the span's invariance term)
    mu_var: float = II("objective.mu_var")  # weight of the variance terms
    nu_cov: float = II("objective.nu_cov")  # weight of the covariance terms
    source: str = "generator"  # "generator": block features h_g; "latent": the latent w
    zg_varcov: str = II("objective.zg_varcov")  # "poster" | "log_only" (see the module docstring)
    projector_hidden_dim: int = II("head.hidden_dim")
    projector_hidden_layers: int = II("head.hidden_layers")
    embed_dim: int = II("head.embed_dim")  # width of Z_f, Z_g, Z_r; the squeeze module's width too


@METHODS.register("sqsp")
class SqueezeAndSpan(Method):
    Config = SqueezeAndSpanConfig
    consumes = frozenset({"generator", "real"})

    @classmethod
    def config_problems(cls, cfg: SqueezeAndSpanConfig) -> list[tuple[str, str]]:
        problems = [(key, f"must be one of {', '.join(valid)}") for key, valid in
                    (("source", SOURCES), ("zg_varcov", ZG_VARCOV)) if getattr(cfg, key) not in valid]
        if not 0.0 < cfg.alpha <= 1.0:
            problems.append(("alpha", "must be in (0, 1]"))
        problems += [(key, "must be >= 0") for key in ("lambda_rd", "mu_var", "nu_cov") if getattr(cfg, key) < 0]
        return problems

    def __init__(self, cfg: SqueezeAndSpanConfig, ctx: MethodContext):
        super().__init__(cfg, ctx)
        if ctx.generator is None:
            raise ValueError(f"method {self.name!r} distils a generator; the config names none")
        self.projector = mlp_projector(ctx.backbone.feature_dim, cfg.projector_hidden_dim, cfg.embed_dim,
                                       cfg.projector_hidden_layers)
        source_channels = ([ctx.generator.w_dim] if cfg.source == "latent"
                           else [shape[0] for shape in ctx.generator.feature_shapes])
        self.squeeze_module = SqueezeModule(source_channels, cfg.embed_dim)
        self.augment = ctx.make_augment()  # real images, per sample
        self.augment_syn = ctx.make_augment(source="synthetic")  # one set per batch under augment.synthetic=per_batch
        self.span_loss = VICRegLoss(cfg.lambda_rd, cfg.mu_var, cfg.nu_cov, variance_convention="sum",
                                    gather=ctx.gather_batch)
        self.gather_batch = ctx.gather_batch  # the global batch's embeddings, for the var/cov terms

    def split_batch(self, batch_size: int) -> tuple[int, int]:
        n_syn = round(self.cfg.alpha * batch_size)
        return n_syn, batch_size - n_syn

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(images))

    def squeeze_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        z_f = self.embed(self.augment_syn(batch.syn.images))
        z_g = self.squeeze_module([batch.syn.w] if cfg.source == "latent" else batch.syn.features)
        rd = invariance_loss(z_f, z_g)
        z_f, z_g = self.gather_batch(z_f), self.gather_batch(z_g)
        var_f, cov_f = variance_loss(z_f), covariance_loss(z_f)
        var_g, cov_g = variance_loss(z_g), covariance_loss(z_g)
        var, cov = var_f, cov_f
        if cfg.zg_varcov == "poster":
            var, cov = var_f + var_g, cov_f + cov_g
        loss = cfg.lambda_rd * rd + cfg.mu_var * var + cfg.nu_cov * cov
        return {"loss": loss, "rd": rd, "var_f": var_f, "cov_f": cov_f, "var_g": var_g.detach(),
                "cov_g": cov_g.detach()}

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        squeeze = self.squeeze_loss(batch)
        out = {f"squeeze/{k}": v.detach() for k, v in squeeze.items()}
        loss = self.cfg.alpha * squeeze["loss"]
        if self.cfg.alpha < 1.0:
            span = self.span_loss(self.embed(self.augment(batch.real)), self.embed(self.augment(batch.real)))
            out.update({f"span/{k}": v.detach() for k, v in span.items()})
            loss = loss + (1.0 - self.cfg.alpha) * span["loss"]
        out["loss"] = loss
        return out

    def describe(self) -> dict:
        return {"zg_varcov": self.cfg.zg_varcov, "span_variance_convention": "sum",
                "augmentation": ("synthetic: one parameter set per batch; real: per sample"
                                 if self.augment_syn.same_on_batch else "per-sample parameters"),
                "augment_ops": self.augment.description}


@dataclass
class SqueezeConfig(SqueezeAndSpanConfig):
    alpha: float = 1.0  # fixed: squeeze is sqsp without the span term


@METHODS.register("squeeze")
class Squeeze(SqueezeAndSpan):
    """Squeeze alone: Squeeze and Span with alpha = 1, trained on synthetic images only."""

    Config = SqueezeConfig
    consumes = frozenset({"generator"})

    @classmethod
    def config_problems(cls, cfg: SqueezeConfig) -> list[tuple[str, str]]:
        problems = [p for p in super().config_problems(cfg) if p[0] != "alpha"]
        if cfg.alpha != 1.0:
            problems.append(("alpha", "must be 1: squeeze is sqsp with alpha = 1 (use method=sqsp for another alpha)"))
        return problems
