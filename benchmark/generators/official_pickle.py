"""Read official StyleGAN2-ADA network pickles without running the code they carry.

Format facts (learned by reading NVIDIA's stylegan2-ada-pytorch; no code copied from it):

* ``training/training_loop.py`` writes ``network-snapshot-<kimg>.pkl`` with a plain
  ``pickle.dump(snapshot_data, f)`` (default protocol of the interpreter that trained).
  ``snapshot_data`` is a ``dict``: ``training_set_kwargs`` (a plain ``dict`` copy of an
  EasyDict), then ``G``, ``D``, ``G_ema`` and ``augment_pipe`` (``None`` when augmentation
  is off); each network is ``copy.deepcopy(module).eval().requires_grad_(False).cpu()``.
* ``torch_utils/persistence.py``: every network class is wrapped by
  ``@persistence.persistent_class``.  Its ``__reduce__`` replaces the usual
  reconstructor with ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where
  ``meta = dict(type='class', version=6, module_src=<full source text of the defining
  module>, class_name=<class name>, state=<the object's __dict__>)`` (``_version = 6``).
  The state is ``nn.Module.__dict__``: ``_parameters``, ``_buffers``, ``_modules``,
  ``_non_persistent_buffers_set``, ``training``, the hook dicts, the module's own plain
  attributes, plus ``_init_args`` (tuple) and ``_init_kwargs`` (dict) that the decorator
  stores in ``__init__`` (the public ``init_args``/``init_kwargs`` are properties over
  these).  Sub-networks are themselves persistent, so they nest as further
  ``_reconstruct_persistent_obj`` calls inside ``state['_modules']``.
  On load, NVIDIA's ``_reconstruct_persistent_obj`` calls ``_src_to_module``, which
  ``exec``\\ s ``module_src`` in a fresh module: loading such a pickle with ``pickle.load``
  runs arbitrary code.  (Additionally ``_import_hooks`` may rewrite the meta.)
* ``dnnlib/util.py``: ``EasyDict`` is a ``dict`` subclass with attribute access; it is
  pickled as ``dnnlib.util.EasyDict`` (e.g. ``init_kwargs['mapping_kwargs']``).
* ``legacy.py``: ``load_network_pkl`` also accepts the older TensorFlow pickles (a tuple
  of ``dnnlib.tflib.network.Network`` objects) and converts them.  That path is not
  supported here: the global is refused with a hint (``LegacyTFPickleError``).
* Tensors inside a plain pickle (PyTorch's own ``__reduce_ex__``, checked on the
  installed torch with protocols 0-5, see ``tests/benchmark/generators/test_official_pickle.py``):
  ``torch._utils._rebuild_parameter(data, requires_grad, OrderedDict())`` for
  ``nn.Parameter``, ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
  requires_grad, OrderedDict()[, metadata])`` for tensors, and the storage as
  ``torch.storage._load_from_bytes(b)`` where ``b`` is a legacy (non-zip) ``torch.save``
  of the storage.  Torch's own ``_load_from_bytes`` calls ``torch.load(...,
  weights_only=False)``; here ``b`` goes through ``torch.load(..., weights_only=True)``.
  Protocols < 3 add ``_codecs.encode`` (bytes), ``__builtin__.set``/``copy_reg`` names;
  numpy values use ``numpy._core.multiarray._reconstruct``/``scalar``, ``numpy.ndarray``,
  ``numpy.dtype``, ``numpy._core.numeric._frombuffer`` (``numpy.core...`` under numpy 1).
* Checked once, outside this repository, on pickles that NVIDIA's own ``training/networks.py``
  / ``training/augment.py`` + ``persistence.py`` wrote (protocols 2-5, current torch): the
  globals referenced are exactly ``torch_utils.persistence._reconstruct_persistent_obj``,
  ``dnnlib.util.EasyDict``, ``collections.OrderedDict``, ``torch._utils._rebuild_parameter``,
  ``torch._utils._rebuild_tensor_v2``, ``torch.storage._load_from_bytes``, ``numpy.dtype``,
  ``numpy._core.multiarray.scalar`` (float64 attributes such as ``weight_gain``/``act_gain``
  computed with numpy), plus ``builtins.set`` (``_non_persistent_buffers_set``) and
  ``_codecs.encode`` under protocols < 4/3; ``state_dict_of``/``init_kwargs_of`` matched the
  real modules' ``state_dict()``/``init_kwargs``.  Released pickles from 2020-21 (older torch
  and numpy 1) were not available offline.

Safety design: ``RestrictedUnpickler.find_class`` resolves only the allow-list below and
raises ``UnsafePickleError`` (naming ``module.name`` and the file) for everything else.
Every allowed global is either a pure data constructor (``OrderedDict``, ``set``,
``slice``, numpy array/dtype rebuilders), a torch tensor rebuilder wrapped to refuse
backward hooks / parameter state, or a function of this module that only records data:

* ``torch_utils.persistence._reconstruct_persistent_obj`` -> a ``PersistedObject``
  record.  ``module_src`` is kept as text (and its SHA-256) and never imported,
  compiled or executed; nothing named ``torch_utils``/``dnnlib`` is ever imported.
* a plain torch module pickled normally inside a persisted one (e.g. a
  ``torch.nn.ModuleList``) is referenced by its class ``torch.nn.modules.<mod>.<Class>``.
  Instead of the real class, ``find_class`` hands back a stand-in subclass of
  ``TorchModuleRecord`` that merely stores the ``__dict__`` state it is given, so no
  ``__new__``/``__setstate__`` of torch runs on untrusted state.  (Allow-listing the real
  container classes would also be fairly safe, since ``nn.Module.__setstate__`` only
  updates ``__dict__``, but the stand-in needs no such argument and also covers
  classes from older torch versions.)
* ``copyreg._reconstructor`` (protocols 0/1) is replaced by a checked version that only
  builds the record/EasyDict classes of official_pickle_records.py.

The records (``PersistedObject``, ``TorchModuleRecord``) and their conversion into real modules
(``state_dict_of``, ``reconstruct``) are in official_pickle_records.py.
"""
from __future__ import annotations

import _compat_pickle
import collections
import importlib
import io
import pickle
import pickletools
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from benchmark.generators.official_pickle_records import EasyDict, ModuleRecord, PersistedObject, torch_module_standin

__all__ = ["UnsafePickleError", "LegacyTFPickleError", "RestrictedUnpickler", "load_network_pickle",
           "loads_network_pickle", "referenced_globals", "NETWORK_KEYS", "PERSISTENCE_VERSION"]

NETWORK_KEYS = ("G", "D", "G_ema", "augment_pipe")
PERSISTENCE_VERSION = 6  # torch_utils/persistence.py: _version
_PERSISTENCE_GLOBAL = ("torch_utils.persistence", "_reconstruct_persistent_obj")
_TF_NETWORK_GLOBAL = ("dnnlib.tflib.network", "Network")


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global that is not on the allow-list (or carried forbidden data)."""


class LegacyTFPickleError(UnsafePickleError):
    """An old TensorFlow-era StyleGAN pickle (``dnnlib.tflib.network.Network`` objects)."""


# --------------------------------------------------------------------------- allowed callables


def _record_persistent_obj(meta: Any) -> PersistedObject:
    """Replacement for ``torch_utils.persistence._reconstruct_persistent_obj``: records, never execs."""
    return PersistedObject(meta)


def _require_no_hooks(hooks: Any, what: str) -> None:
    if hooks is None:
        return
    if not isinstance(hooks, dict) or len(hooks) != 0:
        raise UnsafePickleError(f"{what}: refusing non-empty backward hooks in a pickled tensor")


def _is_storage(obj: Any) -> bool:
    return isinstance(obj, (torch.storage.TypedStorage, torch.UntypedStorage))


def _safe_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    _require_no_hooks(backward_hooks, "torch._utils._rebuild_tensor_v2")
    if not _is_storage(storage):
        raise UnsafePickleError(f"torch._utils._rebuild_tensor_v2: expected a storage, got {type(storage).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise UnsafePickleError("torch._utils._rebuild_tensor_v2: metadata must be a dict")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
        args = (storage, int(storage_offset), tuple(size), tuple(stride), bool(requires_grad), collections.OrderedDict())
        if metadata:
            return torch._utils._rebuild_tensor_v2(*args, metadata)
        return torch._utils._rebuild_tensor_v2(*args)


def _safe_rebuild_parameter(data, requires_grad, backward_hooks):
    _require_no_hooks(backward_hooks, "torch._utils._rebuild_parameter")
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f"torch._utils._rebuild_parameter: expected a tensor, got {type(data).__name__}")
    return torch.nn.Parameter(data, bool(requires_grad))


def _safe_rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    if state:
        raise UnsafePickleError("torch._utils._rebuild_parameter_with_state: refusing Python state on a Parameter")
    return _safe_rebuild_parameter(data, requires_grad, backward_hooks)


def _safe_codecs_encode(text, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as protocols < 3 use it for bytes: only str -> latin-1 bytes."""
    if not isinstance(text, str) or str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError(f"_codecs.encode: only (str, 'latin1') is allowed, got encoding {encoding!r}")
    return text.encode("latin-1", errors="strict")


def _safe_bytes(*args):
    if not args:
        return b""
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray, list, tuple)):
        return bytes(args[0])
    raise UnsafePickleError("builtins.bytes: only bytes()/bytes(bytes-like) is allowed")


def _safe_bytearray(*args):
    if not args:
        return bytearray()
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray, list, tuple)):
        return bytearray(args[0])
    raise UnsafePickleError("builtins.bytearray: only bytearray()/bytearray(bytes-like) is allowed")


_RECONSTRUCTIBLE = (ModuleRecord, EasyDict)


def _safe_reconstructor(cls, base, state):
    """Checked ``copyreg._reconstructor`` (protocols 0/1): only the record / EasyDict classes."""
    if not (isinstance(cls, type) and issubclass(cls, _RECONSTRUCTIBLE)):
        raise UnsafePickleError(f"copyreg._reconstructor: refusing to build {cls!r}")
    if base is object:
        obj = cls.__new__(cls)
        if state is not None:
            raise UnsafePickleError("copyreg._reconstructor: unexpected state for an object base")
        return obj
    if base is dict and issubclass(cls, dict):
        return cls(state or {})
    raise UnsafePickleError(f"copyreg._reconstructor: refusing base {base!r}")


def _numpy_attr(candidates: tuple[str, ...], name: str):
    """Resolve a numpy global from the installed numpy (numpy 2 ``_core`` or numpy 1 ``core``)."""
    for mod in candidates:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise UnsafePickleError(f"numpy global {name} is not available in the installed numpy")


_NP_MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")
_NP_NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")


def _allowed_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    """(module, name) -> zero-arg resolver of what ``find_class`` returns. Resolved lazily."""
    import numpy as np

    allowed: dict[tuple[str, str], Callable[[], Any]] = {
        # torch_utils.persistence: record instead of exec'ing module_src
        _PERSISTENCE_GLOBAL: lambda: _record_persistent_obj,
        # dnnlib.util.EasyDict (and the dnnlib re-export) -> plain dict subclass of ours
        ("dnnlib.util", "EasyDict"): lambda: EasyDict,
        ("dnnlib", "EasyDict"): lambda: EasyDict,
        # tensors, parameters, storages (torch's rebuilders behind hook-refusing wrappers)
        ("torch._utils", "_rebuild_tensor_v2"): lambda: _safe_rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): lambda: _safe_rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): lambda: _safe_rebuild_parameter_with_state,
        # torch.storage._load_from_bytes is bound per unpickler (weights_only torch.load)
        ("collections", "OrderedDict"): lambda: collections.OrderedDict,
        # plain data builtins used by protocols 0-3 for sets/bytes/slices/complex
        ("builtins", "set"): lambda: set,
        ("builtins", "frozenset"): lambda: frozenset,
        ("builtins", "slice"): lambda: slice,
        ("builtins", "complex"): lambda: complex,
        ("builtins", "bytes"): lambda: _safe_bytes,
        ("builtins", "bytearray"): lambda: _safe_bytearray,
        ("builtins", "object"): lambda: object,  # only meaningful as copyreg._reconstructor's base
        ("builtins", "dict"): lambda: dict,
        ("_codecs", "encode"): lambda: _safe_codecs_encode,
        ("copyreg", "_reconstructor"): lambda: _safe_reconstructor,
        # numpy arrays / scalars / dtypes (numpy 2 and numpy 1 module paths)
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
    }
    for mod in _NP_MULTIARRAY:
        allowed[(mod, "_reconstruct")] = lambda: _numpy_attr(_NP_MULTIARRAY, "_reconstruct")
        allowed[(mod, "scalar")] = lambda: _numpy_attr(_NP_MULTIARRAY, "scalar")
    for mod in _NP_NUMERIC:
        allowed[(mod, "_frombuffer")] = lambda: _numpy_attr(_NP_NUMERIC, "_frombuffer")
    return allowed


_ALLOWED: dict[tuple[str, str], Callable[[], Any]] | None = None


def _allowed() -> dict[tuple[str, str], Callable[[], Any]]:
    global _ALLOWED
    if _ALLOWED is None:
        _ALLOWED = _allowed_globals()
    return _ALLOWED


def _normalize(module: str, name: str) -> tuple[str, str]:
    """Map Python-2 names that protocols < 3 write (``__builtin__``, ``copy_reg``) to Python 3."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


# --------------------------------------------------------------------------- unpickler


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` resolves only the allow-list of this module."""

    def __init__(self, file, *, source: str = "<bytes>"):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        mod, nm = _normalize(module, name)
        shown = f"{module}.{name}" if (mod, nm) == (module, name) else f"{module}.{name} (= {mod}.{nm})"
        if (mod, nm) == _TF_NETWORK_GLOBAL:
            raise LegacyTFPickleError(
                f"{self.source}: refusing global {shown}: this is a TensorFlow-era StyleGAN pickle, which is not "
                "supported. Convert it once with NVIDIA's stylegan2-ada-pytorch legacy.py in an isolated "
                "environment (it runs the pickle's code) and load the converted PyTorch pickle here.")
        if (mod, nm) == ("torch.storage", "_load_from_bytes"):
            return self._load_storage_from_bytes
        resolver = _allowed().get((mod, nm))
        if resolver is not None:
            return resolver()
        if mod.startswith("torch.nn.modules.") and nm.isidentifier() and not nm.startswith("_"):
            return torch_module_standin(mod, nm)
        if mod == "torch" and isinstance(vars(torch).get(nm), torch.dtype):
            return vars(torch)[nm]  # a dtype constant such as torch.float32: plain data (no torch.__getattr__)
        raise UnsafePickleError(
            f"{self.source}: refusing to load global {shown}: it is not on the allow-list of "
            "benchmark.generators.official_pickle (only StyleGAN2-ADA persistence records, tensors, "
            "numpy arrays and plain containers are loaded)")

    def _load_storage_from_bytes(self, data: Any):
        """``torch.storage._load_from_bytes`` with ``weights_only=True`` and CPU mapping."""
        if not isinstance(data, (bytes, bytearray)):
            raise UnsafePickleError(f"{self.source}: torch.storage._load_from_bytes expects bytes, got {type(data).__name__}")
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
                storage = torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location="cpu")
        except pickle.UnpicklingError as exc:
            raise UnsafePickleError(
                f"{self.source}: torch.storage._load_from_bytes payload refused by torch.load(weights_only=True): "
                f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
        if not _is_storage(storage):
            raise UnsafePickleError(
                f"{self.source}: torch.storage._load_from_bytes returned {type(storage).__name__}, expected a storage")
        return storage


def loads_network_pickle(data: bytes, *, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the restricted unpickler (no validation of the top level)."""
    return RestrictedUnpickler(io.BytesIO(data), source=source).load()


def load_network_pickle(path: str | Path) -> dict:
    """Load an official StyleGAN2-ADA ``network-snapshot-*.pkl`` (or released ``*.pkl``) safely.

    Returns the snapshot dict; ``G``, ``D``, ``G_ema`` and ``augment_pipe`` (where present and
    not None) are ``PersistedObject`` trees, other keys (``training_set_kwargs`` ...) plain data.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(b"PK\x03\x04"):
            raise pickle.UnpicklingError(
                f"{path}: this is a zip archive (torch.save checkpoint), not a StyleGAN2-ADA network pickle; "
                "use torch.load(..., weights_only=True) for it")
        f.seek(0)
        data = RestrictedUnpickler(f, source=str(path)).load()
    if not isinstance(data, dict):
        raise pickle.UnpicklingError(
            f"{path}: expected a dict of networks (G, D, G_ema, ...) at the top level, got {type(data).__name__}")
    for key in NETWORK_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, PersistedObject):
            raise pickle.UnpicklingError(
                f"{path}: '{key}' is {type(value).__name__}, expected a torch_utils.persistence object")
    if not any(isinstance(data.get(k), PersistedObject) for k in ("G", "G_ema", "D")):
        raise pickle.UnpicklingError(f"{path}: no G, G_ema or D network in the pickle (keys: {sorted(map(str, data))})")
    return data


# --------------------------------------------------------------------------- audit


_STRING_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}


def referenced_globals(data: bytes) -> set[tuple[str, str]]:
    """Every (module, name) a pickle stream references, found statically with ``pickletools``.

    Nothing is unpickled.  ``STACK_GLOBAL`` operands are tracked through the memo; an
    operand that cannot be resolved statically shows as ``'?'``.
    """
    found: set[tuple[str, str]] = set()
    memo: dict[int, Any] = {}
    pushed: list[Any] = []  # values of recent pushing ops (str or None), memo ops skipped
    for op, arg, _pos in pickletools.genops(data):
        name = op.name
        if name == "GLOBAL" or name == "INST":
            module, _, attr = str(arg).partition(" ")
            found.add((module, attr))
            pushed.append(None)
        elif name == "STACK_GLOBAL":
            module = pushed[-2] if len(pushed) >= 2 and isinstance(pushed[-2], str) else "?"
            attr = pushed[-1] if pushed and isinstance(pushed[-1], str) else "?"
            found.add((module, attr))
            pushed.append(None)
        elif name in _STRING_OPS:
            pushed.append(arg if isinstance(arg, str) else None)
        elif name in _GET_OPS:
            pushed.append(memo.get(arg))
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in _PUT_OPS:
            memo[arg] = pushed[-1] if pushed else None
        elif name == "FRAME":
            pass
        else:
            pushed.append(None)
        del pushed[:-4]
    return found
