"""StyleGAN-XL generator in plain PyTorch, loadable from the official network pickles without running their code.

A clean-room re-implementation of the generator of Sauer, Schwarz and Geiger, "StyleGAN-XL: Scaling StyleGAN to
Large Diverse Datasets" (SIGGRAPH 2022): the alias-free synthesis network of Karras et al., "Alias-Free
Generative Adversarial Networks" (StyleGAN3, NeurIPS 2021, config T) behind StyleGAN-XL's class-embedding
mapping network. The layers and ops are in styleganxl_layers.py; this module holds the synthesis network, the
generator (``build_generator``: a fresh one from the official layer-spec formulas of styleganxl_layers.py) and
the safe loading of the official pickles (``load_styleganxl_pickle``, ``generator_from_record``). Float32 only:
the reduced-precision layers of the official code (``use_fp16``, CUDA only there) run in float32 here, as the
official code does on the CPU or with ``force_fp32``.

Format facts (learned by reading autonomousvision/stylegan_xl: ``training/networks_stylegan3_resetting.py``,
``training/training_loop.py``, ``train.py``, ``legacy.py``; no code copied):

* A snapshot (``best_model.pkl``; the released ``cifar10.pkl``, ``imagenet*.pkl``, ...) is ``dill.dump`` of
  ``dict(G, D, G_ema, augment_pipe, training_set_kwargs[, progress])``. Networks are pickled straight from
  the GPU (their tensors are CUDA storages: loaded here onto the CPU).
* ``G_ema`` is a ``torch_utils.persistence`` object (the same ``_reconstruct_persistent_obj(meta)`` records as
  StyleGAN2-ADA, see official_pickle.py) of class ``Generator`` (a single stage) or ``SuperresGenerator`` (a
  progressively grown one: the stem's ``mapping`` and ``synthesis`` with the stem's critically sampled layers
  cut off and ``head_layers + 1`` new layers appended to ``synthesis.layer_names``). Its children are
  ``MappingNetwork`` (``embed``: a plain ``torch.nn.Embedding`` of the ImageNet classes, 1000 x 320,
  ``embed_proj``, ``fc0..fc{L-1}``, buffer ``w_avg`` of shape (c_dim, w_dim) when conditional) and
  ``SynthesisNetwork`` (``input``: ``SynthesisInput``; layers ``L{idx}_{size}_{channels}``: ``SynthesisLayer``,
  in the order of its ``layer_names`` list). A ``SuperresGenerator``'s constructor arguments name the stem's
  pickle (``path_stem``), so networks are rebuilt here from the pickled *state* (every layer's ``up_factor``,
  ``down_factor``, ``padding``, sizes, channels and its filter buffers), never from constructor arguments.
* ``D`` is a ``pg_modules.discriminator.ProjectedDiscriminator``: a plain (non-persistent) module holding timm
  feature networks (DeiT, EfficientNet) with dill-pickled functions and bound methods. It is not needed (the
  adapter's ``discriminator`` is None). The restricted unpickler of official_pickle.py refuses its globals;
  ``StyleGANXLUnpickler`` below turns every global the allow-list refuses into an inert record class (it stores
  what it is called or built with and never imports, calls or executes anything), and ``load_styleganxl_pickle``
  refuses the file if such a record is reachable from ``G_ema``. So no code in the pickle runs, and only data
  reaches the generator.
* dill writes a builtin function such as numpy's ``scalar`` (which rebuilds every numpy float attribute of
  ``G_ema``, e.g. ``weight_gain``) as ``dill._dill._get_attr(dill._dill._import_module(module), name)``, with
  ``numpy.core._multiarray_umath`` as the module (checked once with dill 0.3.4, the version StyleGAN-XL's
  environment pins, outside this repository); the unpickler resolves exactly that pair through the allow-list.

Forward (official reference path, float32): ws (N, num_ws, w_dim); ``x = input(ws[0])``; layer i uses
``ws[i + 1]``; the image is the last (ToRGB) layer's output times ``output_scale`` (0.25), about in [-1, 1].
``num_ws = len(layer_names) + 1``. Block features here: the output of every layer but the ToRGB, coarse to fine
(their sizes include StyleGAN3's margin, e.g. 36 px for a 16-Hz layer with margin 10).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from benchmark.generators.official_pickle import LegacyTFPickleError, RestrictedUnpickler, UnsafePickleError
from benchmark.generators.official_pickle_records import ModuleRecord, PersistedObject, state_dict_of
from benchmark.generators.styleganxl_layers import (FullyConnectedLayer, MappingNetwork, SynthesisInput, SynthesisLayer,
                                                   design_layers, design_superres)

GENERATOR_CLASSES = ("Generator", "SuperresGenerator")


# ------------------------------------------------------------------------------------------- networks

class SynthesisNetwork(nn.Module):
    """``input`` then the layers of ``layer_specs`` (dicts of SynthesisLayer arguments plus ``name``)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, input_spec: dict, layer_specs: list[dict],
                 output_scale: float = 0.25):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.output_scale = output_scale
        self.input = SynthesisInput(w_dim=w_dim, **input_spec)
        self.layer_names = []
        for spec in layer_specs:
            spec = dict(spec)
            name = spec.pop("name")
            setattr(self, name, SynthesisLayer(w_dim=w_dim, **spec))
            self.layer_names.append(name)
        self.num_ws = len(self.layer_names) + 1
        last = getattr(self, self.layer_names[-1])
        if not last.is_torgb or last.out_channels != img_channels:
            raise ValueError(f"the last synthesis layer must be a ToRGB layer with {img_channels} channels")

    @property
    def feature_names(self) -> list[str]:
        return self.layer_names[:-1]

    @property
    def feature_shapes(self) -> list[tuple[int, int, int]]:
        shapes = []
        for name in self.feature_names:
            layer = getattr(self, name)
            shapes.append((layer.out_channels, int(layer.out_size[1]), int(layer.out_size[0])))
        return shapes

    def forward(self, ws: torch.Tensor, return_features: bool = False):
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        features = []
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w)
            features.append(x)
        features.pop()  # the ToRGB output is the image
        if self.output_scale != 1:
            x = x * self.output_scale
        x = x.to(torch.float32)
        return (x, features) if return_features else x


class Generator(nn.Module):
    """StyleGAN-XL generator: ``mapping`` (z, c -> ws) then ``synthesis`` (ws -> image)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 synthesis: SynthesisNetwork, mapping_kwargs: Optional[dict] = None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = synthesis
        self.num_ws = synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor], truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff))


# ------------------------------------------------------------------------------- safe pickle loading

class InertGlobal:
    """Stands in for a global the allow-list refuses (``global_name``): building, calling, BUILD, SETITEMS,
    APPENDS on it only record their arguments. Nothing is imported, called or executed."""

    global_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any):
        obj = object.__new__(cls)
        obj.__dict__.update(args=args, kwargs=kwargs, state=None, items=[])
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> "InertGlobal":
        return type(self)(*args, **kwargs)

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__["items"].append((key, value))

    def append(self, value: Any) -> None:
        self.__dict__["items"].append(value)

    def extend(self, values: Any) -> None:
        self.__dict__["items"].extend(values)

    add = append
    update = extend

    def __repr__(self) -> str:
        return f"<inert {self.global_name}>"


_INERT: dict[str, type] = {}


def inert_global(module: str, name: str) -> type:
    path = f"{module}.{name}"
    if path not in _INERT:
        _INERT[path] = type(name, (InertGlobal,), {"global_name": path, "__qualname__": f"InertGlobal[{path}]"})
    return _INERT[path]


class DillModuleName(InertGlobal):
    """What ``dill._dill._import_module(name)`` stands for: a module *name*, never imported."""

    global_name = "dill._dill._import_module"

    def __new__(cls, import_name: Any = "", safe: bool = False):
        obj = super().__new__(cls, import_name)
        obj.__dict__["name"] = str(import_name)
        return obj


class StyleGANXLUnpickler(RestrictedUnpickler):
    """official_pickle's restricted unpickler, plus two things StyleGAN-XL's dill-written snapshots need:

    * dill pickles a module-level function such as numpy's ``scalar`` (the rebuilder of every numpy float
      attribute, e.g. ``weight_gain``) as ``dill._dill._get_attr(dill._dill._import_module(module), name)``;
      that pair is resolved here as ``find_class(module, name)``, i.e. through the same allow-list (numpy's
      ``_multiarray_umath`` read as its public ``multiarray``), without importing anything;
    * any other global the allow-list refuses becomes an ``InertGlobal`` record (the projected discriminator's
      timm / pg_modules / dill globals); ``load_styleganxl_pickle`` refuses the file if one is in G_ema.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("dill._dill", "_import_module"):
            return DillModuleName
        if (module, name) == ("dill._dill", "_get_attr"):
            return self._dill_get_attr
        if module in ("numpy.core._multiarray_umath", "numpy._core._multiarray_umath"):
            module = module.replace("_multiarray_umath", "multiarray")  # the same functions, re-exported
        try:
            return super().find_class(module, name)
        except LegacyTFPickleError:
            raise
        except UnsafePickleError:
            return inert_global(module, name)

    def _dill_get_attr(self, obj: Any, name: Any) -> Any:
        if isinstance(obj, DillModuleName) and isinstance(name, str):
            return self.find_class(obj.name, name)
        return inert_global("dill._dill", "_get_attr")(obj, name)


def find_inert(obj: Any, path: str = "", seen: Optional[set] = None) -> Optional[tuple[str, str]]:
    """(where, global) of the first ``InertGlobal`` reachable from ``obj`` through records and containers."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, InertGlobal) or (isinstance(obj, type) and issubclass(obj, InertGlobal)):
        return path or "<root>", obj.global_name
    children: Any = ()
    if isinstance(obj, ModuleRecord):
        children = obj.state.items()
    elif isinstance(obj, dict):
        children = obj.items()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = enumerate(obj)
    for key, value in children:
        found = find_inert(value, f"{path}.{key}" if path else str(key), seen)
        if found:
            return found
    return None


def load_styleganxl_pickle(path: str | Path) -> dict:
    """Read a StyleGAN-XL snapshot safely; ``G_ema`` is a PersistedObject of pure data (checked)."""
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(4).startswith(b"PK\x03\x04"):
            raise pickle.UnpicklingError(f"{path}: a zip archive (torch.save checkpoint), not a StyleGAN-XL pickle")
        f.seek(0)
        data = StyleGANXLUnpickler(f, source=str(path)).load()
    if not isinstance(data, dict):
        raise pickle.UnpicklingError(f"{path}: expected a dict of networks at the top level, got {type(data).__name__}")
    g = data.get("G_ema")
    if not isinstance(g, PersistedObject):
        raise pickle.UnpicklingError(f"{path}: 'G_ema' is {type(g).__name__}, expected a torch_utils.persistence "
                                     f"object (keys: {sorted(map(str, data))})")
    found = find_inert(g)
    if found:
        raise UnsafePickleError(f"{path}: refusing to load global {found[1]} (in G_ema.{found[0]}): it is not on the "
                                "allow-list of benchmark.generators.official_pickle (the generator may hold only "
                                "persistence records, tensors, numpy arrays and plain containers)")
    return data


# ----------------------------------------------------------------------------- records -> networks

def _attr(rec: ModuleRecord, key: str, where: str):
    if key not in rec.state:
        raise KeyError(f"{where}: the pickled state has no attribute {key!r}")
    return rec.state[key]


def _child(rec: ModuleRecord, key: str, where: str, kind: Optional[str] = None) -> ModuleRecord:
    child = rec.modules.get(key)
    if not isinstance(child, ModuleRecord) or (kind is not None and child.class_name != kind):
        got = getattr(child, "class_name", type(child).__name__)
        raise KeyError(f"{where}.{key}: expected a {kind or 'module'} record, got {got}")
    return child


def _buffer_shape(rec: ModuleRecord, key: str) -> Optional[torch.Tensor]:
    value = rec.buffers.get(key)
    return None if value is None else torch.zeros(tuple(value.shape))


def _layer_spec_from_record(name: str, rec: ModuleRecord) -> dict:
    where = f"G_ema.synthesis.{name}"
    spec = dict(name=name, up_filter=_buffer_shape(rec, "up_filter"), down_filter=_buffer_shape(rec, "down_filter"))
    for key in ("is_torgb", "in_channels", "out_channels", "in_size", "out_size", "conv_kernel", "up_factor",
                "down_factor", "padding", "conv_clamp"):
        spec[key] = _attr(rec, key, where)
    spec["padding"] = [int(p) for p in spec["padding"]]
    if len(spec["padding"]) != 4:
        raise ValueError(f"{where}: padding {spec['padding']} is not [x0, x1, y0, y1]")
    spec["conv_clamp"] = None if spec["conv_clamp"] is None else float(spec["conv_clamp"])
    for key in ("use_fp16", "is_critically_sampled", "in_sampling_rate", "out_sampling_rate", "in_cutoff",
                "out_cutoff", "in_half_width", "out_half_width"):
        if key in rec.state:  # descriptive only
            spec[key] = rec.state[key]
    return spec


def generator_from_record(g: PersistedObject) -> Generator:
    """A clean-room ``Generator`` with the architecture and the weights of a pickled official ``G_ema``."""
    if not isinstance(g, PersistedObject) or g.class_name not in GENERATOR_CLASSES:
        raise TypeError(f"G_ema is {getattr(g, 'class_name', type(g).__name__)}, expected one of {GENERATOR_CLASSES} "
                        "of StyleGAN-XL's training/networks_stylegan3_resetting.py")
    syn = _child(g, "synthesis", "G_ema", "SynthesisNetwork")
    mapping = _child(g, "mapping", "G_ema", "MappingNetwork")
    inp = _child(syn, "input", "G_ema.synthesis", "SynthesisInput")
    names = [str(n) for n in _attr(syn, "layer_names", "G_ema.synthesis")]
    layers = [_layer_spec_from_record(n, _child(syn, n, "G_ema.synthesis", "SynthesisLayer")) for n in names]
    size = np.broadcast_to(np.asarray(_attr(inp, "size", "G_ema.synthesis.input")), [2])
    input_spec = dict(channels=int(_attr(inp, "channels", "G_ema.synthesis.input")), size=[int(s) for s in size],
                      sampling_rate=float(_attr(inp, "sampling_rate", "G_ema.synthesis.input")),
                      bandwidth=float(_attr(inp, "bandwidth", "G_ema.synthesis.input")))
    w_dim, res, channels = (int(_attr(g, k, "G_ema")) for k in ("w_dim", "img_resolution", "img_channels"))
    synthesis = SynthesisNetwork(w_dim, res, channels, input_spec, layers,
                                 output_scale=float(syn.state.get("output_scale", 0.25)))
    embed = _child(mapping, "embed", "G_ema.mapping")
    if embed.class_name != "Embedding" or embed.state.get("max_norm") is not None:
        raise ValueError("G_ema.mapping.embed must be a torch.nn.Embedding without max_norm")
    table = embed.parameters["weight"]
    mapping_kwargs = dict(num_layers=int(_attr(mapping, "num_layers", "G_ema.mapping")),
                          w_avg_beta=float(mapping.state.get("w_avg_beta", 0.998)),
                          num_embeddings=int(table.shape[0]), embedding_dim=int(table.shape[1]))
    z_dim, c_dim = int(_attr(g, "z_dim", "G_ema")), int(_attr(g, "c_dim", "G_ema"))
    net = Generator(z_dim, c_dim, w_dim, res, channels, synthesis, mapping_kwargs)
    if int(mapping.state.get("num_ws", net.num_ws)) != net.num_ws:
        raise ValueError(f"G_ema.mapping.num_ws={mapping.state['num_ws']} but the synthesis has {net.num_ws} ws")
    # the gains the pickled layers compute with (lr multipliers are not stored otherwise)
    for name, module in net.named_modules():
        if isinstance(module, FullyConnectedLayer):
            rec = _record_at(g, name)
            for key in ("weight_gain", "bias_gain", "activation"):
                if key in rec.state:
                    value = rec.state[key]
                    setattr(module, key, value if isinstance(value, str) else float(value))
    net.load_state_dict(state_dict_of(g), strict=True)
    return net.eval().requires_grad_(False)


def _record_at(rec: ModuleRecord, dotted: str) -> ModuleRecord:
    for part in filter(None, dotted.split(".")):
        rec = rec.modules[part]
    return rec


def build_generator(z_dim: int = 64, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 32, img_channels: int = 3,
                    mapping_kwargs: Optional[dict] = None, superres: Optional[dict] = None,
                    **synthesis_kwargs) -> Generator:
    """A freshly initialised generator with the official layer specs: single-stage, or with ``superres =
    dict(up_factor=..., head_layers=...)`` a stem at ``img_resolution / up_factor`` plus a superresolution head
    (the layout of a pickled ``SuperresGenerator``)."""
    up = int(superres["up_factor"]) if superres else 1
    output_scale = synthesis_kwargs.pop("output_scale", 0.25)
    input_spec, layers = design_layers(img_resolution // up, img_channels, **synthesis_kwargs)
    if superres:
        keep = {k: synthesis_kwargs[k] for k in ("channel_base", "channel_max", "last_stopband_rel", "margin_size",
                                                 "num_critical") if k in synthesis_kwargs}
        layers = design_superres(layers, img_resolution, img_channels, int(superres["head_layers"]), **keep)
    synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, input_spec, layers, output_scale=output_scale)
    return Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, synthesis, mapping_kwargs)
