"""What the style-based adapters share (StyleGAN2-ADA, StyleGAN-XL): a frozen ``G_ema`` with a mapping network
``G.mapping(z, c, truncation_psi)`` and a synthesis network driven by per-layer ws, behind the suite's Generator.

Sampling draws z (and, for a conditional G, the classes: ``label`` fixes one) from the caller's RNG, maps them,
and synthesises from ws[:, 0] used for every layer; ``sample_rows`` draws the latents of all ``n`` samples and
synthesises only the rows asked for, so a data-parallel shard sees the rows one process would.
"""
from __future__ import annotations

import json
from typing import Optional

import torch
import torch.nn.functional as F

from benchmark.interfaces import Generator, GeneratorOutput


class MappedStyleGenerator(Generator):
    """The Generator contract for a style-based ``G_ema``; subclasses give ``family`` (for messages),
    ``_device()`` and ``synthesize(w)`` (``per_layer_ws`` turns its argument into ws)."""

    family = "style-based"

    def __init__(self, G, *, truncation_psi: float = 1.0, label: Optional[int] = None):
        super().__init__()
        self.G = G
        self.z_dim, self.w_dim, self.num_ws = G.z_dim, G.w_dim, G.num_ws
        self.num_classes, self.image_channels, self.resolution = G.c_dim, G.img_channels, G.img_resolution
        self.feature_names = list(G.synthesis.feature_names)
        self.feature_shapes = [tuple(s) for s in G.synthesis.feature_shapes]
        self.truncation_psi = float(truncation_psi)
        if label is not None:
            if not self.num_classes:
                raise ValueError(f"generator.label={label} but this generator is unconditional (c_dim 0); "
                                 "set generator.label=null")
            if not 0 <= int(label) < self.num_classes:
                raise ValueError(f"generator.label={label} is not a class id in [0, {self.num_classes})")
            label = int(label)
        self.label = label
        self.reused = True
        self.provenance: dict = {}

    def per_layer_ws(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ws (N, num_ws, w_dim), w (N, w_dim)) from w used for every layer, or from per-layer ws (w = ws[:, 0])."""
        if w.ndim == 2 and w.shape[1] == self.w_dim:
            return w.unsqueeze(1).expand(-1, self.num_ws, -1), w
        if w.ndim == 3 and tuple(w.shape[1:]) == (self.num_ws, self.w_dim):
            return w, w[:, 0]
        raise ValueError(f"w must have shape (N, {self.w_dim}) or (N, {self.num_ws}, {self.w_dim}), "
                         f"got {tuple(w.shape)}")

    def sample(self, n: int, labels: Optional[torch.Tensor] = None, truncation: Optional[float] = None,
               rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        """``n`` samples; ``truncation`` None = the config's ``truncation_psi`` (1 = none)."""
        z, labels = self._draw_latents(n, labels, rng)
        return self._synthesize_z(z, labels, truncation)

    def sample_rows(self, n: int, rows: slice, rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        """Latents and classes are drawn for all ``n``, only ``rows`` are synthesized (what is random after the
        latents, e.g. StyleGAN2-ADA's ``noise_mode: random``, is drawn in the rows' shape: the same in
        distribution as a one-process run, not the same numbers)."""
        z, labels = self._draw_latents(n, None, rng)
        return self._synthesize_z(z[rows], None if labels is None else labels[rows], None)

    def _draw_latents(self, n: int, labels, rng) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        device = self._device()
        z = torch.randn(n, self.z_dim, device=device, generator=rng)
        if self.num_classes:
            if labels is None:
                labels = (torch.full((n,), self.label, dtype=torch.int64, device=device) if self.label is not None
                          else torch.randint(self.num_classes, (n,), device=device, generator=rng))
            labels = torch.as_tensor(labels, device=device).long()
            if labels.shape != (n,) or labels.min() < 0 or labels.max() >= self.num_classes:
                raise ValueError(f"labels must be {n} class ids in [0, {self.num_classes})")
        elif labels is not None:
            raise ValueError(f"this {self.family} generator is unconditional (c_dim 0); pass labels=None")
        return z, labels

    def _synthesize_z(self, z: torch.Tensor, labels: Optional[torch.Tensor], truncation: Optional[float]):
        c = F.one_hot(labels, self.num_classes).float() if labels is not None else None
        psi = self.truncation_psi if truncation is None else float(truncation)
        ws = self.G.mapping(z, c, truncation_psi=psi)
        out = self.synthesize(ws[:, 0])
        out.labels = labels
        return out


def json_safe(value):
    """``value`` as JSON would give it back (a pickle's init kwargs, for a record)."""
    return json.loads(json.dumps(value, default=str))
