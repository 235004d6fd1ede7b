"""StyleGAN-XL networks for tests: tiny clean-room generators with random weights (their designed FIR filters
kept) and network pickles laid out as autonomousvision/stylegan_xl's training loop writes them: every
network module of ``networks_stylegan3_resetting.py`` a ``torch_utils.persistence._reconstruct_persistent_obj
(meta)`` call (float attributes as numpy float64, as the official code computes them with numpy), the class
embedding a plain ``torch.nn.Embedding``, and a stand-in projected discriminator ``D`` that references
globals no allow-list has (``pg_modules.discriminator.ProjectedDiscriminator``, a function of
``feature_networks.vit`` bound as a method via ``builtins.getattr``, a dill-style function record) and even
an ``os.system`` call - all of which the loader must leave inert."""
from __future__ import annotations

import contextlib
import os
import pickle
import sys
import types

import numpy as np
import torch

from benchmark.generators import styleganxl as sx
from benchmark.generators import styleganxl_layers
from tests.helpers.pickles import MODULE_SRC, FakeEasyDict, fake_nvidia_modules

Z, W, C = 8, 16, 10
EMBED = dict(num_embeddings=20, embedding_dim=6)  # the official one is ImageNet's 1000 x 320
SYNTH = dict(channel_base=256, channel_max=16, num_layers=4)  # 16 channels per layer, 4 layers + ToRGB
SUPERRES = dict(up_factor=2, head_layers=3)  # a 16 px stem grown to 32 px, as a SuperresGenerator


def randomize_(G: sx.Generator, seed: int = 0) -> sx.Generator:
    """Random weights of a sensible scale; the designed filters and the Fourier frequencies stay."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(G.named_parameters()) + list(G.named_buffers()):
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("up_filter", "down_filter", "freqs", "phases"):
                continue
            if leaf == "magnitude_ema":  # a running mean of squares: positive
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            elif leaf == "transform":  # a small rotation/translation of the image (gen_images.py sets one)
                t[:2].add_(torch.randn([2, 3], generator=g) * 0.1)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (0.3 if t.ndim <= 1 else 1.0))
    return G


def make_generator(c_dim: int = C, superres: bool = True, seed: int = 0) -> sx.Generator:
    """A tiny conditional (or unconditional) 32 px SuperresGenerator-layout net, or a 16 px single stage."""
    torch.manual_seed(seed)
    G = sx.build_generator(z_dim=Z, c_dim=c_dim, w_dim=W, img_resolution=32 if superres else 16, img_channels=3,
                           mapping_kwargs=dict(EMBED), superres=dict(SUPERRES) if superres else None, **SYNTH)
    return randomize_(G, seed).eval().requires_grad_(False)


# ------------------------------------------------------------------------------ the fake discriminator

class ProjectedDiscriminator:
    """Pickles as ``pg_modules.discriminator.ProjectedDiscriminator`` with a state holding other refused globals."""

    def __init__(self, marker: str):
        self.backbones = ["deit_base_distilled_patch16_224", "tf_efficientnet_lite0"]
        self.forward_flex = types.MethodType(forward_flex, self)  # pickled as builtins.getattr(self, name)
        self.flex_fn = forward_flex  # a function of a module the loader must never import
        self.hook = _Reduce(_create_function, b"\x00code bytes", {"__name__": "vit"})  # dill-style function
        self.payload = _Reduce(os.system, f"touch {marker}")  # must never run
        self.weight = torch.ones(3)

    def __reduce__(self):
        return (ProjectedDiscriminator, ("unused",), {k: v for k, v in self.__dict__.items() if k != "forward_flex"}
                | {"forward_flex": self.forward_flex})


class _Reduce:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def forward_flex(self, x):  # noqa: D401 - a stand-in for feature_networks.vit.forward_flex
    return x


def _create_function(*args):  # stand-ins for functions of dill._dill
    raise AssertionError("never called by the loader")


def _get_attr(*args):
    raise AssertionError("never called by the loader")


def _import_module(*args):
    raise AssertionError("never called by the loader")


class _DillModule:
    """Pickles as ``dill._dill._import_module(name)``."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return (_import_module, (self.name,))


class _DillScalar:
    """numpy's ``scalar`` as dill 0.3.4 pickles it: ``_get_attr(_import_module('numpy...._multiarray_umath'),
    'scalar')`` (checked once with dill 0.3.4, outside the repository)."""

    def __call__(self, *args):
        raise AssertionError("never called by the writer")

    def __reduce__(self):
        umath = "numpy._core._multiarray_umath" if hasattr(np, "_core") else "numpy.core._multiarray_umath"
        return (_get_attr, (_DillModule(umath), "scalar"))


_FAKE = {"pg_modules": [], "pg_modules.discriminator": [ProjectedDiscriminator], "feature_networks": [],
         "feature_networks.vit": [forward_flex], "dill": [],
         "dill._dill": [_create_function, _get_attr, _import_module]}


@contextlib.contextmanager
def fake_sgxl_modules():
    """``pg_modules.discriminator``, ``feature_networks.vit`` and ``dill._dill`` in sys.modules while pickling."""
    saved = {name: sys.modules.get(name) for name in _FAKE}
    originals = {obj: (obj.__module__, obj.__qualname__) for objs in _FAKE.values() for obj in objs}
    try:
        for name, objs in _FAKE.items():
            module = types.ModuleType(name)
            sys.modules[name] = module
            for obj in objs:
                obj.__module__ = name
                setattr(module, obj.__name__, obj)
                obj.__qualname__ = obj.__name__
        yield
    finally:
        for obj, (mod, qual) in originals.items():
            obj.__module__, obj.__qualname__ = mod, qual
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# ------------------------------------------------------------------------------------------ pickling

CLEAN_ROOM_MODULES = {sx.__name__, styleganxl_layers.__name__}


def _official_types(state: dict) -> dict:
    """Float attributes as numpy float64 (the official code computes them with numpy)."""
    return {k: np.float64(v) if type(v) is float else v for k, v in state.items()}


class PersistencePickler(pickle.Pickler):
    """Pickles every clean-room StyleGAN-XL module as ``@persistence.persistent_class`` does."""

    def __init__(self, file, init_kwargs: dict, class_names: dict, extra_state: dict, protocol=None,
                 dill_scalars: bool = False):
        super().__init__(file, protocol=protocol)
        self.init_kwargs, self.class_names, self.extra_state = init_kwargs, class_names, extra_state
        self.dill_scalars = dill_scalars

    def reducer_override(self, obj):
        if self.dill_scalars and type(obj) is np.float64:  # as dill writes numpy scalars
            return _DillScalar(), (np.dtype("f8"), obj.tobytes())
        if isinstance(obj, torch.nn.Module) and type(obj).__module__ in CLEAN_ROOM_MODULES:
            state = dict(_official_types(obj.__dict__), _init_args=(), _init_kwargs=self.init_kwargs.get(id(obj), {}))
            state.update(self.extra_state.get(id(obj), {}))
            meta = dict(type="class", version=6, module_src=MODULE_SRC,
                        class_name=self.class_names.get(id(obj), type(obj).__name__), state=state)
            return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,)
        return NotImplemented


def write_official_pickle(path, G_ema: sx.Generator, *, superres: bool = True, marker: str = "/nonexistent/marker",
                          protocol: int = pickle.HIGHEST_PROTOCOL, extra_state: dict | None = None,
                          dill_scalars: bool = False):
    """A snapshot as StyleGAN-XL's training_loop.py writes it (``G`` is G_ema's twin here), ``D`` a fake
    projected discriminator. ``extra_state``: {module: {attribute: value}} added to pickled states;
    ``dill_scalars``: numpy float64 attributes pickled the way dill does (``dill._dill._get_attr`` of
    ``dill._dill._import_module``), as in the released snapshots, which dill wrote."""
    if superres:
        root_kwargs = dict(img_resolution=G_ema.img_resolution, path_stem="training-runs/stem16/best_model.pkl",
                           head_layers=SUPERRES["head_layers"], up_factor=SUPERRES["up_factor"],
                           channel_base=SYNTH["channel_base"], channel_max=SYNTH["channel_max"])
    else:
        root_kwargs = dict(z_dim=G_ema.z_dim, c_dim=G_ema.c_dim, w_dim=G_ema.w_dim, img_resolution=G_ema.img_resolution,
                           img_channels=G_ema.img_channels, mapping_kwargs=FakeEasyDict(rand_embedding=False,
                                                                                         num_layers=2), **SYNTH)
    with fake_nvidia_modules(), fake_sgxl_modules():
        snapshot = dict(G=G_ema, D=ProjectedDiscriminator(marker), G_ema=G_ema, augment_pipe=None,
                        training_set_kwargs=dict(path="cifar10-32x32.zip", use_labels=bool(G_ema.c_dim)))
        extra = {id(module): values for module, values in (extra_state or {}).items()}
        with open(path, "wb") as f:
            PersistencePickler(f, {id(G_ema): root_kwargs},
                               {id(G_ema): "SuperresGenerator" if superres else "Generator"}, extra,
                               protocol, dill_scalars).dump(snapshot)
    return path
