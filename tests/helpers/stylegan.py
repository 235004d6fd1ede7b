"""Random weights for the StyleGAN2-ADA re-implementation's networks (their fixed resample filters kept)."""
from __future__ import annotations

import torch


def randomize_(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not name.endswith("resample_filter"):
                t.copy_(torch.randn(t.shape, generator=g) * (0.3 if t.ndim <= 1 else 1.0))
