"""StyleGAN2-ADA networks for tests: random weights (their fixed resample filters kept), small official-layout
networks, and network pickles written as NVIDIA's ``torch_utils.persistence`` writes them (every network module
a ``_reconstruct_persistent_obj(meta)`` call), with the fake NVIDIA modules of tests/helpers/pickles.py."""
from __future__ import annotations

import pickle
import sys

import torch

from benchmark.generators import stylegan2ada as sg
from benchmark.generators import stylegan2ada_discriminator as sgd
from benchmark.generators import stylegan2ada_layers
from tests.helpers.pickles import MODULE_SRC, FakeEasyDict, fake_nvidia_modules


def randomize_(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not name.endswith("resample_filter"):
                t.copy_(torch.randn(t.shape, generator=g) * (0.3 if t.ndim <= 1 else 1.0))


Z = W = 16
SYNTH = dict(channel_base=1024, channel_max=32)  # 32 px: 32 channels in every block


def make_networks(c_dim: int, seed: int = 0, resolution: int = 32):
    """A small G_ema / D pair (init kwargs as NVIDIA's train.py passes them) with random weights; 32 px
    unless ``resolution`` says otherwise (e.g. 128, the STL-10 generator's)."""
    g_kwargs = dict(z_dim=Z, c_dim=c_dim, w_dim=W, img_resolution=resolution, img_channels=3,
                    mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(SYNTH, num_fp16_res=4, conv_clamp=256))
    d_kwargs = dict(c_dim=c_dim, img_resolution=resolution, img_channels=3, architecture="resnet", channel_base=1024,
                    channel_max=32, num_fp16_res=4, conv_clamp=256, block_kwargs={}, mapping_kwargs={},
                    epilogue_kwargs=dict(mbstd_group_size=4))
    torch.manual_seed(seed)
    G, D = sg.Generator(**g_kwargs).eval(), sgd.Discriminator(**d_kwargs).eval()
    randomize_(G, seed)
    randomize_(D, seed + 1)
    with torch.no_grad():  # weights of a sensible scale, so images are not all clamped
        for name, p in list(G.named_parameters()):
            if name.endswith("weight") and p.ndim > 1:
                p.mul_(0.5)
    return G.requires_grad_(False), D.requires_grad_(False), g_kwargs, d_kwargs


def _easydicts(kwargs: dict) -> dict:
    return {k: FakeEasyDict(v) if isinstance(v, dict) else v for k, v in kwargs.items()}


# every module class of the official networks.py is a persistent class; ours stand in these three files
CLEAN_ROOM_MODULES = {sg.__name__, sgd.__name__, stylegan2ada_layers.__name__}


class PersistencePickler(pickle.Pickler):
    """Pickles every clean-room module as ``@persistence.persistent_class`` pickles the official ones:
    ``torch_utils.persistence._reconstruct_persistent_obj(dict(type='class', version=6, module_src=...,
    class_name=..., state=<__dict__ with _init_args/_init_kwargs>))``."""

    def __init__(self, file, init_kwargs: dict, protocol=None):
        super().__init__(file, protocol=protocol)
        self.init_kwargs = init_kwargs  # id(module) -> its constructor kwargs (sub-modules: {})

    def reducer_override(self, obj):
        if isinstance(obj, torch.nn.Module) and type(obj).__module__ in CLEAN_ROOM_MODULES:
            state = dict(obj.__dict__, _init_args=(), _init_kwargs=self.init_kwargs.get(id(obj), {}))
            meta = dict(type="class", version=6, module_src=MODULE_SRC, class_name=type(obj).__name__, state=state)
            return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,)
        return NotImplemented


def write_official_pickle(path, G_ema, D, g_kwargs, d_kwargs, protocol=pickle.HIGHEST_PROTOCOL):
    """A snapshot laid out as training_loop.py writes it (G is G_ema's twin with other weights)."""
    G = sg.Generator(**g_kwargs).eval().requires_grad_(False)
    with fake_nvidia_modules():
        snapshot = dict(training_set_kwargs=dict(path="cifar10.zip", use_labels=bool(g_kwargs["c_dim"])),
                        G=G, D=D, G_ema=G_ema, augment_pipe=None)
        kwargs = {id(G): _easydicts(g_kwargs), id(G_ema): _easydicts(g_kwargs), id(D): _easydicts(d_kwargs)}
        with open(path, "wb") as f:
            PersistencePickler(f, kwargs, protocol).dump(snapshot)
    return path
