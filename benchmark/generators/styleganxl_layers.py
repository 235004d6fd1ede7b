"""The layers of the StyleGAN-XL generator (benchmark/generators/styleganxl.py) in ordinary torch ops.

StyleGAN-XL (Sauer, Schwarz and Geiger, "StyleGAN-XL: Scaling StyleGAN to Large Diverse Datasets", SIGGRAPH
2022) keeps the alias-free synthesis network of StyleGAN3 (Karras et al., "Alias-Free Generative Adversarial
Networks", NeurIPS 2021), config T, and changes the mapping network: a 64-d z, and the class enters through a
pretrained ImageNet class embedding (``nn.Embedding``) and a projection to z's size. Parameter, buffer and
attribute names follow the official ``training/networks_stylegan3_resetting.py`` of
autonomousvision/stylegan_xl (learned by reading it; no code copied), so the state of an official
``G_ema`` loads with ``load_state_dict(strict=True)``.

Arithmetic of the official reference (non-CUDA) paths, which is what runs here, float32 throughout:

* ``upfirdn2d``: zero insertion after every pixel (``up``), zero padding / cropping (negative padding)
  ``[x0, x1, y0, y1]`` on the upsampled grid, a true convolution (the filter flipped for ``F.conv2d``) with
  the FIR filter times ``gain ** (ndim / 2)`` (a separable 1-D filter runs along x, then along y, each pass
  scaled by ``sqrt(gain)``; a 2-D filter once, by ``gain``), then every ``down``-th pixel. No filter = 1x1.
* ``filtered_lrelu`` (Karras et al. 2021, Sec. 3.2, the reference path ``_filtered_lrelu_ref``): add the bias;
  upsample by ``up`` with the up filter at gain ``up ** 2`` and the layer's padding; leaky ReLU (slope), times
  ``gain``, clamp to +-``clamp``; filter with the down filter and keep every ``down``-th pixel.
* Modulated conv: weight pre-normalised per output channel by its RMS over (in, kh, kw), the styles by their
  RMS over the whole (batch x in) tensor (a scale the demodulation removes again, kept for the same
  rounding); modulate, demodulate with ``rsqrt(sum(w**2) + 1e-8)``, scale the inputs by ``input_gain =
  rsqrt(magnitude_ema)``; one grouped conv with padding ``k - 1`` on each side (the "full" convolution: the
  map grows by k - 1, the layer's filter padding accounts for it). ToRGB: 1x1, no demodulation, styles times
  ``1 / sqrt(in_channels)``, linear (slope 1, gain 1) but clamped.
* Fully connected layers: weight times ``lr_multiplier / sqrt(in)``, bias times ``lr_multiplier``; linear
  ones as ``addmm``, the others ``matmul`` then bias + activation (leaky ReLU 0.2 at gain sqrt(2)).

``design_layers`` / ``design_superres`` restate the official ``SynthesisNetwork.get_layer_specs``,
``SynthesisLayer.init_upfirdn`` and ``SuperresGenerator.compute_superres_filterparams`` (cutoffs, stopbands,
sampling rates, sizes with a 10-pixel margin, channels, Kaiser filters from ``scipy.signal.firwin``, padding),
for networks built from scratch (tests); a loaded network takes all of these from its pickle instead.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.generators.stylegan2ada_ops import bias_act

SQRT2 = math.sqrt(2.0)  # the gain of the leaky ReLU layers (np.sqrt(2) in the official code: the same double)


# ------------------------------------------------------------------------------------------------- ops

def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: int = 1, down: int = 1,
              padding: Sequence[int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample (zero insertion), pad ``(x0, x1, y0, y1)`` (negative crops), FIR-filter, downsample."""
    n, c, h, w = x.shape
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    px0, px1, py0, py1 = (int(p) for p in padding)
    if up > 1:  # each pixel followed by up - 1 zeros, in x and in y
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype).flip(list(range(f.ndim)))  # flipped: a true convolution
    f = f[None, None].repeat([c, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=c)
    else:  # separable: along x, then along y
        x = F.conv2d(x, f.unsqueeze(2), groups=c)
        x = F.conv2d(x, f.unsqueeze(3), groups=c)
    return x[:, :, ::down, ::down]


def filtered_lrelu(x: torch.Tensor, fu: Optional[torch.Tensor], fd: Optional[torch.Tensor], b: Optional[torch.Tensor],
                   up: int = 1, down: int = 1, padding: Sequence[int] = (0, 0, 0, 0), gain: float = SQRT2,
                   slope: float = 0.2, clamp: Optional[float] = None) -> torch.Tensor:
    """Bias, upsample (filter ``fu``), leaky ReLU x gain, clamp, downsample (filter ``fd``); see the module doc."""
    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2)
    x = bias_act(x, None, act="lrelu", alpha=float(slope), gain=float(gain), clamp=clamp)
    return upfirdn2d(x, fd, down=down)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, input_gain: Optional[torch.Tensor] = None) -> torch.Tensor:
    """StyleGAN3's modulated conv (per-sample weights, one grouped conv); see the module doc."""
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    if demodulate:  # pre-normalisation, against overflow in reduced precision; cancelled by demodulation
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.unsqueeze(1).unsqueeze(3).unsqueeze(4)  # (N, O, I, k, k)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        w = w * input_gain.expand(n, i).unsqueeze(1).unsqueeze(3).unsqueeze(4)
    x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, i, kh, kw).to(x.dtype), padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(1, keepdim=True) + eps).rsqrt()


# ---------------------------------------------------------------------------------------------- layers

class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer (StyleGAN3 flavour: ``addmm`` when linear)."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear", bias: bool = True,
                 lr_multiplier: float = 1.0, weight_init: float = 1.0, bias_init=0.0):
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        b = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]) / lr_multiplier
        self.bias = nn.Parameter(torch.from_numpy(np.array(b, dtype=np.float32))) if bias else None
        self.weight_gain = float(lr_multiplier / np.sqrt(in_features))
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    """z (64-d), class -> w, repeated ``num_ws`` times; truncation toward the class's ``w_avg`` row.

    ``embed``: the class embedding (ImageNet's, from EfficientNet-lite0, in the official code; indexed by
    ``c.argmax(1)``), ``embed_proj``: embedding -> z_dim (lrelu); both normalised halves are concatenated."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998, num_embeddings: int = 1000,
                 embedding_dim: int = 320):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        self.embed = nn.Embedding(num_embeddings, embedding_dim)
        self.embed_proj = FullyConnectedLayer(embedding_dim, z_dim, activation="lrelu") if c_dim > 0 else None
        features = [z_dim + (z_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                                           lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([c_dim, w_dim] if c_dim > 0 else [w_dim]))

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor], truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
        x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"expected labels c of shape (N, {self.c_dim})")
            y = normalize_2nd_moment(self.embed_proj(self.embed(c.argmax(1))))
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:  # toward the class's centre (conditional) or the global one
            center = self.w_avg[c.argmax(1)].unsqueeze(1) if self.c_dim > 0 else self.w_avg
            x = torch.cat([center.lerp(x[:, :cutoff], truncation_psi), x[:, cutoff:]], dim=1)
        return x


class SynthesisInput(nn.Module):
    """Fourier features (Karras et al. 2021, Sec. 3.1): sinusoids of fixed frequencies/phases, rotated and
    translated by ``affine(w)``, on a ``size`` grid of the given sampling rate, mixed by ``weight``."""

    def __init__(self, w_dim: int, channels: int, size, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = np.broadcast_to(np.asarray(size), [2])  # (width, height)
        self.sampling_rate, self.bandwidth = sampling_rate, bandwidth
        freqs = torch.randn([channels, 2])  # uniform-ish on a disc of radius bandwidth, as the official init
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))  # user inverse transform of the image
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        transforms = self.transform.unsqueeze(0)
        freqs, phases = self.freqs.unsqueeze(0), self.phases.unsqueeze(0)
        t = self.affine(w)  # (r_c, r_s, t_x, t_y), normalised by the rotation part's norm
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat([w.shape[0], 1, 1])  # inverse rotation
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device).unsqueeze(0).repeat([w.shape[0], 1, 1])  # inverse translation
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ transforms
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        bw, sr = float(self.bandwidth), float(self.sampling_rate)
        amplitudes = (1 - (freqs.norm(dim=2) - bw) / (sr / 2 - bw)).clamp(0, 1)  # damp out-of-band frequencies
        width, height = int(self.size[0]), int(self.size[1])
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0], theta[1, 1] = 0.5 * width / sr, 0.5 * height / sr
        grids = F.affine_grid(theta.unsqueeze(0), [1, 1, height, width], align_corners=False)
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # (N, H, W, C)
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2).contiguous()


class SynthesisLayer(nn.Module):
    """Modulated conv + filtered leaky ReLU (or the final ToRGB), with the resampling of the official
    ``init_upfirdn``: ``up_factor``/``down_factor``, the up/down FIR filters (buffers, None = identity) and
    ``padding`` (x0, x1, y0, y1), all given (computed by ``styleganxl.design_layers`` or read from a pickle)."""

    def __init__(self, w_dim: int, is_torgb: bool, in_channels: int, out_channels: int, in_size, out_size,
                 conv_kernel: int, up_factor: int, down_factor: int, padding: Sequence[int],
                 up_filter: Optional[torch.Tensor], down_filter: Optional[torch.Tensor],
                 conv_clamp: Optional[float] = 256,
                 **attributes):
        super().__init__()
        self.w_dim, self.is_torgb = w_dim, bool(is_torgb)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.conv_kernel = 1 if self.is_torgb else int(conv_kernel)
        self.up_factor, self.down_factor = int(up_factor), int(down_factor)
        self.padding = [int(p) for p in padding]
        self.conv_clamp = conv_clamp
        for key, value in attributes.items():  # descriptive extras (sampling rates, cutoffs, ...), unused here
            setattr(self, key, value)
        self.affine = FullyConnectedLayer(w_dim, self.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([self.out_channels, self.in_channels, self.conv_kernel,
                                                self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        for key, f in (("up_filter", up_filter), ("down_filter", down_filter)):  # None: the identity filter
            self.register_buffer(key, None if f is None else torch.as_tensor(f, dtype=torch.float32))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        x = modulated_conv2d(x.to(torch.float32), self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=input_gain)
        gain, slope = (1.0, 1.0) if self.is_torgb else (SQRT2, 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias.to(x.dtype), up=self.up_factor,
                              down=self.down_factor, padding=self.padding, gain=gain, slope=slope,
                              clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}x{list(self.in_size)}, out={self.out_channels}x{list(self.out_size)}, "
                f"up={self.up_factor}, down={self.down_factor}, torgb={self.is_torgb}")


# -------------------------------------------------------------------- the official layer-spec formulas

def _lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> Optional[torch.Tensor]:
    """Separable Kaiser low-pass filter (scipy's firwin), None for one tap (the identity)."""
    if numtaps == 1:
        return None
    import scipy.signal

    return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs), dtype=torch.float32)


def _layer_spec(name_idx: int, is_torgb: bool, is_critical: bool, ch, size, sr, cutoff, half_width, prev: int, idx: int,
                conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2, conv_clamp=256) -> dict:
    """One SynthesisLayer's arguments from the per-layer arrays (Karras et al. 2021, Appendix C.3 / F)."""
    in_sr, out_sr = int(sr[prev]), int(sr[idx])
    tmp_sr = max(in_sr, out_sr) * (1 if is_torgb else lrelu_upsampling)
    up, down = int(np.rint(tmp_sr / in_sr)), int(np.rint(tmp_sr / out_sr))
    up_taps = filter_size * up if up > 1 and not is_torgb else 1
    down_taps = filter_size * down if down > 1 and not is_torgb else 1
    kernel = 1 if is_torgb else conv_kernel
    in_size, out_size = int(size[prev]), int(size[idx])
    total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
    lo = (total + up) // 2  # the symmetric interpretation of the sample positions
    return dict(name=f"L{name_idx}_{out_size}_{int(ch[idx])}", is_torgb=is_torgb, in_channels=int(ch[prev]),
                out_channels=int(ch[idx]), in_size=in_size, out_size=out_size, conv_kernel=kernel, up_factor=up,
                down_factor=down, padding=[lo, total - lo, lo, total - lo], conv_clamp=conv_clamp,
                up_filter=_lowpass(up_taps, cutoff[prev], half_width[prev] * 2, tmp_sr),
                down_filter=_lowpass(down_taps, cutoff[idx], half_width[idx] * 2, tmp_sr),
                is_critically_sampled=is_critical, in_sampling_rate=in_sr, out_sampling_rate=out_sr,
                in_cutoff=float(cutoff[prev]), out_cutoff=float(cutoff[idx]),
                in_half_width=float(half_width[prev]), out_half_width=float(half_width[idx]))


def design_layers(img_resolution: int, img_channels: int, channel_base: int = 65536, channel_max: int = 1024,
                  num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                  first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                  **layer_kwargs) -> tuple[dict, list[dict]]:
    """(input spec, layer specs) of the official ``SynthesisNetwork.get_layer_specs`` + ``init_upfirdn``
    (StyleGAN-XL's train.py doubles StyleGAN3's channel_base/channel_max: 65536 / 1024 for config T)."""
    last_cutoff = img_resolution / 2
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
    sr = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sr / 2) - cutoffs
    sizes = sr + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    input_spec = dict(channels=int(channels[0]), size=int(sizes[0]), sampling_rate=float(sr[0]),
                      bandwidth=float(cutoffs[0]))
    layers = [_layer_spec(idx, idx == num_layers, idx >= num_layers - num_critical, channels, sizes, sr, cutoffs,
                          half_widths, max(idx - 1, 0), idx, **layer_kwargs) for idx in range(num_layers + 1)]
    return input_spec, layers


def design_superres(stem_layers: list[dict], img_resolution: int, img_channels: int, head_layers: int,
                    channel_base: int = 65536, channel_max: int = 1024, last_stopband_rel: float = 2 ** 0.3,
                    margin_size: int = 10, num_critical: int = 2) -> list[dict]:
    """The layers of a ``SuperresGenerator`` (official ``compute_superres_filterparams``): the stem's layers
    without its critically sampled ones, then ``head_layers + 1`` new ones up to ``img_resolution``."""
    kept = [dict(s) for s in stem_layers if not s["is_critically_sampled"]]
    last, stem_len = kept[-1], len(kept) + 1
    first_cutoff = last["out_cutoff"]
    first_stopband = last["out_half_width"] + first_cutoff
    last_cutoff = img_resolution / 2
    exponents = np.minimum(np.arange(head_layers + 1) / (head_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
    sr = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    sr[0] = last["out_sampling_rate"]
    half_widths = np.maximum(stopbands, sr / 2) - cutoffs
    sizes = sr + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[0], channels[-1] = last["out_channels"], img_channels
    head = [_layer_spec(idx + stem_len, idx == head_layers, idx >= head_layers - num_critical, channels, sizes, sr,
                        cutoffs, half_widths, max(idx - 1, 0), idx) for idx in range(head_layers + 1)]
    return kept + head
