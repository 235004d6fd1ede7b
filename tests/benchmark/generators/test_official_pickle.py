"""Safe loading of official StyleGAN2-ADA network pickles (benchmark/generators/official_pickle.py,
official_pickle_records.py).

The pickles are produced here, without NVIDIA code: small test networks get a ``__reduce__`` that
emits exactly what ``torch_utils.persistence`` emits (a call of
``torch_utils.persistence._reconstruct_persistent_obj`` with ``meta = dict(type='class',
version=6, module_src=..., class_name=..., state=<__dict__>)``), through fake ``torch_utils`` /
``dnnlib`` modules that exist in ``sys.modules`` only while pickling (tests/helpers/pickles.py).
"""
from __future__ import annotations

import collections
import copy
import io
import math
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from benchmark.generators.official_pickle import (
    LegacyTFPickleError,
    RestrictedUnpickler,
    UnsafePickleError,
    load_network_pickle,
    loads_network_pickle,
    referenced_globals,
)
from benchmark.generators.official_pickle_records import (
    EasyDict,
    PersistedObject,
    TorchModuleRecord,
    init_kwargs_of,
    iter_records,
    reconstruct,
    state_dict_of,
)
from tests.helpers.pickles import FAKE_MODULES, MODULE_SRC, FakeEasyDict, fake_nvidia_modules

PROTOCOLS = list(range(0, pickle.HIGHEST_PROTOCOL + 1))


def persistent(orig_class, module_src=MODULE_SRC):
    """What ``@persistence.persistent_class`` does to pickling, re-stated for the test."""

    class Decorator(orig_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_args = copy.deepcopy(args)
            self._init_kwargs = copy.deepcopy(kwargs)

        def __reduce__(self):
            fields = list(super().__reduce__())
            fields += [None] * max(3 - len(fields), 0)
            meta = dict(type="class", version=6, module_src=module_src, class_name=orig_class.__name__, state=fields[2])
            return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,), None)

    Decorator.__name__ = orig_class.__name__
    return Decorator


# --------------------------------------------------------------------------- tiny official-like networks


@persistent
class FullyConnectedLayer(torch.nn.Module):
    def __init__(self, in_features, out_features, bias=True, lr_multiplier=1.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]))
        self.bias = torch.nn.Parameter(torch.zeros([out_features])) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)


@persistent
class MappingNetwork(torch.nn.Module):
    def __init__(self, z_dim, w_dim, num_ws, num_layers=2):
        super().__init__()
        self.num_ws = num_ws
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(z_dim if idx == 0 else w_dim, w_dim))
        self.register_buffer("w_avg", torch.zeros([w_dim]))


@persistent
class SynthesisLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution):
        super().__init__()
        self.affine = FullyConnectedLayer(w_dim, in_channels)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.register_buffer("resample_filter", torch.ones([4, 4]) / 16)
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.register_buffer("scratch", torch.zeros([2]), persistent=False)  # not in state_dict
        self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.gain = np.float32(1.0)  # a numpy scalar attribute
        self.taps = np.arange(4, dtype=np.int64)  # a numpy array attribute


@persistent
class SynthesisBlock(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels):
        super().__init__()
        self.resolution = resolution
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        self.conv1 = SynthesisLayer(out_channels if in_channels == 0 else in_channels, out_channels, w_dim, resolution)
        self.torgb = FullyConnectedLayer(out_channels, img_channels)
        # plain (non-persistent) torch modules nested inside a persistent one
        self.extras = torch.nn.ModuleList([torch.nn.Identity(), torch.nn.Linear(2, 3)])


@persistent
class SynthesisNetwork(torch.nn.Module):
    def __init__(self, w_dim, img_resolution, img_channels, channels=4):
        super().__init__()
        self.block_resolutions = [4, 8]
        for res in self.block_resolutions:
            block = SynthesisBlock(0 if res == 4 else channels, channels, w_dim, res, img_channels)
            setattr(self, f"b{res}", block)
        self.num_ws = 2 * len(self.block_resolutions)


@persistent
class Generator(torch.nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs={}, synthesis_kwargs={}):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.mapping = MappingNetwork(z_dim=z_dim, w_dim=w_dim, num_ws=self.synthesis.num_ws, **mapping_kwargs)


@persistent
class Discriminator(torch.nn.Module):
    def __init__(self, c_dim, img_resolution, img_channels):
        super().__init__()
        self.fromrgb = FullyConnectedLayer(img_channels, 4)
        self.out = FullyConnectedLayer(4, 1)


@persistent
class AugmentPipe(torch.nn.Module):
    def __init__(self, xflip=0, rotate90=0):
        super().__init__()
        self.register_buffer("p", torch.ones([]))
        self.xflip, self.rotate90 = float(xflip), float(rotate90)


G_KWARGS = dict(z_dim=6, c_dim=0, w_dim=5, img_resolution=8, img_channels=3)


def _randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            t.copy_(torch.randn(t.shape, generator=gen).to(t.dtype))
    return module


def build_snapshot():
    """A snapshot dict laid out like training_loop.py's, with random weights (inside fake_nvidia_modules)."""
    kwargs = dict(G_KWARGS, mapping_kwargs=FakeEasyDict(num_layers=2), synthesis_kwargs=FakeEasyDict(channels=4))
    G = _randomize(Generator(**kwargs), 1).eval().requires_grad_(False)
    G_ema = _randomize(Generator(**kwargs), 2).eval().requires_grad_(False)
    D = _randomize(Discriminator(c_dim=0, img_resolution=8, img_channels=3), 3).eval().requires_grad_(False)
    aug = AugmentPipe(xflip=1, rotate90=1).eval().requires_grad_(False)
    tsk = dict(class_name="training.dataset.ImageFolderDataset", path="data.zip", use_labels=False,
               max_size=10, xflip=False, resolution=8)
    return dict(training_set_kwargs=tsk, G=G, D=D, G_ema=G_ema, augment_pipe=aug), kwargs


def write_snapshot(path, protocol):
    with fake_nvidia_modules():
        snapshot, kwargs = build_snapshot()
        path.write_bytes(pickle.dumps(snapshot, protocol=protocol))
    assert not any(name in sys.modules for name in FAKE_MODULES)
    return snapshot, kwargs


def _assert_nvidia_never_imported():
    assert "torch_utils" not in sys.modules and "torch_utils.persistence" not in sys.modules
    assert "dnnlib" not in sys.modules
    assert not [m for m in sys.modules if m.startswith("_imported_module_")]


# --------------------------------------------------------------------------- 1. round trip


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_snapshot_round_trip(tmp_path, protocol):
    path = tmp_path / "network-snapshot-000000.pkl"
    snapshot, kwargs = write_snapshot(path, protocol)
    data = load_network_pickle(path)
    _assert_nvidia_never_imported()

    assert set(data) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}
    assert data["training_set_kwargs"] == snapshot["training_set_kwargs"]
    for key in ("G", "D", "G_ema", "augment_pipe"):
        rec, net = data[key], snapshot[key]
        assert isinstance(rec, PersistedObject)
        assert rec.class_name == type(net).__name__ and rec.version == 6 and rec.type == "class"
        assert rec.module_src == MODULE_SRC and len(rec.module_src_sha256) == 64
        assert rec.training is False
        expected, got = net.state_dict(), state_dict_of(rec)
        assert list(got) == list(expected)  # same names, same order as nn.Module.state_dict()
        for name, tensor in expected.items():
            assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor), name

    names = list(state_dict_of(data["G"]))
    for name in ("mapping.fc0.weight", "mapping.fc1.bias", "mapping.w_avg", "synthesis.b4.const",
                 "synthesis.b4.conv1.affine.weight", "synthesis.b8.conv1.noise_const", "synthesis.b4.extras.1.weight"):
        assert name in names
    assert not any(n.endswith("scratch") for n in names)  # non-persistent buffer left out like torch does

    init = init_kwargs_of(data["G"])
    assert init == kwargs and isinstance(init, EasyDict) and init.mapping_kwargs.num_layers == 2
    assert init_kwargs_of(data["G"].modules["mapping"]) == dict(z_dim=6, w_dim=5, num_ws=4, num_layers=2)
    assert init_kwargs_of(data["augment_pipe"]) == dict(xflip=1, rotate90=1)
    assert data["augment_pipe"].state["xflip"] == 1.0

    layer = data["G"].modules["synthesis"].modules["b8"].modules["conv1"]
    assert layer.state["gain"] == np.float32(1.0) and np.array_equal(layer.state["taps"], np.arange(4))
    extras = data["G"].modules["synthesis"].modules["b4"].modules["extras"]
    assert isinstance(extras, TorchModuleRecord) and extras.class_path == "torch.nn.modules.container.ModuleList"
    assert isinstance(extras.modules["0"], TorchModuleRecord) and extras.modules["0"].class_name == "Identity"
    assert not isinstance(extras, torch.nn.Module)
    assert dict(iter_records(data["G"]))["synthesis.b4.extras.1"].class_name == "Linear"


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_reconstruct_with_builder(tmp_path, protocol):
    path = tmp_path / "snap.pkl"
    snapshot, _ = write_snapshot(path, protocol)
    data = load_network_pickle(path)

    built = []

    def build_generator(**kw):  # builds with the test's own classes from the recovered init_kwargs
        built.append(kw)
        return Generator(**kw)

    G_ema = reconstruct(data["G_ema"], {"Generator": build_generator})
    assert isinstance(G_ema, torch.nn.Module) and not G_ema.training
    assert built[0]["synthesis_kwargs"] == {"channels": 4}
    for name, tensor in snapshot["G_ema"].state_dict().items():
        assert torch.equal(G_ema.state_dict()[name], tensor), name

    with pytest.raises(KeyError, match="no builder for persisted class 'Generator'"):
        reconstruct(data["G"], {"Discriminator": Discriminator})

    def wrong_builder(**kw):
        net = Generator(**kw)
        net.extra = torch.nn.Parameter(torch.zeros(1))
        return net

    with pytest.raises(RuntimeError, match="extra"):  # strict=True
        reconstruct(data["G"], {"Generator": wrong_builder})


# --------------------------------------------------------------------------- 2. payloads


class Payload:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _payloads(marker):
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        f"{os.system.__module__}.system": Payload(os.system, f"touch {marker}"),
        "builtins.exec": Payload(exec, touch),
        "builtins.eval": Payload(eval, f"exec({touch!r})"),
        "subprocess.Popen": Payload(subprocess.Popen, ["touch", str(marker)]),
        f"{torch.load.__module__}.load": Payload(torch.load, str(marker)),
    }


@pytest.mark.parametrize("protocol", [0, 2, 4, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("where", ["top", "in_state"])
def test_code_execution_globals_are_refused(tmp_path, protocol, where):
    marker = tmp_path / "pwned"
    for global_name, payload in _payloads(marker).items():
        if where == "top":
            obj = dict(G=payload)
        else:  # hidden as a plain attribute inside a persisted network's state
            with fake_nvidia_modules():
                snapshot, _ = build_snapshot()
                snapshot["G"].synthesis.b4.conv1.hidden = payload
                obj = snapshot
        path = tmp_path / f"evil_{protocol}.pkl"
        if where == "top":
            path.write_bytes(pickle.dumps(obj, protocol=protocol))
        else:
            with fake_nvidia_modules():
                path.write_bytes(pickle.dumps(obj, protocol=protocol))
        with pytest.raises(UnsafePickleError) as info:
            load_network_pickle(path)
        assert global_name in str(info.value) and str(path) in str(info.value)
        assert not marker.exists()
    _assert_nvidia_never_imported()


def test_payload_is_live_under_plain_pickle(tmp_path):
    """Control: the exec payload above really runs under an unrestricted pickle.loads."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_payloads(marker)["builtins.exec"]))
    assert marker.exists()


@pytest.mark.parametrize("raw", [
    b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'__subclasses__'\ntR.",
    b"cbuiltins\n__import__\n(S'os'\ntR.",
    b"c__builtin__\neval\n(S'1'\ntR.",  # protocol-2 spelling of builtins.eval
    b"ctorch_utils.persistence\n_src_to_module\n(S'x'\ntR.",
    b"cnumpy\nload\n(S'x'\ntR.",
    b"ccopyreg\n_reconstructor\n(cposix\nsystem\ncbuiltins\nobject\nNtR.",
])
def test_handwritten_globals_are_refused(raw):
    with pytest.raises(UnsafePickleError, match="refusing"):
        loads_network_pickle(raw, source="raw.pkl")


def test_module_src_is_never_executed(tmp_path):
    """A persisted object whose module_src would write a marker loads; the source never runs."""
    marker = tmp_path / "src_ran"
    evil_src = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nclass Generator: pass\n"
    evil_cls = persistent(Generator.__mro__[1], module_src=evil_src)  # the undecorated Generator
    path = tmp_path / "evil_src.pkl"
    with fake_nvidia_modules():
        G = evil_cls(**G_KWARGS)
        path.write_bytes(pickle.dumps(dict(G=G, G_ema=G, D=None, augment_pipe=None)))
    data = load_network_pickle(path)
    assert not marker.exists()
    _assert_nvidia_never_imported()
    assert data["G"].module_src == evil_src  # kept as inert text for inspection
    assert data["G_ema"] is data["G"]
    assert data["G"].modules["mapping"].module_src == MODULE_SRC


def test_storage_bytes_are_loaded_weights_only(tmp_path):
    """torch.storage._load_from_bytes carrying a pickled os.system call is refused, not executed."""
    marker = tmp_path / "storage_pwned"
    buf = io.BytesIO()
    torch.save(Payload(os.system, f"touch {marker}"), buf, _use_new_zipfile_serialization=False)
    path = tmp_path / "evil_storage.pkl"
    path.write_bytes(pickle.dumps(dict(G=Payload(torch.storage._load_from_bytes, buf.getvalue()))))
    with pytest.raises(UnsafePickleError, match="_load_from_bytes") as info:
        load_network_pickle(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_tensor_backward_hooks_are_refused():
    hooked = Payload(torch._utils._rebuild_parameter, torch.zeros(2), False, collections.OrderedDict([(0, set)]))
    with pytest.raises(UnsafePickleError, match="backward hooks"):
        loads_network_pickle(pickle.dumps(hooked))


def test_legacy_tensorflow_pickle_is_refused_with_hint():
    with pytest.raises(LegacyTFPickleError, match="legacy.py") as info:
        loads_network_pickle(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81}b.", source="stylegan2-ffhq-config-f.pkl")
    assert "dnnlib.tflib.network.Network" in str(info.value) and "stylegan2-ffhq-config-f.pkl" in str(info.value)


def test_non_snapshot_files_are_rejected(tmp_path):
    zpath = tmp_path / "ckpt.pt"
    torch.save({"w": torch.zeros(1)}, zpath)
    assert zipfile.is_zipfile(zpath)
    with pytest.raises(pickle.UnpicklingError, match="torch.save"):
        load_network_pickle(zpath)
    lpath = tmp_path / "list.pkl"
    lpath.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(pickle.UnpicklingError, match="expected a dict"):
        load_network_pickle(lpath)


# --------------------------------------------------------------------------- 3. tensors in plain pickles


class _RecordingUnpickler(pickle.Unpickler):
    """Unrestricted, used only on pickles this test made, to cross-check referenced_globals()."""

    def find_class(self, module, name):
        self.seen.add((module, name))
        return super().find_class(module, name)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_pickled_tensors_use_load_from_bytes(protocol):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    obj = dict(
        param=torch.nn.Parameter(torch.randn(3, 2), requires_grad=False),
        view=base[1:, 2:],  # storage offset + non-contiguous strides
        same_storage=base,
        half=torch.randn(5).half(),
        long=torch.arange(7),
        mask=torch.tensor([True, False]),
        array=np.linspace(0, 1, 5, dtype=np.float32),
        scalar=np.float64(2.5),
        misc=(set([1, 2]), frozenset([3]), slice(1, 2), b"\x00\xff", bytearray(b"ab"), 1 + 2j, torch.float16),
    )
    data = pickle.dumps(obj, protocol=protocol)
    globals_ = referenced_globals(data)
    assert ("torch.storage", "_load_from_bytes") in globals_  # how NVIDIA snapshots carry tensor data
    assert ("torch._utils", "_rebuild_tensor_v2") in globals_ and ("torch._utils", "_rebuild_parameter") in globals_
    recorder = _RecordingUnpickler(io.BytesIO(data))
    recorder.seen = set()
    recorder.load()
    assert globals_ == recorder.seen
    unpickler = RestrictedUnpickler(io.BytesIO(b""))
    for module, name in globals_:
        unpickler.find_class(module, name)  # every one is allow-listed (raises otherwise)

    out = loads_network_pickle(data)
    for key in ("param", "view", "same_storage", "half", "long", "mask"):
        assert out[key].dtype == obj[key].dtype and torch.equal(out[key], obj[key]), key
        assert out[key].stride() == obj[key].stride()
    assert isinstance(out["param"], torch.nn.Parameter) and not out["param"].requires_grad
    assert out["view"].storage_offset() == obj["view"].storage_offset() == 8
    assert np.array_equal(out["array"], obj["array"]) and out["array"].dtype == np.float32
    assert out["scalar"] == 2.5 and out["misc"] == obj["misc"]


def test_referenced_globals_of_a_snapshot(tmp_path):
    path = tmp_path / "snap.pkl"
    write_snapshot(path, 4)
    globals_ = referenced_globals(path.read_bytes())
    assert ("torch_utils.persistence", "_reconstruct_persistent_obj") in globals_
    assert ("dnnlib.util", "EasyDict") in globals_
    assert ("torch.nn.modules.container", "ModuleList") in globals_
    assert not [g for g in globals_ if "?" in g]
