"""StyleGAN2-ADA discriminator in plain PyTorch, loadable from official weights by name.

The discriminator of Karras et al. (NeurIPS 2020), clean-room, beside the generator (stylegan2ada.py,
whose docstring gives the shared conventions: equalised learning rate, resampling filter, no mixed
precision): a ``state_dict`` from an official ``D`` loads with ``strict=True``, and ``features`` gives
the block maps and the final fc input that the discriminator-feature methods evaluate.

Naming (``state_dict`` keys)::

    bN.fromrgb.* (first block, or every block for 'skip'), bN.conv0.*, bN.conv1.*, bN.skip.* ('resnet'),
    bN.resample_filter, b4.fromrgb.* ('skip'), b4.conv.*, b4.fc.*, b4.out.*, mapping.embed.*, mapping.fcI.*

* Discriminator: per block ``fromrgb`` (1x1 lrelu, first block or every block for 'skip'), ``conv0``
  (3x3), ``conv1`` (3x3, down=2), 'resnet' ``skip`` (1x1, down=2, no bias, gain sqrt(0.5)) plus
  ``conv1(gain=sqrt(0.5))``; 'skip' downsamples the image with the filter for the next block.
  Epilogue at 4x4: optional ``fromrgb`` ('skip'), minibatch stddev (groups of ``min(G, N)`` samples
  taken with stride ``N / G``, ``sqrt(var + 1e-8)`` averaged over channels-per-group and pixels),
  ``conv`` (3x3), ``fc`` (flatten -> C), ``out`` (C -> 1 or cmap_dim); conditional D projects with a
  MappingNetwork(z_dim=0, w_dim=cmap_dim, num_ws=None, w_avg_beta=None, 8 layers by default):
  ``sum(out * cmap) / sqrt(cmap_dim)``. ``cmap_dim`` defaults to the 4x4 channel count.
* Channel counts: ``min(channel_base // res, channel_max)``.

CIFAR-10 configuration (official ``train.py --cfg=cifar --cond=1``): c_dim 10, 32 px, 512 channels per
block, architecture 'orig' (the cifar cfg disables residual connections), mapping 8 layers (its
mapping_kwargs stay empty), cmap_dim 512, mbstd_group_size 32 (mbstd_num_channels 1), num_fp16_res 4,
conv_clamp 256: ``CIFAR10_D_KWARGS`` below.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from benchmark.generators.stylegan2ada_layers import SQRT_HALF, Conv2dLayer, FullyConnectedLayer, MappingNetwork
from benchmark.generators.stylegan2ada_ops import downsample_2x, make_resample_filter

# Keyword arguments of the official CIFAR-10 discriminator: Discriminator(**CIFAR10_D_KWARGS)
CIFAR10_D_KWARGS = dict(
    c_dim=10, img_resolution=32, img_channels=3, architecture="orig", channel_base=32768, channel_max=512,
    num_fp16_res=4, conv_clamp=256, epilogue_kwargs=dict(mbstd_group_size=32),
)


class DiscriminatorBlock(nn.Module):
    """fromrgb (first block / 'skip'), conv0 3x3, conv1 3x3 down=2, 'resnet' 1x1 skip; see module doc."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 first_layer_idx: int, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter=(1, 3, 3, 1), conv_clamp: Optional[float] = None, use_fp16: bool = False,
                 fp16_channels_last: bool = False, freeze_layers: int = 0):
        if in_channels not in (0, tmp_channels):
            raise ValueError("in_channels must be 0 or tmp_channels")
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown architecture {architecture!r}")
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.first_layer_idx, self.architecture = first_layer_idx, architecture
        self.use_fp16 = use_fp16  # recorded only
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.num_layers = 0

        def trainable() -> bool:  # Freeze-D: the first `freeze_layers` layers of D hold buffers
            idx = self.first_layer_idx + self.num_layers
            self.num_layers += 1
            return idx >= freeze_layers

        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                       trainable=trainable(), conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation,
                                 trainable=trainable(), conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 trainable=trainable(), resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=trainable(), resample_filter=resample_filter)

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], force_fp32: bool = False):
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img.to(torch.float32))
            x = x + y if x is not None else y
            img = downsample_2x(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=SQRT_HALF)
            x = self.conv1(self.conv0(x), gain=SQRT_HALF)
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(nn.Module):
    """Appends ``num_channels`` maps holding the mean stddev over groups of ``group_size`` samples
    (samples i, i + N/G, i + 2N/G, ... form a group; N must be divisible by min(group_size, N))."""

    def __init__(self, group_size: Optional[int], num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ValueError(f"batch size {n} is not divisible by the mbstd group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # (n / g, F)
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: [fromrgb], mbstd, conv, fc, out, conditional projection."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: Optional[int] = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: Optional[float] = None):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.img_channels, self.architecture = img_channels, architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def trunk(self, x: torch.Tensor, img: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(flattened input of ``fc``, output of ``fc`` = input of ``out``)."""
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        flat = self.conv(x).flatten(1)
        return flat, self.fc(flat)

    def head(self, h: torch.Tensor, cmap: Optional[torch.Tensor]) -> torch.Tensor:
        x = self.out(h)
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x

    def forward(self, x: torch.Tensor, img: Optional[torch.Tensor], cmap: Optional[torch.Tensor],
                force_fp32: bool = False) -> torch.Tensor:
        return self.head(self.trunk(x, img)[1], cmap)


class Discriminator(nn.Module):
    """StyleGAN2-ADA discriminator: blocks b{res} ... b8, epilogue b4, conditional projection ``mapping``.

    ``forward(img, c)`` -> logits (N, 1). ``features(img, c=None, flat='out')`` -> (maps, flat): maps
    is the output x of every DiscriminatorBlock (b{img_resolution} first, the last one at 4x4);
    flat is the input of the final fc layer ``b4.out`` (the output of ``b4.fc``, ``C4`` numbers),
    or with ``flat='fc'`` the flattened input of ``b4.fc`` (the epilogue conv output, ``C4 * 16``).
    Both include the minibatch-stddev channel's effect, so they depend on the other samples in the
    batch (groups of ``mbstd_group_size``); labels only enter the logit, not these features."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: Optional[float] = None, cmap_dim: Optional[int] = None,
                 block_kwargs: Optional[dict] = None, mapping_kwargs: Optional[dict] = None,
                 epilogue_kwargs: Optional[dict] = None):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        self.channels = channels
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        self.cmap_dim = cmap_dim
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            in_ch = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_ch, channels[res], channels[res // 2], resolution=res,
                                       first_layer_idx=layer_idx, use_fp16=res >= fp16_resolution,
                                       **(block_kwargs or {}), **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, **(epilogue_kwargs or {}),
                                        **common)

    def _blocks(self, img: torch.Tensor, **block_kwargs):
        x, maps = None, []
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, **block_kwargs)
            maps.append(x)
        return x, img, maps

    def _cmap(self, c: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        if self.c_dim == 0:
            return None
        if c is None:
            raise ValueError("a conditional discriminator needs labels c of shape (N, c_dim)")
        return self.mapping(None, c)

    def forward(self, img: torch.Tensor, c: Optional[torch.Tensor], **block_kwargs) -> torch.Tensor:
        x, img, _ = self._blocks(img, **block_kwargs)
        return self.b4(x, img, self._cmap(c))

    def features(self, img: torch.Tensor, c: Optional[torch.Tensor] = None, flat: str = "out"):
        """(every block's output map, the flat input of the final fc layer) - see the class doc."""
        if flat not in ("out", "fc"):
            raise ValueError("flat must be 'out' (input of b4.out) or 'fc' (input of b4.fc)")
        x, img, maps = self._blocks(img)
        fc_in, out_in = self.b4.trunk(x, img)
        return maps, (out_in if flat == "out" else fc_in)
