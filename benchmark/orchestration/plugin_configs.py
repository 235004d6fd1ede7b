"""Hydra config nodes for plugins that ship no yaml in launch/.

A method registered by another package (entry point ``ganrep.methods``) has a config dataclass but no
``launch/method/<name>.yaml``; its defaults are stored in Hydra's ConfigStore under the ``method``
group so ``python launch.py method=<name>`` composes with no edit to this repo.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from hydra.core.config_store import ConfigStore

from benchmark.registry import METHODS

CONFIG_DIR = Path(__file__).resolve().parents[2] / "launch"


def register_plugin_configs(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Store a ``method/<name>`` node for each registered method without a yaml; returns their names."""
    added = []
    for name in METHODS.names():
        if (config_dir / "method" / f"{name}.yaml").exists():
            continue
        cls = METHODS.get(name)
        defaults = {f.name: getattr(cls.Config(), f.name) for f in dataclasses.fields(cls.Config)}
        ConfigStore.instance().store(group="method", name=name, node={"name": name, **defaults})
        added.append(name)
    return added
