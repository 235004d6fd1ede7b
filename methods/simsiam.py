"""SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021), the poster's
SSL baseline, on real, synthetic or mixed images (``domain``, see benchmark/toolkit/domains.py).

Two augmented views x1, x2; z = projector(backbone(x)), p = predictor(z);
    L = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2,   D(p, z) = -cos(p, z) averaged over the batch.
Projector: ``projector_layers`` Linear layers, each followed by BN, with ReLU between them and none after
the last: 2 (Linear-BN-ReLU-Linear-BN) is SimSiam's CIFAR variant and the Squeeze-and-Span authors' CIFAR
baseline, 3 their STL-10 one (the preset's ``head.simsiam_projector_layers``). Predictor: the bottleneck Linear(D, D/4)-BN-ReLU-Linear(D/4, D), 2048-512-2048
in the paper. ``fix_predictor_lr``: the predictor keeps the peak learning rate while everything else
follows the cosine schedule, as the SimSiam paper recommends.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import II
from torch import nn

from benchmark.registry import METHODS
from benchmark.toolkit import Batch, DomainMethod, MethodContext, at_least_float32


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """D(p, z) with the stop-gradient on z: -mean_i cos(p_i, z_i)."""
    return -F.cosine_similarity(at_least_float32(p), at_least_float32(z.detach()), dim=-1).mean()


def simsiam_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    return 0.5 * negative_cosine(p1, z2) + 0.5 * negative_cosine(p2, z1)


@dataclass
class SimSiamConfig:
    domain: str = "real"           # syn | real | syn_real
    syn_fraction: float = 0.5      # share of generated images in a syn_real batch
    embed_dim: int = II("head.embed_dim")  # projector output and predictor input/output
    predictor_hidden_dim: int = II("head.predictor_hidden_dim")
    projector_layers: int = II("head.simsiam_projector_layers")  # 2 on CIFAR, 3 on STL-10 in the paper
    fix_predictor_lr: bool = True


@METHODS.register("simsiam")
class SimSiam(DomainMethod):
    Config = SimSiamConfig

    @classmethod
    def config_problems(cls, cfg: SimSiamConfig) -> list[tuple[str, str]]:
        problems = super().config_problems(cfg)
        return problems + [(key, "must be >= 1") for key in ("projector_layers", "embed_dim", "predictor_hidden_dim")
                           if getattr(cfg, key) < 1]

    def __init__(self, cfg: SimSiamConfig, ctx: MethodContext):
        super().__init__(cfg, ctx)
        d, h = cfg.embed_dim, cfg.predictor_hidden_dim
        layers, width = [], ctx.backbone.feature_dim
        for _ in range(cfg.projector_layers - 1):
            layers += [nn.Linear(width, d, bias=False), nn.BatchNorm1d(d), nn.ReLU(inplace=True)]
            width = d
        self.projector = nn.Sequential(*layers, nn.Linear(width, d, bias=False), nn.BatchNorm1d(d))
        self.predictor = nn.Sequential(nn.Linear(d, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(inplace=True),
                                       nn.Linear(h, d))

    def parameter_groups(self) -> list[dict]:
        predictor = list(self.predictor.parameters())
        ids = {id(p) for p in predictor}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": rest}, {"params": predictor, "fixed_lr": self.cfg.fix_predictor_lr}]

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        z1 = self.projector(self.backbone(self.augmented_view(batch)))
        z2 = self.projector(self.backbone(self.augmented_view(batch)))
        loss = simsiam_loss(self.predictor(z1), self.predictor(z2), z1, z2)
        # the per-dimension std of the normalised z: 1/sqrt(D) when healthy, 0 when collapsed
        z_std = F.normalize(at_least_float32(z1.detach()), dim=1).std(0).mean()
        return {"loss": loss, "z_std": z_std}

    def describe(self) -> dict:
        return {"domain": self.cfg.domain, "fix_predictor_lr": self.cfg.fix_predictor_lr,
                "projector_layers": self.cfg.projector_layers, "augmentation": self.augmentation_description()}
