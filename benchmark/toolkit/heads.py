"""Trainable heads shared by methods: the MLP projector and the squeeze module T_phi."""
from __future__ import annotations

import torch
from torch import nn


def mlp_projector(in_dim: int, hidden_dim: int, out_dim: int, hidden_layers: int) -> nn.Sequential:
    """``hidden_layers`` x [Linear(hidden_dim), BN, ReLU] then Linear(hidden_dim -> out_dim), no final BN.

    Squeeze and Span's student projector is hidden_layers=4, hidden_dim=512, out_dim=2048.
    Linear layers followed by BN carry no bias: BN's shift would cancel it (its gradient is zero).
    """
    layers, dim = [], in_dim
    for _ in range(hidden_layers):
        layers += [nn.Linear(dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


class SqueezeModule(nn.Module):
    """T_phi of Squeeze and Span: squeezes multi-scale generator features into one compact vector.

    Each scale h_i (C_i x H_i x W_i) is globally average pooled and mapped by its own Linear(C_i, D);
    the per-scale vectors are summed, then Linear-BN-ReLU, Linear-BN-ReLU, Linear, all D wide
    (D = 2048 in the paper). A flat input (e.g. the latent w, shape (N, C)) is taken as one scale.
    """

    def __init__(self, feature_channels: list[int], out_dim: int):
        super().__init__()
        self.per_scale = nn.ModuleList(nn.Linear(c, out_dim) for c in feature_channels)
        self.mlp = nn.Sequential(
            nn.Linear(out_dim, out_dim, bias=False), nn.BatchNorm1d(out_dim), nn.ReLU(inplace=True),
            nn.Linear(out_dim, out_dim, bias=False), nn.BatchNorm1d(out_dim), nn.ReLU(inplace=True),
            nn.Linear(out_dim, out_dim),
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        pooled = [h.flatten(2).mean(-1) if h.ndim == 4 else h for h in features]
        return self.mlp(sum(linear(p) for linear, p in zip(self.per_scale, pooled)))
