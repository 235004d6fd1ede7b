"""``generator=biggan_cifar10``: the CIFAR BigGAN of DiffAugment (Zhao et al., NeurIPS 2020), loadable by name.

A clean-room re-implementation, written from the architecture of ``DiffAugment-biggan-cifar`` in
mit-han-lab/data-efficient-gans (itself built on ajbrock/BigGAN-PyTorch). The module tree, parameter
and buffer names follow that code's ``BigGAN.Generator`` and ``layers.py``, so the released generator
state dicts (``DiffAugment-biggan-cifar10.pth`` and the other ``*-biggan-cifar*.pth`` files, which
``eval.py`` loads with ``G.load_state_dict(torch.load(...))``) load with ``strict=True``.

Facts read from the official code (``BigGAN.py``, ``layers.py``, ``utils.py``, ``eval.py``, ``scripts/``):

* Configuration of every released CIFAR model: the scripts set no architecture flag, so the parser
  defaults hold: ``G_ch=64``, ``dim_z=128``, ``bottom_width=4``, ``G_shared=False``, ``hier=False``,
  ``shared_dim=0``, ``G_param='SN'``, ``num_G_SVs=1``, ``num_G_SV_itrs=1``, ``BN_eps=1e-5``,
  ``SN_eps=1e-8``, ``G_nl='relu'``, ``norm_style='bn'``, ``mybn=False``; ``G_attn`` is '0' in the scripts
  and '64' in ``eval.py`` (both mean no attention at 32 px). Resolution 32 (``C10``/``C100``), 10 or
  100 classes. ``G_arch(ch)[32]``: three up-sampling blocks 4->8->16->32, each ``4*ch`` = 256 channels.
* Spectral norm (``layers.SN``): every SN layer has buffers ``u0`` (1, out) and ``sv0`` (1,). Its
  forward divides the raw ``weight`` by ``sigma`` from one power-iteration step started at the stored
  ``u0`` (``v = normalize(u0 W)``, ``u = normalize(v W^T)``, ``sigma = v W^T u^T``, ``normalize`` with
  ``eps=SN_eps``), in eval mode as in train mode; ``sv0`` is only logged. Train mode also writes the new
  ``u`` back into ``u0``; this module never does (the frozen generator stays deterministic).
* ``linear`` (SNLinear, dim_z -> 16 * 256), view (N, 256, 4, 4); ``blocks.{i}.0`` GBlocks:
  ``h = relu(bn1(x, y))``, nearest x2 up-sampling of ``h`` and ``x``, ``conv1`` (3x3), ``relu(bn2(h, y))``,
  ``conv2`` (3x3), plus ``conv_sc(x)`` (1x1, present because every block up-samples).
  ``output_layer``: ``0`` = plain bn (params ``gain``, ``bias``; buffers ``stored_mean``, ``stored_var``),
  ``1`` = ReLU, ``2`` = SNConv2d(256 -> 3, 3x3); then tanh.
* Class-conditional BN (``layers.ccbn``): ``out = batch_norm(x) * (1 + gain(y)) + bias(y)`` with buffers
  ``stored_mean``/``stored_var``. With ``G_shared=False`` (the released models) ``gain`` and ``bias`` are
  ``nn.Embedding(n_classes, C)`` looked up by class id and ``G.shared`` is an identity; with
  ``G_shared=True`` they are bias-free SNLinear layers on ``shared(y)`` (``nn.Embedding(n_classes,
  shared_dim)``), concatenated with a z chunk when ``hier`` splits z into ``len(blocks) + 1`` chunks.
* Sampling (``utils.prepare_z_y``/``sample``): z ~ N(0, z_var=1), y uniform over the classes.
* BatchNorm statistics: ``eval.py`` (and training-time FID) runs G in train mode unless ``--G_eval_mode``
  is given, and no script gives it, so the published numbers use *batch* statistics; ``bn_stats='batch'``
  (default) does that (without updating the stored buffers), ``bn_stats='stored'`` uses the stored ones.

Latent ``w`` of this adapter: ``cat(z, c)`` with ``c`` the one-hot class (``G_shared=False``: the ccbn
embeddings are then read as ``c @ weight``, identical to the lookup for a one-hot ``c``) or the shared
class embedding (``G_shared=True``), so ``synthesize(w)`` needs no separate label and is differentiable
in both parts. Truncation scales z towards its mean: ``z * truncation`` (the official CIFAR code has none).
Features: every GBlock's output (``b8``, ``b16``, ``b32``), coarse to fine.
"""
from __future__ import annotations

import logging
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.generators.pretrained_files import checkpoint_path, ensure_checkpoint, load_weights, strip_prefix
from benchmark.interfaces import Generator, GeneratorOutput
from benchmark.registry import GENERATORS

log = logging.getLogger(__name__)

# The architecture of every released DiffAugment-biggan-cifar model (parser defaults; see the docstring).
CIFAR10_KWARGS = dict(G_ch=64, dim_z=128, bottom_width=4, resolution=32, G_attn="64", n_classes=10,
                      num_G_SVs=1, num_G_SV_itrs=1, G_shared=False, shared_dim=0, hier=False,
                      BN_eps=1e-5, SN_eps=1e-8)
ARCH_KEYS = tuple(CIFAR10_KWARGS)
# channel multipliers of G_arch(ch)[32]: in and out of each of the three up-sampling blocks
_ARCH_32 = {"in": (4, 4, 4), "out": (4, 4, 4), "resolution": (8, 16, 32)}


# ------------------------------------------------------------------------------------------ layers
class _SpectralNormMixin:
    """Buffers ``u{i}``/``sv{i}`` and the weight divided by one power-iteration estimate of sigma from ``u0``."""

    def _init_sn(self, num_svs: int, num_itrs: int, num_outputs: int, eps: float) -> None:
        self.num_svs, self.num_itrs, self.sn_eps = num_svs, num_itrs, eps
        for i in range(num_svs):
            self.register_buffer(f"u{i}", torch.randn(1, num_outputs))
            self.register_buffer(f"sv{i}", torch.ones(1))

    def sn_weight(self) -> torch.Tensor:
        # Only u0 enters the divisor (further singular vectors are orthogonalised against it, never the
        # reverse), and without writing u back every one of num_itrs iterations starts from u0 again.
        mat = self.weight.reshape(self.weight.shape[0], -1)
        with torch.no_grad():
            v = F.normalize(self.u0 @ mat, dim=1, eps=self.sn_eps)
            u = F.normalize(v @ mat.t(), dim=1, eps=self.sn_eps)
        sigma = ((v @ mat.t()) @ u.t()).squeeze()
        return self.weight / sigma


class SNConv2d(nn.Conv2d, _SpectralNormMixin):
    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1, bias=True, num_svs=1, num_itrs=1,
                 eps=1e-8):
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self._init_sn(num_svs, num_itrs, out_channels, eps)

    def forward(self, x):
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)


class SNLinear(nn.Linear, _SpectralNormMixin):
    def __init__(self, in_features, out_features, bias=True, num_svs=1, num_itrs=1, eps=1e-8):
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._init_sn(num_svs, num_itrs, out_features, eps)

    def forward(self, x):
        return F.linear(x, self.sn_weight(), self.bias)


def _batch_norm(x, mean, var, weight, bias, batch_stats: bool, eps: float):
    if batch_stats:  # normalise by this batch's statistics, leaving the stored ones untouched
        return F.batch_norm(x, None, None, weight, bias, True, 0.0, eps)
    return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)


class ClassConditionalBN(nn.Module):
    """``ccbn``: BN without affine, then ``* (1 + gain(c)) + bias(c)``; ``c`` is a class vector (see module doc)."""

    def __init__(self, channels: int, cond_dim: int, embedding: bool, eps: float, sn_kwargs: dict):
        super().__init__()
        self.embedding, self.eps, self.batch_stats = embedding, eps, True
        if embedding:  # G_shared=False: nn.Embedding(n_classes, channels), read as one-hot @ weight
            self.gain = nn.Embedding(cond_dim, channels)
            self.bias = nn.Embedding(cond_dim, channels)
        else:
            self.gain = SNLinear(cond_dim, channels, bias=False, **sn_kwargs)
            self.bias = SNLinear(cond_dim, channels, bias=False, **sn_kwargs)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def _project(self, layer, c):
        return c @ layer.weight if self.embedding else layer(c)

    def forward(self, x, c):
        gain = (1 + self._project(self.gain, c))[:, :, None, None]
        bias = self._project(self.bias, c)[:, :, None, None]
        return _batch_norm(x, self.stored_mean, self.stored_var, None, None, self.batch_stats, self.eps) * gain + bias


class PlainBN(nn.Module):
    """``layers.bn``: BN with parameters ``gain``/``bias`` and buffers ``stored_mean``/``stored_var``."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps, self.batch_stats = eps, True
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x, c=None):
        return _batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, self.batch_stats, self.eps)


class SelfAttention(nn.Module):
    """SA-GAN non-local block (``layers.Attention``): ``theta``, ``phi``, ``g``, ``o`` (1x1 SN convs), ``gamma``."""

    def __init__(self, ch: int, sn_kwargs: dict):
        super().__init__()
        self.ch = ch
        self.theta = SNConv2d(ch, ch // 8, 1, padding=0, bias=False, **sn_kwargs)
        self.phi = SNConv2d(ch, ch // 8, 1, padding=0, bias=False, **sn_kwargs)
        self.g = SNConv2d(ch, ch // 2, 1, padding=0, bias=False, **sn_kwargs)
        self.o = SNConv2d(ch // 2, ch, 1, padding=0, bias=False, **sn_kwargs)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x, c=None):
        n, _, hh, ww = x.shape
        theta = self.theta(x).flatten(2)  # (N, C/8, HW)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # (N, C/8, HW/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)  # (N, C/2, HW/4)
        beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (N, HW, HW/4)
        o = self.o((g @ beta.transpose(1, 2)).view(n, self.ch // 2, hh, ww))
        return x + self.gamma * o


class GBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, make_bn, sn_kwargs: dict):
        super().__init__()
        self.conv1 = SNConv2d(in_channels, out_channels, 3, padding=1, **sn_kwargs)
        self.conv2 = SNConv2d(out_channels, out_channels, 3, padding=1, **sn_kwargs)
        self.conv_sc = SNConv2d(in_channels, out_channels, 1, padding=0, **sn_kwargs)  # every block up-samples
        self.bn1 = make_bn(in_channels)
        self.bn2 = make_bn(out_channels)

    def forward(self, x, c):
        h = F.interpolate(torch.relu(self.bn1(x, c)), scale_factor=2)  # nearest
        h = self.conv2(torch.relu(self.bn2(self.conv1(h), c)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


# --------------------------------------------------------------------------------------- generator
class BigGANCifarGenerator(Generator):
    """BigGAN generator for 32 px images with the official module names (``BigGAN.Generator``)."""

    def __init__(self, G_ch: int = 64, dim_z: int = 128, bottom_width: int = 4, resolution: int = 32,
                 G_attn: str = "64", n_classes: int = 10, num_G_SVs: int = 1, num_G_SV_itrs: int = 1,
                 G_shared: bool = False, shared_dim: int = 0, hier: bool = False, BN_eps: float = 1e-5,
                 SN_eps: float = 1e-8, bn_stats: str = "batch"):
        super().__init__()
        if resolution != 32:
            raise ValueError(f"only the 32 px architecture (G_arch[32]) is implemented, not {resolution}")
        if hier and not G_shared:
            raise ValueError("hier=True needs G_shared=True (the official code concatenates z chunks to shared(y))")
        self.ch, self.bottom_width, self.n_classes = G_ch, bottom_width, n_classes
        self.G_shared, self.hier = G_shared, hier
        self.num_classes, self.image_channels, self.resolution = n_classes, 3, resolution
        self.shared_dim = shared_dim if shared_dim > 0 else dim_z
        num_blocks = len(_ARCH_32["out"])
        if hier:  # z is split into one chunk for the linear layer and one per block
            self.num_slots = num_blocks + 1
            self.z_chunk_size = dim_z // self.num_slots
            dim_z = self.z_chunk_size * self.num_slots
        else:
            self.num_slots, self.z_chunk_size = 1, 0
        self.z_dim = self.dim_z = dim_z
        self.cond_dim = self.shared_dim if G_shared else n_classes  # the class part of w
        self.w_dim = dim_z + self.cond_dim
        sn_kwargs = dict(num_svs=num_G_SVs, num_itrs=num_G_SV_itrs, eps=SN_eps)
        bn_in = self.shared_dim + self.z_chunk_size if G_shared else n_classes

        def make_bn(channels):
            return ClassConditionalBN(channels, bn_in, embedding=not G_shared, eps=BN_eps, sn_kwargs=sn_kwargs)

        self.shared = nn.Embedding(n_classes, self.shared_dim) if G_shared else nn.Identity()
        in_ch = [G_ch * m for m in _ARCH_32["in"]]
        out_ch = [G_ch * m for m in _ARCH_32["out"]]
        self.linear = SNLinear(dim_z // self.num_slots, in_ch[0] * bottom_width ** 2, **sn_kwargs)
        attention = {int(r) for r in str(G_attn).split("_") if r}
        blocks = []
        for i, res in enumerate(_ARCH_32["resolution"]):
            block = [GBlock(in_ch[i], out_ch[i], make_bn, sn_kwargs)]
            if res in attention:
                block.append(SelfAttention(out_ch[i], sn_kwargs))
            blocks.append(nn.ModuleList(block))
        self.blocks = nn.ModuleList(blocks)
        self.output_layer = nn.Sequential(PlainBN(out_ch[-1], eps=1e-5), nn.ReLU(),
                                          SNConv2d(out_ch[-1], 3, 3, padding=1, **sn_kwargs))
        self.feature_names = [f"b{r}" for r in _ARCH_32["resolution"]]
        self.feature_shapes = [(c, r, r) for c, r in zip(out_ch, _ARCH_32["resolution"])]
        self.set_bn_stats(bn_stats)
        self.reset_parameters()

    def set_bn_stats(self, mode: str) -> None:
        """'batch': normalise by each batch's statistics (the official evaluation); 'stored': by the buffers."""
        if mode not in ("batch", "stored"):
            raise ValueError(f"bn_stats must be 'batch' or 'stored', not {mode!r}")
        self.bn_stats = mode
        for m in self.modules():
            if isinstance(m, (ClassConditionalBN, PlainBN)):
                m.batch_stats = mode == "batch"

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random weights as the official scripts initialise them (``G_init N02``: N(0, 0.02))."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def class_vector(self, labels: torch.Tensor) -> torch.Tensor:
        """The class part of w: one-hot (G_shared=False) or the shared embedding."""
        if self.G_shared:
            return self.shared(labels)
        return F.one_hot(labels.long(), self.n_classes).to(self.linear.weight.dtype)

    def synthesize(self, w: torch.Tensor) -> GeneratorOutput:
        z, c = w[:, : self.z_dim], w[:, self.z_dim:]
        if self.hier:
            zs = torch.split(z, self.z_chunk_size, dim=1)
            z, conds = zs[0], [torch.cat([c, zi], dim=1) for zi in zs[1:]]
        else:
            conds = [c] * len(self.blocks)
        h = self.linear(z).view(len(w), -1, self.bottom_width, self.bottom_width)
        features = []
        for blocklist, cond in zip(self.blocks, conds):
            for layer in blocklist:
                h = layer(h, cond)
            features.append(h)
        images = torch.tanh(self.output_layer(h))
        return GeneratorOutput(images=images, features=features, w=w)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.synthesize(torch.cat([z, self.class_vector(labels)], dim=1)).images

    def sample(self, n: int, labels: Optional[torch.Tensor] = None, truncation: float = 1.0,
               rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        device = self.linear.weight.device
        z = torch.randn(n, self.z_dim, device=device, generator=rng) * truncation
        if labels is None:
            labels = torch.randint(self.n_classes, (n,), device=device, generator=rng)
        labels = labels.to(device)
        if len(labels) != n or labels.min() < 0 or labels.max() >= self.n_classes:
            raise ValueError(f"labels must be {n} class ids in [0, {self.n_classes})")
        out = self.synthesize(torch.cat([z, self.class_vector(labels)], dim=1))
        out.labels = labels
        return out


# -------------------------------------------------------------------------------------- registration
def load_biggan_cifar(path, arch: Optional[dict] = None, bn_stats: str = "batch") -> BigGANCifarGenerator:
    """A generator with the weights of an official (or our own, same-format) state-dict file, strict."""
    G = BigGANCifarGenerator(**{**CIFAR10_KWARGS, **(arch or {})}, bn_stats=bn_stats)
    state = load_weights(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    G.load_state_dict(strip_prefix(state), strict=True)
    return G


# The released DiffAugment BigGAN for (100 % of) CIFAR-10: README "Pre-Trained Models", model name
# ``mit-han-lab:DiffAugment-biggan-cifar10.pth``, which dnnlib/util.py expands to this URL.
DEFAULT_URL = "https://data-efficient-gans.mit.edu/models/DiffAugment-biggan-cifar10.pth"
DEFAULTS = {"checkpoint": None, "url": DEFAULT_URL, "sha256": None, "download": True, "bn_stats": "batch",
            **CIFAR10_KWARGS}


@GENERATORS.register("biggan_cifar10")
def biggan_cifar10(cfg: dict, data_cfg, artifacts_root: str, device: torch.device):
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"generator biggan_cifar10 has no option(s) {unknown}; valid options: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **cfg}
    what = "generator biggan_cifar10 (DiffAugment BigGAN)"
    path, provenance = ensure_checkpoint(checkpoint_path(cfg, artifacts_root, what), cfg["url"], cfg["sha256"],
                                         bool(cfg["download"]), what)
    G = load_biggan_cifar(path, {k: cfg[k] for k in ARCH_KEYS}, bn_stats=cfg["bn_stats"])
    G = G.to(device).eval().requires_grad_(False)
    G.reused = not provenance["downloaded"]
    G.provenance = {**provenance, "bn_stats": G.bn_stats}
    log.info("BigGAN (DiffAugment) %s: %d classes, z %d, w %d, features %s, bn_stats=%s", path.name, G.num_classes,
             G.z_dim, G.w_dim, G.feature_shapes, G.bn_stats)
    return G


biggan_cifar10.options = DEFAULTS  # what launch.py validates generator.* against (benchmark/orchestration/validation.py)
biggan_cifar10.option_choices = {"bn_stats": ("batch", "stored")}
