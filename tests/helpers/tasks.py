"""Tasks as the launcher builds them: a task's composed config, the task itself, and a CPU TaskContext."""
from __future__ import annotations

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.interfaces import TaskContext
from benchmark.registry import TASKS
from tests.helpers.launching import REPO


def task_config(name: str, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        cfg = compose("config", overrides=[f"task={name}", *overrides])
    return OmegaConf.to_container(cfg.task, resolve=True)


def build_task(name: str, **overrides):
    cfg = task_config(name)
    cfg.pop("name")
    return TASKS.get(name)({**cfg, **overrides})


def context(root, cache=None, **eval_cfg) -> TaskContext:
    return TaskContext(device=torch.device("cpu"), data_cfg={"name": "fashion_mnist", "download": False},
                       cache_dir="data", eval_cfg=eval_cfg, datasets_root=str(root), features_cache=cache,
                       image_channels=3, image_size=32)
