"""Discriminator features: the GAN's own discriminator used, untrained further, as the backbone.

The first row pair of the Squeeze-and-Span poster's Table 1 (Yang et al., NeurIPS 2022), after the
long line of work that reads features out of a GAN discriminator (Radford et al., DCGAN, ICLR 2016):
- ``disc_single``: the input of the discriminator's last fc layer (the small GAN's: its flattened last
  block; StyleGAN2-ADA's: the output of ``b4.fc``, the 512 numbers ``b4.out`` reads, or with
  ``generator.discriminator_flat=fc`` the flattened 4x4 epilogue map that ``b4.fc`` reads);
- ``disc_multi``: every block's output, globally average pooled, concatenated (coarse to fine).
No pretraining: the generator's discriminator handle is evaluated as it is, in eval mode.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from benchmark.registry import METHODS
from benchmark.toolkit import Method, MethodContext


class DiscriminatorFeatures(nn.Module):
    """A frozen discriminator as a feature extractor; ``discriminator.features`` gives (maps, fc input)."""

    def __init__(self, discriminator: nn.Module, multi: bool, image_channels: int, image_size: int):
        super().__init__()
        self.discriminator = discriminator.eval().requires_grad_(False)
        self.multi = multi
        self.in_channels = image_channels
        with torch.no_grad():
            probe = next(discriminator.parameters())
            self.feature_dim = self(torch.zeros(2, image_channels, image_size, image_size,
                                                device=probe.device)).shape[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps, fc_input = self.discriminator.features(images)
        if self.multi:
            return torch.cat([m.flatten(2).mean(-1) for m in maps], dim=1)
        return fc_input

    def forward_stages(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output map, finest first: what the dense tasks build their heads on."""
        return self.discriminator.features(images)[0]


@dataclass
class DiscriminatorConfig:
    pass  # nothing to tune: the features are read as the GAN left them


class _DiscriminatorMethod(Method):
    Config = DiscriminatorConfig
    consumes = frozenset({"generator"})  # the discriminator comes with the generator
    needs_training = False
    multi: bool

    def __init__(self, cfg: DiscriminatorConfig, ctx: MethodContext):
        super().__init__(cfg, ctx)
        discriminator = getattr(ctx.generator, "discriminator", None)
        if discriminator is None:
            raise ValueError(f"method {self.name!r} needs the GAN's discriminator; the generator "
                             f"{type(ctx.generator).__name__} provides none")
        self.backbone = DiscriminatorFeatures(discriminator, self.multi, ctx.image_channels, ctx.image_size)

    def describe(self) -> dict:
        return {"features": "pooled block outputs, concatenated" if self.multi else "last fc input",
                "feature_dim": self.backbone.feature_dim}


@METHODS.register("disc_single")
class DiscriminatorSingle(_DiscriminatorMethod):
    multi = False


@METHODS.register("disc_multi")
class DiscriminatorMulti(_DiscriminatorMethod):
    multi = True
