"""What an official StyleGAN2-ADA network pickle loads into, and how it becomes a real module.

benchmark/generators/official_pickle.py's restricted unpickler never builds NVIDIA's classes: a
``torch_utils.persistence`` object becomes a ``PersistedObject`` (its ``meta`` dict, with the embedded
``module_src`` kept as inert text), a plain ``torch.nn`` container a ``TorchModuleRecord``, a
``dnnlib.util.EasyDict`` our ``EasyDict``. Records only hold data; nothing of the original classes runs.

``state_dict_of`` flattens a record tree into ``nn.Module.state_dict()`` names and order
(parameters, persistent buffers, then children); ``reconstruct`` builds a real module
with a caller-supplied builder from ``init_kwargs`` and loads that state dict strictly.
"""
from __future__ import annotations

import collections
import hashlib
import pickle
from typing import Any, Callable, Iterator, Mapping

import torch

__all__ = ["EasyDict", "ModuleRecord", "PersistedObject", "TorchModuleRecord", "torch_module_standin",
           "state_dict_of", "init_kwargs_of", "init_args_of", "iter_records", "reconstruct"]


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


# --------------------------------------------------------------------------- records


class ModuleRecord:
    """State of a pickled ``nn.Module`` captured as data; nothing of the original class runs."""

    state: dict

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # tolerate REDUCE/INST on a stand-in
        self.__dict__["state"] = {}

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @property
    def training(self) -> bool:
        return bool(self.state.get("training", False))

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.state.get("_parameters") or {}

    @property
    def buffers(self) -> Mapping[str, Any]:
        return self.state.get("_buffers") or {}

    @property
    def modules(self) -> Mapping[str, Any]:
        return self.state.get("_modules") or {}

    @property
    def non_persistent_buffers(self) -> set:
        return set(self.state.get("_non_persistent_buffers_set") or ())

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.kind} params={len(self.parameters)} "
                f"buffers={len(self.buffers)} children={list(self.modules)}>")


class PersistedObject(ModuleRecord):
    """One ``torch_utils.persistence`` object: the ``meta`` dict, with ``module_src`` as inert text."""

    def __init__(self, meta: Mapping[str, Any]):
        if not isinstance(meta, dict):
            raise pickle.UnpicklingError(f"persistent-object meta must be a dict, got {type(meta).__name__}")
        missing = {"type", "version", "module_src", "class_name", "state"} - set(meta)
        if missing:
            raise pickle.UnpicklingError(f"persistent-object meta lacks {sorted(missing)}")
        if meta["type"] != "class":
            raise pickle.UnpicklingError(f"unsupported persistent-object type {meta['type']!r}")
        if not isinstance(meta["class_name"], str) or not isinstance(meta["module_src"], str):
            raise pickle.UnpicklingError("persistent-object class_name and module_src must be str")
        state = meta["state"]
        if state is None:
            state = {}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"state of persisted {meta['class_name']} is {type(state).__name__}, expected a dict")
        self.__dict__.update(
            type=meta["type"], version=meta["version"], class_name=meta["class_name"],
            module_src=meta["module_src"],  # kept as text only: never compiled or executed
            module_src_sha256=hashlib.sha256(meta["module_src"].encode("utf-8")).hexdigest(),
            state=dict(state),
        )

    @property
    def kind(self) -> str:
        return self.class_name

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    @property
    def init_kwargs(self) -> EasyDict:
        return _to_easydict(self.state.get("_init_kwargs") or {})


class TorchModuleRecord(ModuleRecord):
    """Stand-in for a plain ``torch.nn`` module pickled normally (e.g. ``ModuleList``).

    ``find_class`` returns a per-class subclass carrying ``class_path``; pickle's NEWOBJ/BUILD
    then only create this record and store the state dict.
    """

    class_path = "torch.nn.modules.module.Module"

    def __new__(cls, *args: Any, **kwargs: Any):
        obj = object.__new__(cls)
        obj.__dict__["state"] = {}
        obj.__dict__["newobj_args"] = args
        return obj

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state, slots = state
            if slots:
                raise pickle.UnpicklingError(f"unexpected slot state for {self.class_path}")
        if state is None:
            state = {}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"state of {self.class_path} is {type(state).__name__}, expected a dict")
        self.__dict__["state"] = dict(state)

    @property
    def kind(self) -> str:
        return self.class_path

    @property
    def class_name(self) -> str:
        return self.class_path.rsplit(".", 1)[-1]


_STANDINS: dict[str, type] = {}


def torch_module_standin(module: str, name: str) -> type:
    path = f"{module}.{name}"
    cls = _STANDINS.get(path)
    if cls is None:
        cls = type(name, (TorchModuleRecord,), {"class_path": path, "__qualname__": f"TorchModuleRecord[{path}]"})
        _STANDINS[path] = cls
    return cls


def _to_easydict(value: Any) -> Any:
    """Deep copy of dict/list/tuple nests, dicts as ``EasyDict`` (like persistence's init_kwargs)."""
    if isinstance(value, dict):
        return EasyDict((k, _to_easydict(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_to_easydict(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_to_easydict(v) for v in value)
    return value

# --------------------------------------------------------------------------- conversion


def iter_records(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, node) for ``obj`` and every sub-module record below it, in ``_modules`` order."""
    yield prefix.rstrip("."), obj
    if isinstance(obj, ModuleRecord):
        for name, child in obj.modules.items():
            if child is not None:
                yield from iter_records(child, f"{prefix}{name}.")


def _as_tensor(value: Any, where: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{where}: expected a tensor, got {type(value).__name__}")
    return value.detach()


def _collect(node: Any, prefix: str, out: "collections.OrderedDict[str, torch.Tensor]") -> None:
    if isinstance(node, torch.nn.Module):
        out.update(node.state_dict(prefix=prefix))
        return
    if not isinstance(node, ModuleRecord):
        raise TypeError(f"{prefix.rstrip('.') or '<root>'}: not a module record ({type(node).__name__})")
    for name, p in node.parameters.items():
        if p is not None:
            out[prefix + name] = _as_tensor(p, prefix + name)
    skip = node.non_persistent_buffers
    for name, b in node.buffers.items():
        if b is not None and name not in skip:
            out[prefix + name] = _as_tensor(b, prefix + name)
    for name, child in node.modules.items():
        if child is not None:
            _collect(child, f"{prefix}{name}.", out)


def state_dict_of(obj: Any) -> "collections.OrderedDict[str, torch.Tensor]":
    """``nn.Module.state_dict()`` of a record tree: same names and order, tensors detached.

    Parameters, then buffers not in ``_non_persistent_buffers_set``, then children, recursing
    through ``PersistedObject`` and ``TorchModuleRecord`` nodes (and real modules, if any).
    """
    out: "collections.OrderedDict[str, torch.Tensor]" = collections.OrderedDict()
    _collect(obj, "", out)
    return out


def init_kwargs_of(obj: PersistedObject) -> EasyDict:
    """The keyword arguments the persisted object was constructed with (deep copy, dicts as EasyDict)."""
    if not isinstance(obj, PersistedObject):
        raise TypeError(f"init_kwargs_of expects a PersistedObject, got {type(obj).__name__}")
    return obj.init_kwargs


def init_args_of(obj: PersistedObject) -> tuple:
    """The positional constructor arguments of a persisted object (official networks use none)."""
    if not isinstance(obj, PersistedObject):
        raise TypeError(f"init_args_of expects a PersistedObject, got {type(obj).__name__}")
    return _to_easydict(obj.init_args)


def reconstruct(obj: PersistedObject, builders: Mapping[str, Callable[..., torch.nn.Module]]) -> torch.nn.Module:
    """Build ``builders[obj.class_name](*init_args, **init_kwargs)`` and load ``state_dict_of(obj)`` strictly.

    The returned module is put in the record's train/eval mode (snapshots are saved in eval mode).
    """
    if not isinstance(obj, PersistedObject):
        raise TypeError(f"reconstruct expects a PersistedObject, got {type(obj).__name__}")
    try:
        builder = builders[obj.class_name]
    except KeyError:
        raise KeyError(f"no builder for persisted class {obj.class_name!r} (have {sorted(builders)})") from None
    module = builder(*init_args_of(obj), **init_kwargs_of(obj))
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"builder for {obj.class_name!r} returned {type(module).__name__}, not an nn.Module")
    module.load_state_dict(state_dict_of(obj), strict=True)
    module.train(obj.training)
    return module
