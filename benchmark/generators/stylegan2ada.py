"""StyleGAN2-ADA generator and discriminator in plain PyTorch, loadable from official weights by name.

A clean-room re-implementation (Karras et al., "Training Generative Adversarial Networks with Limited
Data", NeurIPS 2020) written from the published architecture description. It uses only ordinary torch
ops (no custom CUDA/C++ plug-ins) and runs in float32 everywhere. The module tree, parameter names,
buffer names and shapes follow NVIDIA's ``stylegan2-ada-pytorch`` ``training/networks.py``, so a
``state_dict`` taken from an official ``G``, ``G_ema`` or ``D`` loads with ``load_state_dict(...,
strict=True)``; ``benchmarks/stylegan2ada_equivalence.py`` checks outputs against the official code.

Naming (``state_dict`` keys), for a 32 px conditional generator with the default 'skip' architecture::

    synthesis.b4.const                      [C4, 4, 4]
    synthesis.b4.resample_filter            [4, 4]   (outer([1,3,3,1]) / 64, a buffer)
    synthesis.b4.conv1.{weight, bias, noise_strength, noise_const, resample_filter}
    synthesis.b4.conv1.affine.{weight, bias}
    synthesis.b4.torgb.{weight, bias}, synthesis.b4.torgb.affine.{weight, bias}
    synthesis.b8.conv0.* (up=2), synthesis.b8.conv1.*, synthesis.b8.torgb.*, ...
    synthesis.bN.skip.{weight, resample_filter} (architecture 'resnet', no bias)
    mapping.embed.{weight, bias} (c_dim > 0), mapping.fc0..fc{L-1}.{weight, bias}, mapping.w_avg

and for the discriminator::

    bN.fromrgb.* (first block, or every block for 'skip'), bN.conv0.*, bN.conv1.*, bN.skip.* ('resnet'),
    bN.resample_filter, b4.fromrgb.* ('skip'), b4.conv.*, b4.fc.*, b4.out.*, mapping.embed.*, mapping.fcI.*

Arithmetic matched to the official code (facts read from ``training/networks.py`` and
``torch_utils/ops/{bias_act,upfirdn2d,conv2d_resample}.py``):

* Equalised learning rate: weights are stored as N(0, 1) draws and scaled at run time.
  FullyConnectedLayer stores ``randn / lr_multiplier`` and multiplies by ``lr_multiplier / sqrt(in)``;
  its bias (``bias_init``) is multiplied by ``lr_multiplier``. Conv2dLayer scales by
  ``1 / sqrt(in * k * k)``. Style affines are FullyConnectedLayers with ``bias_init=1``.
* Bias + activation: ``act(x + b) * gain`` then ``clamp(-clamp, clamp)``; lrelu has slope 0.2 and
  default gain sqrt(2), 'linear' gain 1. A layer called with ``gain=g`` uses ``act_gain * g`` and
  ``conv_clamp * g``.
* Modulated conv: ``w = weight * style`` per sample; demodulation ``rsqrt(sum(w**2) + 1e-8)`` over
  (in, kh, kw); noise is added after demodulation, before bias/activation. Noise: ``noise_const *
  noise_strength`` ('const'), ``randn([N, 1, res, res]) * noise_strength`` ('random'), none ('none').
  ToRGB: 1x1, no demodulation, the style multiplied by ``1 / sqrt(in_channels)``, linear, clamped.
* Resampling filter: ``outer([1,3,3,1])`` normalised to sum 1. Upsampling by 2 = zero insertion, then
  the filter times 4 (2**2); downsampling by 2 = filter then keep every 2nd pixel. Padding as in
  upfirdn2d's upsample2d/downsample2d (filter of 4 taps: up pads 2 before / 1 after on the
  upsampled grid; down pads 1 / 1). Convs with ``up=2`` are true convolutions (weight flipped with
  respect to ``F.conv2d``'s correlation), computed as a stride-2 transposed conv followed by the
  filter; convs with ``down=2`` filter first (padding ``k//2 + 1`` each side for 4 taps) and then
  run a stride-2 correlation.
* Synthesis: b4 starts from the learned ``const`` repeated over the batch (only ``conv1``); every
  other block runs ``conv0`` (up=2) and ``conv1``. 'resnet' adds ``skip`` (1x1, up=2, no bias,
  gain sqrt(0.5)) to ``conv1(gain=sqrt(0.5))``. 'skip': every block has a ToRGB and the running
  image is upsampled (filter) and summed; 'orig'/'resnet': only the last block has a ToRGB. Block ws
  are ``ws[:, i : i + num_conv + num_torgb]`` with ``i`` advancing by ``num_conv`` (a block's ToRGB
  shares the next block's first w); ``num_ws = sum(num_conv) + 1``.
* Mapping: ``normalize_2nd_moment(z)`` (``x * rsqrt(mean(x**2) + 1e-8)``), conditional labels through
  ``embed`` (FC, lr multiplier 1) and normalised the same way, concatenated after z; ``num_layers`` FC
  lrelu layers with ``lr_multiplier`` (0.01); ``w_avg`` tracks ``lerp(mean(w), w_avg, w_avg_beta)``
  in training mode; truncation ``w_avg + psi * (w - w_avg)`` on the first ``truncation_cutoff`` ws.
* Discriminator: per block ``fromrgb`` (1x1 lrelu, first block or every block for 'skip'), ``conv0``
  (3x3), ``conv1`` (3x3, down=2), 'resnet' ``skip`` (1x1, down=2, no bias, gain sqrt(0.5)) plus
  ``conv1(gain=sqrt(0.5))``; 'skip' downsamples the image with the filter for the next block.
  Epilogue at 4x4: optional ``fromrgb`` ('skip'), minibatch stddev (groups of ``min(G, N)`` samples
  taken with stride ``N / G``, ``sqrt(var + 1e-8)`` averaged over channels-per-group and pixels),
  ``conv`` (3x3), ``fc`` (flatten -> C), ``out`` (C -> 1 or cmap_dim); conditional D projects with a
  MappingNetwork(z_dim=0, w_dim=cmap_dim, num_ws=None, w_avg_beta=None, 8 layers by default):
  ``sum(out * cmap) / sqrt(cmap_dim)``. ``cmap_dim`` defaults to the 4x4 channel count.
* Channel counts: ``min(channel_base // res, channel_max)``.

Not implemented: mixed precision. ``num_fp16_res``, ``fp16_channels_last`` and ``force_fp32`` are accepted
(and ``use_fp16`` is recorded on the blocks) but every layer runs in float32, which is what the
official code does with ``force_fp32=True``; no parameter or buffer depends on them. Also no
gradient-fix ops (``conv2d_gradfix``): plain autograd is used.

CIFAR-10 configuration (official ``train.py --cfg=cifar --cond=1``; ``cfg_specs['cifar']`` =
ref_gpus 2, kimg 100000, mb 64, mbstd 32, fmaps 1, lrate 0.0025, gamma 0.01, ema 500, ramp 0.05, map 2):
z_dim = w_dim = 512, c_dim = 10, 32 px, 3 channels; channel_base = int(fmaps * 32768) = 32768 and
channel_max = 512, so every block has 512 channels; G mapping 2 layers, G architecture 'skip' (the
default); D architecture 'orig' (the cifar cfg disables residual connections), D mapping 8 layers (its
mapping_kwargs stay empty), cmap_dim 512, mbstd_group_size 32 (mbstd_num_channels 1);
num_fp16_res 4 and conv_clamp 256 for both. ``CIFAR10_G_KWARGS`` / ``CIFAR10_D_KWARGS`` below.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.generators.stylegan2ada_ops import (ACT_GAIN, bias_act, conv2d_resampled, downsample_2x,
                                                  make_resample_filter, modulated_conv2d,
                                                  normalize_2nd_moment, upsample_2x)

SQRT_HALF = math.sqrt(0.5)

# Keyword arguments of the official CIFAR-10 networks (train.py --cfg=cifar --cond=1), for
# Generator(**CIFAR10_G_KWARGS) and Discriminator(**CIFAR10_D_KWARGS).
CIFAR10_G_KWARGS = dict(
    z_dim=512, c_dim=10, w_dim=512, img_resolution=32, img_channels=3,
    mapping_kwargs=dict(num_layers=2),
    synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256),
)
CIFAR10_D_KWARGS = dict(
    c_dim=10, img_resolution=32, img_channels=3, architecture="orig", channel_base=32768, channel_max=512,
    num_fp16_res=4, conv_clamp=256, epilogue_kwargs=dict(mbstd_group_size=32),
)

# -------------------------------------------------------------------------------------------- layers

class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate: weight ~ N(0, 1) / lr_multiplier, used times
    lr_multiplier / sqrt(in_features); bias used times lr_multiplier."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None
        if self.bias is not None:
            b = self.bias.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear":
            return F.linear(x, w, b)
        return bias_act(F.linear(x, w), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """Conv with equalised learning rate (1 / sqrt(in * k * k)), optional 2x up/down resampling,
    bias + activation + clamp. ``trainable=False`` (Freeze-D) stores weight/bias as buffers."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, channels_last: bool = False, trainable: bool = True):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = ACT_GAIN[activation]
        weight = torch.randn(out_channels, in_channels, kernel_size, kernel_size)
        b = torch.zeros(out_channels) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(b) if b is not None else None
        else:
            self.register_buffer("weight", weight)
            if b is not None:
                self.register_buffer("bias", b)
            else:
                self.bias = None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resampled(x, w, self.resample_filter, up=self.up, down=self.down)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class MappingNetwork(nn.Module):
    """z (and label embedding) -> w, broadcast to ``num_ws`` copies, with truncation toward ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: Optional[int], num_layers: int = 8,
                 embed_features: Optional[int] = None, layer_features: Optional[int] = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: Optional[float] = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        sizes = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(sizes[idx], sizes[idx + 1], activation=activation,
                                                           lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Optional[torch.Tensor], c: Optional[torch.Tensor], truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, skip_w_avg_update: bool = False) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            if c is None or c.shape[-1] != self.c_dim:
                raise ValueError(f"expected labels of shape (N, {self.c_dim})")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if self.w_avg_beta is not None and self.training and not skip_w_avg_update:
            with torch.no_grad():
                self.w_avg.copy_(torch.lerp(x.detach().mean(dim=0), self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("truncation needs w_avg (w_avg_beta is None)")
            if self.num_ws is None or truncation_cutoff is None:
                x = torch.lerp(self.w_avg, x, truncation_psi)
            else:
                head = torch.lerp(self.w_avg, x[:, :truncation_cutoff], truncation_psi)
                x = torch.cat([head, x[:, truncation_cutoff:]], dim=1)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally up=2) + noise + bias + lrelu (gain sqrt 2) + clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, channels_last: bool = False):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.act_gain = ACT_GAIN[activation]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True,
                gain: float = 1.0) -> torch.Tensor:
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', not {noise_mode!r}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)
            noise = noise * self.noise_strength
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, resample_filter=self.resample_filter,
                             fused=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation (style times 1 / sqrt(in * k * k)), bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None, channels_last: bool = False):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network (const input at 4x4, else conv0 up=2), see module doc."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False, fp16_channels_last: bool = False,
                 **layer_kwargs):
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown architecture {architecture!r}")
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.img_channels, self.is_last = resolution, img_channels, is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16  # recorded only: this implementation always runs in float32
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], ws: torch.Tensor,
                force_fp32: bool = False, fused_modconv: Optional[bool] = None, **layer_kwargs):
        if ws.shape[1] != self.num_conv + self.num_torgb:
            raise ValueError(f"block b{self.resolution} expects {self.num_conv + self.num_torgb} ws, got {ws.shape[1]}")
        w_iter = iter(ws.unbind(dim=1))
        if fused_modconv is None:
            fused_modconv = not self.training
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        elif self.architecture == "resnet":
            y = self.skip(x.to(torch.float32), gain=SQRT_HALF)
            x = self.conv0(x.to(torch.float32), next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, gain=SQRT_HALF, **layer_kwargs)
            x = y + x
        else:
            x = self.conv0(x.to(torch.float32), next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        if img is not None:
            img = upsample_2x(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> image, blocks b4 ... b{img_resolution}.

    ``num_fp16_res`` is accepted for compatibility with official configs (it sets each block's
    ``use_fp16`` flag) but all computation runs in float32."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, **block_kwargs):
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError("img_resolution must be a power of two >= 4")
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        self.channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = self.channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(in_ch, self.channels[res], w_dim=w_dim, resolution=res, img_channels=img_channels,
                                   is_last=is_last, use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    @property
    def feature_names(self) -> list[str]:
        return [f"b{res}" for res in self.block_resolutions]

    @property
    def feature_shapes(self) -> list[tuple[int, int, int]]:
        return [(self.channels[res], res, res) for res in self.block_resolutions]

    def forward(self, ws: torch.Tensor, return_features: bool = False, **block_kwargs):
        """The image; with ``return_features`` also every block's output x (b4, b8, ..., coarse to fine)."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        features, w_idx = [], 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), **block_kwargs)
            w_idx += block.num_conv
            features.append(x)
        return (img, features) if return_features else img


class Generator(nn.Module):
    """StyleGAN2-ADA generator: ``mapping`` (z, c -> ws) then ``synthesis`` (ws -> image in about [-1, 1]).

    ``forward(z, c, truncation_psi=1, truncation_cutoff=None, noise_mode='random', ...)`` as the official
    code (whose default noise mode is 'random'; pass ``noise_mode='const'`` for deterministic images)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: Optional[dict] = None, synthesis_kwargs: Optional[dict] = None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor], truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, **synthesis_kwargs) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)

    def features(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1,
                 truncation_cutoff: Optional[int] = None, **synthesis_kwargs):
        """(image, [output x of every synthesis block, b4 first], ws of shape (N, num_ws, w_dim))."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        img, feats = self.synthesis(ws, return_features=True, **synthesis_kwargs)
        return img, feats, ws


# ------------------------------------------------------------------------------------- discriminator

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
