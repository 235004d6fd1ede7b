"""Name -> plugin registries.

Built-in plugins register with a decorator at import time (``@METHODS.register("sqsp")``). Plugins in
other installed packages declare an entry point in the registry's group (see setup.cfg), e.g.::

    [options.entry_points]
    ganrep.methods =
        mymethod = my_package.my_module:MyMethod

The entry point is loaded, and so registered, the first time a name is looked up that the built-ins
do not provide. Lookups of an unknown name raise ``KeyError`` naming every valid one.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Callable, Iterable

from benchmark.errors import UserError


class UnknownPluginError(KeyError, UserError):
    def __str__(self) -> str:  # KeyError would print the repr of the message
        return self.args[0]


class Registry:
    def __init__(self, kind: str, entry_point_group: str | None = None, builtin_modules: Iterable[str] = ()):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.builtin_modules = tuple(builtin_modules)
        self._entries: dict[str, object] = {}
        self._distributions: dict[str, tuple[str, str]] = {}  # entry-point name -> (distribution, version)
        self._loaded = False

    def register(self, name: str) -> Callable:
        def decorator(obj):
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice: {self._entries[name]} and {obj}")
            self._entries[name] = obj
            if isinstance(obj, type):
                obj.name = name
            return obj

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin_modules:
            importlib.import_module(module)
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                obj = ep.load()
                if ep.dist is not None:
                    self._distributions[ep.name] = (ep.dist.name, ep.dist.version)
                if ep.name not in self._entries:  # a class registered by its own decorator is already in
                    self.register(ep.name)(obj)

    def distribution(self, name: str) -> tuple[str, str] | None:
        """(name, version) of the installed distribution whose entry point registered ``name``; None for
        what registered itself (the built-ins, a module imported by hand)."""
        self._load()
        return self._distributions.get(name)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str):
        self._load()
        if name not in self._entries:
            raise UnknownPluginError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}")
        return self._entries[name]


METHODS = Registry("method", "ganrep.methods", ["methods"])
GENERATORS = Registry("generator", "ganrep.generators", ["benchmark.generators"])
TASKS = Registry("task", "ganrep.tasks", ["tasks"])
DATASETS = Registry("dataset", "ganrep.datasets", ["benchmark.data"])
BACKBONES = Registry("backbone", "ganrep.backbones", ["benchmark.backbones"])
