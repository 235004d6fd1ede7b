"""The layers that StyleGAN2-ADA's generator (stylegan2ada.py) and discriminator
(stylegan2ada_discriminator.py) share: equalised-learning-rate linear and conv layers, and the mapping
network (z, c -> w in the generator; c -> the projection embedding in a conditional discriminator).

Parameter names and arithmetic follow NVIDIA's ``training/networks.py`` (facts read from it and from
``torch_utils/ops/bias_act.py``), so official state dicts load by name:

* Equalised learning rate: weights are stored as N(0, 1) draws and scaled at run time.
  FullyConnectedLayer stores ``randn / lr_multiplier`` and multiplies by ``lr_multiplier / sqrt(in)``;
  its bias (``bias_init``) is multiplied by ``lr_multiplier``. Conv2dLayer scales by
  ``1 / sqrt(in * k * k)``. Style affines are FullyConnectedLayers with ``bias_init=1``.
* Bias + activation: ``act(x + b) * gain`` then ``clamp(-clamp, clamp)``; lrelu has slope 0.2 and
  default gain sqrt(2), 'linear' gain 1. A layer called with ``gain=g`` uses ``act_gain * g`` and
  ``conv_clamp * g``.
* Mapping: ``normalize_2nd_moment(z)`` (``x * rsqrt(mean(x**2) + 1e-8)``), conditional labels through
  ``embed`` (FC, lr multiplier 1) and normalised the same way, concatenated after z; ``num_layers`` FC
  lrelu layers with ``lr_multiplier`` (0.01); ``w_avg`` tracks ``lerp(mean(w), w_avg, w_avg_beta)``
  in training mode; truncation ``w_avg + psi * (w - w_avg)`` on the first ``truncation_cutoff`` ws.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.generators.stylegan2ada_ops import (ACT_GAIN, bias_act, conv2d_resampled, make_resample_filter,
                                                  normalize_2nd_moment)

SQRT_HALF = math.sqrt(0.5)  # the gain of both branches of a residual ('resnet') block


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

