"""StyleGAN2-ADA generator in plain PyTorch, loadable from official weights by name.

A clean-room re-implementation (Karras et al., "Training Generative Adversarial Networks with Limited
Data", NeurIPS 2020) written from the published architecture description. It uses only ordinary torch
ops (no custom CUDA/C++ plug-ins) and runs in float32 unless asked otherwise (see "Precision"). The module
tree, parameter names, buffer names and shapes follow NVIDIA's ``stylegan2-ada-pytorch``
``training/networks.py``, so a ``state_dict`` taken from an official ``G`` or ``G_ema`` loads with
``load_state_dict(..., strict=True)``; ``measurements/stylegan2ada_equivalence.py`` checks outputs against
the official code. The discriminator is in stylegan2ada_discriminator.py; the layers both networks share
(equalised learning rate, bias + activation, the mapping network) in stylegan2ada_layers.py; the
resampling and modulation ops in stylegan2ada_ops.py.

Naming (``state_dict`` keys), for a 32 px conditional generator with the default 'skip' architecture::

    synthesis.b4.const                      [C4, 4, 4]
    synthesis.b4.resample_filter            [4, 4]   (outer([1,3,3,1]) / 64, a buffer)
    synthesis.b4.conv1.{weight, bias, noise_strength, noise_const, resample_filter}
    synthesis.b4.conv1.affine.{weight, bias}
    synthesis.b4.torgb.{weight, bias}, synthesis.b4.torgb.affine.{weight, bias}
    synthesis.b8.conv0.* (up=2), synthesis.b8.conv1.*, synthesis.b8.torgb.*, ...
    synthesis.bN.skip.{weight, resample_filter} (architecture 'resnet', no bias)
    mapping.embed.{weight, bias} (c_dim > 0), mapping.fc0..fc{L-1}.{weight, bias}, mapping.w_avg

Arithmetic matched to the official code (facts read from ``training/networks.py`` and
``torch_utils/ops/{bias_act,upfirdn2d,conv2d_resample}.py``):

* Modulated conv: ``w = weight * style`` per sample; demodulation ``rsqrt(sum(w**2) + 1e-8)`` over
  (in, kh, kw); noise is added after demodulation, before bias/activation. Noise: ``noise_const *
  noise_strength`` ('const'), ``randn([N, 1, res, res]) * noise_strength`` ('random'), none ('none').
  ToRGB: 1x1, no demodulation, the style multiplied by ``1 / sqrt(in_channels)``, linear, clamped.
  ``fused_modconv`` (a forward keyword): fused = one grouped conv with the per-sample weights; unfused =
  the styles scale the input and the demodulation coefficients the output of one conv shared by the
  batch (here the coefficients are ``styles**2 @ sum_kk(weight**2).T``, the same sum without the
  per-sample weight tensor). ``None``, the official rule: fused in float32 outside training, unfused in
  reduced precision unless the batch is one sample.
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
* Channel counts: ``min(channel_base // res, channel_max)``.

Precision (``Generator.set_precision``; the zoo's ``generator.precision``). ``num_fp16_res`` marks the
blocks that the official code runs in reduced precision on CUDA (``use_fp16``): the blocks of resolution
>= max(2 ** (log2(img_resolution) + 1 - num_fp16_res), 8), for the CIFAR-10 networks (32 px,
num_fp16_res 4) b8, b16 and b32, while b4 and the mapping stay float32. ``precision``:

* ``float32`` (the default): every block in float32, as the official code with ``force_fp32=True``.
* ``float16``: the official mixed precision. A ``use_fp16`` block casts its input ``x`` to float16,
  channels-last when ``fp16_channels_last``; its convs run on float16 copies of
  the float32 weights, noise and bias are added in float16, ``conv_clamp`` (256 in the released
  networks) clamps every conv output; the demodulated convs pre-normalise weights and styles against
  float16 overflow (stylegan2ada_ops.modulated_conv2d); and, as in the official code, such a block uses
  the unfused modulated conv (styles scale the input, demodulation the output, around one shared conv)
  unless the batch is a single sample. Each ToRGB output and the running image ``img`` stay float32.
  The official float16 path is CUDA-only: on any other device ``float16`` falls back to float32, with
  one logged warning per network.
* ``bfloat16``: the same blocks, the same arithmetic, in bfloat16, on any device (the CPU too).

Whatever the precision, images and block features are returned in float32. ``force_fp32=True`` (a
forward keyword, as in the official code) runs every block in float32. No parameter or buffer depends on
the precision, so state dicts load the same. Not implemented: the gradient-fix ops
(``conv2d_gradfix``): plain autograd is used.

CIFAR-10 configuration (official ``train.py --cfg=cifar --cond=1``; ``cfg_specs['cifar']`` =
ref_gpus 2, kimg 100000, mb 64, mbstd 32, fmaps 1, lrate 0.0025, gamma 0.01, ema 500, ramp 0.05, map 2):
z_dim = w_dim = 512, c_dim = 10, 32 px, 3 channels; channel_base = int(fmaps * 32768) = 32768 and
channel_max = 512, so every block has 512 channels; mapping 2 layers, architecture 'skip' (the
default), num_fp16_res 4 and conv_clamp 256: ``CIFAR10_G_KWARGS`` below.
"""
from __future__ import annotations

import logging
import math
from typing import Optional

import torch
from torch import nn

from benchmark.generators.stylegan2ada_layers import SQRT_HALF, Conv2dLayer, FullyConnectedLayer, MappingNetwork
from benchmark.generators.stylegan2ada_ops import (ACT_GAIN, bias_act, make_resample_filter, modulated_conv2d,
                                                  upsample_2x)

log = logging.getLogger(__name__)

# precision name -> the dtype of the ``use_fp16`` blocks (see the module doc, "Precision")
PRECISIONS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# Keyword arguments of the official CIFAR-10 generator (train.py --cfg=cifar --cond=1): Generator(**CIFAR10_G_KWARGS)
CIFAR10_G_KWARGS = dict(
    z_dim=512, c_dim=10, w_dim=512, img_resolution=32, img_channels=3,
    mapping_kwargs=dict(num_layers=2),
    synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256),
)


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
        self.use_fp16 = use_fp16  # runs in the network's reduced precision (float32 unless one is set)
        self.channels_last = use_fp16 and fp16_channels_last
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
                force_fp32: bool = False, fused_modconv: Optional[bool] = None,
                reduced_dtype: torch.dtype = torch.float32, **layer_kwargs):
        """``reduced_dtype``: what a ``use_fp16`` block computes in (float32, float16 or bfloat16); x comes
        out in the block's dtype, img in float32."""
        if ws.shape[1] != self.num_conv + self.num_torgb:
            raise ValueError(f"block b{self.resolution} expects {self.num_conv + self.num_torgb} ws, got {ws.shape[1]}")
        w_iter = iter(ws.unbind(dim=1))
        dtype = reduced_dtype if self.use_fp16 and not force_fp32 else torch.float32
        reduced = dtype != torch.float32
        memory_format = torch.channels_last if self.channels_last and reduced else torch.contiguous_format
        if fused_modconv is None:  # the official rule: in reduced precision the unfused path, unless N = 1
            fused_modconv = not self.training and (dtype == torch.float32 or ws.shape[0] == 1)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1).to(memory_format=memory_format)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=SQRT_HALF)
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, gain=SQRT_HALF, **layer_kwargs)
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        if img is not None:
            img = upsample_2x(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> image, blocks b4 ... b{img_resolution}.

    ``num_fp16_res`` sets each block's ``use_fp16`` flag as in the official code; those blocks run in
    ``precision`` (``set_precision``; float32 unless set, see the module doc)."""

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
        self.precision = "float32"
        self._warned_fallback = False
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = self.channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(in_ch, self.channels[res], w_dim=w_dim, resolution=res, img_channels=img_channels,
                                   is_last=is_last, use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def set_precision(self, precision: str) -> "SynthesisNetwork":
        """Run the ``use_fp16`` blocks in ``precision``: float32, float16 (CUDA only: float32 elsewhere) or
        bfloat16. Changes no parameter or buffer."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, not {precision!r}")
        self.precision = precision
        self._warned_fallback = False
        return self

    def fp16_blocks(self) -> list[str]:
        """The blocks that run in reduced precision when one is set (``use_fp16``)."""
        return [f"b{res}" for res in self.block_resolutions if getattr(self, f"b{res}").use_fp16]

    def effective_precision(self, device) -> str:
        """The precision the reduced blocks run in on ``device``: float16 only on CUDA (a warning, once,
        where it falls back to float32)."""
        if self.precision == "float16" and torch.device(device).type != "cuda":
            if not self._warned_fallback:
                self._warned_fallback = True
                log.warning("StyleGAN2-ADA precision float16 is CUDA-only (as the official code's); on %s the "
                            "blocks %s run in float32 instead (bfloat16 runs on any device)",
                            torch.device(device).type, ", ".join(self.fp16_blocks()) or "(none)")
            return "float32"
        return self.precision

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
        reduced_dtype = PRECISIONS[self.effective_precision(ws.device)]
        x = img = None
        features, w_idx = [], 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), reduced_dtype=reduced_dtype,
                           **block_kwargs)
            w_idx += block.num_conv
            if return_features:
                features.append(x.to(torch.float32))  # a no-op in float32
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

    def set_precision(self, precision: str) -> "Generator":
        """The precision of the synthesis blocks marked ``use_fp16`` (module doc, "Precision")."""
        self.synthesis.set_precision(precision)
        return self

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
