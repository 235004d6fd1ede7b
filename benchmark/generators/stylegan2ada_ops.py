"""The operations of StyleGAN2-ADA (benchmark/generators/stylegan2ada*.py) in ordinary torch ops, matching
NVIDIA's ``torch_utils/ops`` reference paths: the [1, 3, 3, 1] FIR resampling filter (``upfirdn2d``),
2x up/down convolutions (``conv2d_resample``), bias + activation with the official gains and clamp
(``bias_act``), 2nd-moment normalisation of z, and the style-modulated convolution.

Every op computes in the dtype of its input activations ``x``: weights, filters, styles, demodulation
coefficients and noise are cast to it, so a block of the synthesis network can run in float16 or
bfloat16 (``REDUCED_DTYPES``) while its parameters stay float32.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

ACT_GAIN = {"linear": 1.0, "relu": math.sqrt(2.0), "lrelu": math.sqrt(2.0)}
REDUCED_DTYPES = (torch.float16, torch.bfloat16)  # the dtypes a mixed-precision synthesis block may run in


# ---------------------------------------------------------------------------------------------- ops

def make_resample_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """The 2D low-pass filter used for resampling: the outer product of ``taps``, summing to one."""
    t = torch.as_tensor(taps, dtype=torch.float32)
    if t.ndim == 1:
        t = torch.outer(t, t)
    return t / t.sum()


def _pad_amounts(filter_size: int, factor: int, up: bool) -> tuple[int, int]:
    """Zero padding (before, after) that keeps a by-``factor`` resampling aligned to pixel centres."""
    if up:
        return (filter_size + factor - 1) // 2, (filter_size - factor) // 2
    return (filter_size - factor + 1) // 2, (filter_size - factor) // 2


def fir_resample(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
                 pad: Sequence[int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Zero-insert by ``up``, pad by ``pad`` = (left, right, top, bottom) (negative crops), convolve
    every channel with the FIR filter ``f`` (a true convolution, ``f * gain``), keep every ``down``-th pixel."""
    n, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(n, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    if any(pad):
        x = F.pad(x, list(pad))
    k = f if f.ndim == 2 else torch.outer(f, f)
    k = (k * gain).flip([0, 1]).to(x.dtype)
    return F.conv2d(x, k[None, None].expand(c, 1, *k.shape), stride=down, groups=c)


def upsample_2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Double the resolution: zero insertion and the filter at gain 4."""
    a, b = _pad_amounts(f.shape[-1], 2, up=True)
    return fir_resample(x, f, up=2, pad=(a, b, a, b), gain=4.0)


def downsample_2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Halve the resolution: the filter, then every second pixel."""
    a, b = _pad_amounts(f.shape[-1], 2, up=False)
    return fir_resample(x, f, down=2, pad=(a, b, a, b))


def conv2d_up2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``weight`` (O, I/groups, k, k) as a true convolution on the 2x zero-inserted, filtered input,
    padded by k // 2: a stride-2 transposed conv, then the filter (gain 4) with the matching padding."""
    o, i_per_group, k, _ = weight.shape
    if groups == 1:
        wt = weight.transpose(0, 1)
    else:
        wt = weight.reshape(groups, o // groups, i_per_group, k, k).transpose(1, 2)
        wt = wt.reshape(groups * i_per_group, o // groups, k, k)
    x = F.conv_transpose2d(x, wt, stride=2, groups=groups)  # size 2 * (H - 1) + k
    fs = f.shape[-1]
    a, b = _pad_amounts(fs, 2, up=True)
    p = k // 2
    before, after = p + a - (k - 1), p + b - (k - 2)
    return fir_resample(x, f, pad=(before, after, before, after), gain=4.0)


def conv2d_down2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``weight`` as a correlation padded by k // 2 on the filtered input, sampled every second pixel."""
    k = weight.shape[-1]
    a, b = _pad_amounts(f.shape[-1], 2, up=False)
    p = k // 2
    if k == 1:
        return F.conv2d(fir_resample(x, f, down=2, pad=(a, b, a, b)), weight, groups=groups)
    x = fir_resample(x, f, pad=(p + a, p + b, p + a, p + b))
    return F.conv2d(x, weight, stride=2, groups=groups)


def conv2d_resampled(x: torch.Tensor, weight: torch.Tensor, f: Optional[torch.Tensor], up: int = 1,
                     down: int = 1, groups: int = 1) -> torch.Tensor:
    """Same-size ('k // 2' padding) conv with optional 2x up- or downsampling."""
    if up == 2 and down == 1:
        return conv2d_up2(x, weight, f, groups)
    if down == 2 and up == 1:
        return conv2d_down2(x, weight, f, groups)
    if up != 1 or down != 1:
        raise ValueError("only up=2 or down=2 resampling is supported")
    return F.conv2d(x, weight, padding=weight.shape[-1] // 2, groups=groups)


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, act: str = "linear", gain: Optional[float] = None,
             clamp: Optional[float] = None, alpha: float = 0.2) -> torch.Tensor:
    """Add the per-channel bias (dim 1), apply the activation, scale by ``gain`` (default: the
    activation's gain), clamp to +-``clamp``."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, alpha)
    elif act == "relu":
        x = F.relu(x)
    elif act != "linear":
        raise ValueError(f"unsupported activation {act!r}")
    gain = ACT_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: Optional[torch.Tensor] = None,
                     up: int = 1, resample_filter: Optional[torch.Tensor] = None, demodulate: bool = True,
                     fused: bool = True) -> torch.Tensor:
    """Style-modulated (and optionally demodulated) conv. ``fused`` runs one grouped conv with
    per-sample weights; otherwise the input is scaled by the styles and the output by the
    demodulation coefficients around one shared conv (the same result up to rounding; the unfused path
    computes the coefficients as ``styles**2 @ sum_kk(weight**2).T``, the same sum as the fused path's
    without its per-sample (N, O, I, k, k) weight tensor).

    ``weight`` and ``styles`` are float32; the conv runs in ``x``'s dtype. When that is a reduced
    precision (float16 or bfloat16) and the conv demodulates, ``weight`` is first rescaled per output
    channel to a largest magnitude of ``1 / sqrt(in * kh * kw)`` and ``styles`` per sample to a largest
    magnitude of 1, as the official code does for float16 to keep the un-demodulated products from
    overflowing; demodulation divides both scales out again, so only rounding changes (and the 1e-8
    under the square root, negligibly). The official code does it for float16 only; here bfloat16, which
    has float32's range, takes the same path, so the two reduced precisions differ only in rounding."""
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    if demodulate and x.dtype in REDUCED_DTYPES:
        weight = weight * (1.0 / math.sqrt(i * kh * kw)
                           / weight.abs().amax(dim=[1, 2, 3], keepdim=True))  # max over (in, kh, kw)
        styles = styles / styles.abs().amax(dim=1, keepdim=True)  # max over in
    dcoefs = None
    if fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)  # (N, O, I, k, k)
        if demodulate:
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (N, O)
    elif demodulate:  # the same sum over (I, k, k) of (weight * style)**2, without the (N, O, I, k, k) tensor
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # (N, O)
    if noise is not None:
        noise = noise.to(x.dtype)
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, i, 1, 1)
        x = conv2d_resampled(x, weight.to(x.dtype), resample_filter, up=up)
        if dcoefs is not None:
            dcoefs = dcoefs.to(x.dtype).reshape(n, o, 1, 1)
            return x * dcoefs if noise is None else torch.addcmul(noise, x, dcoefs)
        return x if noise is None else x + noise
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, o, 1, 1, 1)
    x = conv2d_resampled(x.reshape(1, n * i, *x.shape[2:]), w.reshape(n * o, i, kh, kw).to(x.dtype),
                         resample_filter, up=up, groups=n)
    x = x.reshape(n, o, *x.shape[2:])
    return x if noise is None else x + noise
