"""Latent encoding: an encoder that inverts the generator, regressing the latent w of its samples.

Table 1's "Latent variable / Encoding" rows of the Squeeze-and-Span poster (Yang et al., NeurIPS 2022),
the GAN-inversion family of BiGAN/ALI (Donahue et al., Dumoulin et al., ICLR 2017):
- ``domain=syn``: L = || E(G(w)) - w ||^2 on synthetic images;
- ``domain=syn_real``: plus a reconstruction term on real images through the frozen generator,
  ``recon_weight`` * || G(E(x)) - x ||^2, and a perceptual term || phi(G(E(x))) - phi(x) ||^2 with
  phi = VGG-16 up to relu3_3, **only when the VGG-16 ImageNet weights are already on disk** (nothing is
  downloaded). Whether it was used is written into the result record (``describe``).
E = backbone + the preset's MLP projector ending in a Linear to w's width. MSE is averaged over every
entry. The generator is frozen but differentiable, so the reconstruction trains the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from omegaconf import II

from benchmark.registry import METHODS
from benchmark.toolkit import Batch, DomainMethod, MethodContext, at_least_float32, invariance_loss, mlp_projector

PERCEPTUAL = ("auto", "off")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def vgg16_weights_file() -> Path:
    """Where torchvision keeps the VGG-16 ImageNet weights once downloaded (torch hub's cache)."""
    url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


class PerceptualFeatures(torch.nn.Module):
    """VGG-16 features up to relu3_3 of images in [-1, 1] (1-channel images are repeated to RGB)."""

    def __init__(self, weights_file: Path):
        super().__init__()
        vgg = torchvision.models.vgg16()
        vgg.load_state_dict(torch.load(weights_file, map_location="cpu"))
        self.features = vgg.features[:16].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = at_least_float32(images).add(1).mul(0.5).expand(-1, 3, -1, -1)
        return self.features((x - self.mean) / self.std)


@dataclass
class LatentEncodingConfig:
    domain: str = "syn"          # "syn": regress w only; "syn_real": + reconstruction of real images
    syn_fraction: float = 0.5    # share of synthetic images in a syn_real batch
    recon_weight: float = 1.0    # pixel reconstruction of real images (syn_real)
    perceptual: str = "auto"     # "auto": add the VGG-16 term when its weights are on disk; "off"
    perceptual_weight: float = 1.0
    projector_hidden_dim: int = II("head.hidden_dim")
    projector_hidden_layers: int = II("head.hidden_layers")


@METHODS.register("latent_encoding")
class LatentEncoding(DomainMethod):
    Config = LatentEncodingConfig
    domains = ("syn", "syn_real")

    @classmethod
    def config_problems(cls, cfg: LatentEncodingConfig) -> list[tuple[str, str]]:
        problems = super().config_problems(cfg)
        if cfg.perceptual not in PERCEPTUAL:
            problems.append(("perceptual", f"must be one of {', '.join(PERCEPTUAL)}"))
        problems += [(key, "must be >= 0") for key in ("recon_weight", "perceptual_weight") if getattr(cfg, key) < 0]
        return problems

    def __init__(self, cfg: LatentEncodingConfig, ctx: MethodContext):
        super().__init__(cfg, ctx)
        if ctx.generator is None:
            raise ValueError(f"method {self.name!r} inverts a generator; the config names none")
        self.projector = mlp_projector(ctx.backbone.feature_dim, cfg.projector_hidden_dim, ctx.generator.w_dim,
                                       cfg.projector_hidden_layers)
        # Frozen networks are kept out of the module tree: not trained, not saved, never put in train mode.
        self.__dict__["generator"] = ctx.generator
        weights = vgg16_weights_file()
        use_perceptual = cfg.domain == "syn_real" and cfg.perceptual == "auto" and weights.exists()
        self.__dict__["perceptual_net"] = PerceptualFeatures(weights) if use_perceptual else None
        self.perceptual_note = (f"VGG-16 relu3_3 ({weights})" if use_perceptual else
                                "not used" if cfg.domain == "syn" or cfg.perceptual == "off" else
                                f"absent: no VGG-16 weights at {weights}")

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(images))

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        latent = invariance_loss(self.encode(batch.syn.images), batch.syn.w)
        out = {"latent": latent.detach()}
        loss = latent
        if self.cfg.domain == "syn_real":
            real = at_least_float32(batch.real)
            reconstruction = at_least_float32(self.generator.synthesize(self.encode(real)).images)
            pixel = F.mse_loss(reconstruction, real)
            loss = loss + self.cfg.recon_weight * pixel
            out["pixel"] = pixel.detach()
            if self.perceptual_net is not None:
                net = self.perceptual_net.to(real.device, real.dtype)  # float64 too (pretrain.precision)
                perceptual = F.mse_loss(net(reconstruction), net(real))
                loss = loss + self.cfg.perceptual_weight * perceptual
                out["perceptual"] = perceptual.detach()
        out["loss"] = loss
        return out

    def describe(self) -> dict:
        return {"domain": self.cfg.domain, "perceptual": self.perceptual_note}
