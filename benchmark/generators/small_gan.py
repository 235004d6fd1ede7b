"""A small unconditional GAN for 32 px images, the suite's built-in knowledge source.

Generator: DCGAN-style synthesis (Radford et al., ICLR 2016) behind a StyleGAN-like mapping MLP, so it
has the same three kinds of knowledge as StyleGAN2-ADA: a latent w, the output of every synthesis block
(b4, b8, b16, b32, like StyleGAN's), and a discriminator. Discriminator: spectrally normalised convs
(Miyato et al., ICLR 2018), whose block outputs and final fc input serve the discriminator-feature methods.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from benchmark.interfaces import Generator, GeneratorOutput


class SynthesisBlock(nn.Module):
    """4x4 stride-2 transposed conv (doubles the resolution) -> BN -> ReLU, as in DCGAN."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class SmallGenerator(Generator):
    def __init__(self, z_dim: int = 64, w_dim: int = 128, channels: int = 256, resolution: int = 32,
                 image_channels: int = 1):
        super().__init__()
        self.z_dim, self.w_dim, self.resolution, self.image_channels = z_dim, w_dim, resolution, image_channels
        self.mapping = nn.Sequential(nn.Linear(z_dim, w_dim), nn.LeakyReLU(0.2), nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2))
        self.to_b4 = nn.Linear(w_dim, channels * 16, bias=False)
        self.b4_norm = nn.BatchNorm2d(channels)
        blocks, ch, res = [], channels, 4
        self.feature_names, self.feature_shapes = ["b4"], [(channels, 4, 4)]
        while res < resolution:
            blocks.append(SynthesisBlock(ch, ch // 2))
            ch, res = ch // 2, res * 2
            self.feature_names.append(f"b{res}")
            self.feature_shapes.append((ch, res, res))
        self.blocks = nn.ModuleList(blocks)
        self.to_image = nn.Conv2d(ch, image_channels, 3, 1, 1)
        self._b4_channels = channels

    def synthesize(self, w: torch.Tensor) -> GeneratorOutput:
        x = torch.relu(self.b4_norm(self.to_b4(w).view(len(w), self._b4_channels, 4, 4)))
        features = [x]
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return GeneratorOutput(images=torch.tanh(self.to_image(x)), features=features, w=w)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.mapping(z)).images

    def sample(self, n: int, labels: Optional[torch.Tensor] = None, truncation: float = 1.0,
               rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        if labels is not None:
            raise ValueError("the small GAN is unconditional; pass labels=None")
        device = next(self.parameters()).device
        z = torch.randn(n, self.z_dim, device=device, generator=rng)
        return self._synthesize_z(z, truncation)

    def sample_rows(self, n: int, rows: slice, rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        z = torch.randn(n, self.z_dim, device=next(self.parameters()).device, generator=rng)
        return self._synthesize_z(z[rows], 1.0)

    def _synthesize_z(self, z: torch.Tensor, truncation: float) -> GeneratorOutput:
        w = self.mapping(z)
        if truncation != 1.0:
            w = self.w_avg + truncation * (w - self.w_avg)
        return self.synthesize(w)

    @torch.no_grad()
    def update_w_avg(self, n: int = 4096) -> None:
        """Mean of w over z ~ N(0, I), the centre of truncation."""
        z = torch.randn(n, self.z_dim, device=next(self.parameters()).device)
        self.register_buffer("w_avg", self.mapping(z).mean(0), persistent=True)


class SmallDiscriminator(nn.Module):
    """4x4 stride-2 SN convs from 32 to 4 px (one per block), then an SN linear on the flat 4x4 map."""

    def __init__(self, channels: int = 64, resolution: int = 32, image_channels: int = 1, spectral: bool = True):
        super().__init__()
        self.spectral = spectral
        ch, res, out = image_channels, resolution, channels
        self.block_names, blocks = [], []
        while res > 4:
            if self.spectral:
                blocks.append(nn.Sequential(spectral_norm(nn.Conv2d(ch, out, 4, 2, 1)), nn.LeakyReLU(0.2)))
            else:
                norm = nn.BatchNorm2d(out) if blocks else nn.Identity()  # DCGAN: no norm on the input layer
                blocks.append(nn.Sequential(nn.Conv2d(ch, out, 4, 2, 1, bias=False), norm, nn.LeakyReLU(0.2)))
            self.block_names.append(f"b{res}")
            ch, out, res = out, out * 2, res // 2
        self.blocks = nn.ModuleList(blocks)
        self.fc_in_dim = ch * 16
        self.fc = spectral_norm(nn.Linear(self.fc_in_dim, 1)) if spectral else nn.Linear(self.fc_in_dim, 1)
        self.block_channels = [b[0].out_channels for b in blocks]

    def features(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every block's output and the final fc's input."""
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps, torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)[1]).squeeze(1)
