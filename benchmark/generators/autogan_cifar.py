"""``generator=autogan_cifar10``: AutoGAN's discovered CIFAR-10 generator (Gong et al., ICCV 2019), loadable.

A clean-room re-implementation of ``Generator`` in VITA-Group/AutoGAN ``models/autogan_cifar10_a.py``
with the ``Cell`` of ``models/building_blocks.py``, written from that architecture; the module names
match, so the released generator weights load with ``strict=True``.

Facts read from the official code (``models/autogan_cifar10_a.py``, ``models/building_blocks.py``,
``test.py``, ``train.py``, ``functions.py``, ``exps/autogan_cifar10_a.sh``, README):

* Arguments of the released CIFAR-10 model: ``latent_dim=128``, ``gf_dim=256``, ``bottom_width=4``,
  ``g_spectral_norm=False`` (the generator has no spectral norm), 32 px, unconditional.
* ``l1``: Linear(latent_dim -> bottom_width**2 * gf_dim), viewed as (N, gf_dim, 4, 4).
* ``cell1``: up-sampling 'nearest', no cross-scale skip input, inner shortcut; ``cell2``: 'bilinear',
  one skip input (cell1's), shortcut; ``cell3``: 'nearest', two skip inputs (cell1's, cell2's), no
  shortcut. All ``gf_dim`` -> ``gf_dim`` channels, no normalisation inside the cells (``norm=None``).
* A cell: ``h = c1(up(relu(x)))`` (3x3), then for each skip input ``h += skip_in_ops[j](interp(ft_j, size
  of h, same mode))`` (1x1), ``out = c2(relu(h))`` (3x3), plus ``c_sc(up(x))`` (1x1) with a shortcut.
  The skip output passed to later cells is ``h`` *after* the skip additions (the official ``h +=`` is
  in place on the tensor it also returns). Bilinear interpolation uses ``align_corners=False``.
* ``to_rgb``: Sequential(BatchNorm2d(gf_dim), ReLU, Conv2d(gf_dim, 3, 3, 1, 1), Tanh), so its state
  dict keys are ``to_rgb.0.*`` (BN, with running statistics) and ``to_rgb.2.*``.
* Evaluation (``functions.validate``) puts G in eval mode (BN running statistics) and draws
  z ~ N(0, 1). ``test.py`` loads ``checkpoint['avg_gen_state_dict']`` (the parameter moving average,
  in a full training checkpoint) when present, otherwise the file is the generator's state dict.

Latent ``w`` of this adapter is z itself (w_dim = 128); truncation scales it towards 0
(``z * truncation``; AutoGAN defines none). Features: the three cells' outputs (``b8``, ``b16``,
``b32``, ``gf_dim`` channels each).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.generators.pretrained_files import DOWNLOAD_DIR, ensure_checkpoint, load_weights, strip_prefix
from benchmark.interfaces import Generator, GeneratorOutput
from benchmark.registry import GENERATORS

log = logging.getLogger(__name__)

CIFAR10_KWARGS = dict(latent_dim=128, gf_dim=256, bottom_width=4)
# (up-sampling mode, number of cross-scale skip inputs, inner shortcut) of cell1..cell3
CELLS = (("nearest", 0, True), ("bilinear", 1, True), ("nearest", 2, False))


def _resize(x: torch.Tensor, mode: str, scale_factor=None, size=None) -> torch.Tensor:
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=scale_factor, size=size, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=scale_factor, size=size, mode=mode)


class Cell(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, up_mode: str, num_skip_in: int = 0,
                 short_cut: bool = False, ksize: int = 3):
        super().__init__()
        self.up_mode = up_mode
        self.c1 = nn.Conv2d(in_channels, out_channels, ksize, padding=ksize // 2)
        self.c2 = nn.Conv2d(out_channels, out_channels, ksize, padding=ksize // 2)
        self.c_sc = nn.Conv2d(in_channels, out_channels, kernel_size=1) if short_cut else None
        self.skip_in_ops = (nn.ModuleList([nn.Conv2d(out_channels, out_channels, kernel_size=1)
                                           for _ in range(num_skip_in)]) if num_skip_in else None)

    def forward(self, x: torch.Tensor, skips: tuple = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """(the cross-scale skip output, the cell's output)."""
        h = self.c1(_resize(torch.relu(x), self.up_mode, scale_factor=2))
        if self.skip_in_ops is not None:
            if len(skips) != len(self.skip_in_ops):
                raise ValueError(f"this cell takes {len(self.skip_in_ops)} skip inputs, got {len(skips)}")
            for ft, op in zip(skips, self.skip_in_ops):
                h = h + op(_resize(ft, self.up_mode, size=h.shape[-2:]))
        out = self.c2(torch.relu(h))
        if self.c_sc is not None:
            out = out + self.c_sc(_resize(x, self.up_mode, scale_factor=2))
        return h, out


class AutoGANGenerator(Generator):
    """AutoGAN-discovered generator ``autogan_cifar10_a`` with the official module names."""

    def __init__(self, latent_dim: int = 128, gf_dim: int = 256, bottom_width: int = 4):
        super().__init__()
        self.z_dim = self.w_dim = latent_dim
        self.ch, self.bottom_width = gf_dim, bottom_width
        self.num_classes, self.image_channels = 0, 3
        self.resolution = bottom_width * 2 ** len(CELLS)
        self.l1 = nn.Linear(latent_dim, bottom_width ** 2 * gf_dim)
        for i, (mode, num_skip, short_cut) in enumerate(CELLS, start=1):
            setattr(self, f"cell{i}", Cell(gf_dim, gf_dim, mode, num_skip_in=num_skip, short_cut=short_cut))
        self.to_rgb = nn.Sequential(nn.BatchNorm2d(gf_dim), nn.ReLU(), nn.Conv2d(gf_dim, 3, 3, 1, 1), nn.Tanh())
        sizes = [bottom_width * 2 ** i for i in range(1, len(CELLS) + 1)]
        self.feature_names = [f"b{s}" for s in sizes]
        self.feature_shapes = [(gf_dim, s, s) for s in sizes]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random weights as ``train.py`` initialises them (``init_type xavier_uniform``; BN weight N(1, 0.02))."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def synthesize(self, w: torch.Tensor) -> GeneratorOutput:
        h = self.l1(w).view(len(w), self.ch, self.bottom_width, self.bottom_width)
        skip1, h1 = self.cell1(h)
        skip2, h2 = self.cell2(h1, (skip1,))
        _, h3 = self.cell3(h2, (skip1, skip2))
        return GeneratorOutput(images=self.to_rgb(h3), features=[h1, h2, h3], w=w)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesize(z).images

    def sample(self, n: int, labels: Optional[torch.Tensor] = None, truncation: float = 1.0,
               rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        if labels is not None:
            raise ValueError("AutoGAN's CIFAR-10 generator is unconditional; pass labels=None")
        z = torch.randn(n, self.z_dim, device=self.l1.weight.device, generator=rng) * truncation
        return self.synthesize(z)


def generator_state_from_checkpoint(obj) -> dict:
    """The generator weights of a released file: a plain state dict, or a training checkpoint's
    ``avg_gen_state_dict`` (what ``test.py`` prefers) / ``gen_state_dict``."""
    if isinstance(obj, dict):
        for key in ("avg_gen_state_dict", "gen_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                return strip_prefix(obj[key])
    return strip_prefix(obj)


def load_autogan(path, arch: Optional[dict] = None) -> AutoGANGenerator:
    G = AutoGANGenerator(**{**CIFAR10_KWARGS, **(arch or {})})
    G.load_state_dict(generator_state_from_checkpoint(load_weights(path)), strict=True)
    return G


# README "Pre-trained models are provided (Google Drive)": a folder, not a file link, so nothing is
# downloaded automatically; the file goes to ``checkpoint`` (default: DEFAULT_FILE under paths.artifacts).
DEFAULT_URL = "https://drive.google.com/drive/folders/1IYDNrKY3m97K3bx_uIzOL6vFmCjGNpYZ"
DEFAULT_FILE = (*DOWNLOAD_DIR, "autogan_cifar10", "autogan_cifar10_a.pth")
DEFAULTS = {"checkpoint": None, "url": DEFAULT_URL, "sha256": None, "download": False, **CIFAR10_KWARGS}


@GENERATORS.register("autogan_cifar10")
def autogan_cifar10(cfg: dict, data_cfg, artifacts_root: str, device: torch.device):
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"generator autogan_cifar10 has no option(s) {unknown}; valid options: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **cfg}
    path = Path(cfg["checkpoint"]).expanduser() if cfg["checkpoint"] else Path(artifacts_root or ".", *DEFAULT_FILE)
    note = ("The authors share the pretrained CIFAR-10 generator in a Google Drive folder (README, 'How to train "
            "& test the discovered architecture'); fetch its file by hand. A plain generator state dict or a "
            "train.py checkpoint (its avg_gen_state_dict is used) both load.")
    path, provenance = ensure_checkpoint(path, cfg["url"], cfg["sha256"], bool(cfg["download"]),
                                         "generator autogan_cifar10", note=note)
    G = load_autogan(path, {k: cfg[k] for k in CIFAR10_KWARGS})
    G = G.to(device).eval().requires_grad_(False)
    G.reused = not provenance["downloaded"]
    G.provenance = provenance
    log.info("AutoGAN %s: z %d, features %s", path.name, G.z_dim, G.feature_shapes)
    return G


autogan_cifar10.options = DEFAULTS  # what launch.py validates generator.* against (benchmark/orchestration/validation.py)
