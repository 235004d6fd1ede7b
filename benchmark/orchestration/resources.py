"""The size of each kind of job: nodes, processes (SLURM tasks) per node and GPUs per node.

A pretraining job runs one data-parallel process per GPU (``cluster=slurm``: ``pretrain_nodes`` x
``pretrain_gpus_per_node``; ``cluster=local``: ``pretrain_processes``); evaluation, anchor and leaderboard
jobs are one process each. In this process (``cluster=none``) the launcher decides: torchrun's WORLD_SIZE.
How many processes pretrain is part of a run's identity when it changes the objective (identity.py). And the
device a process runs on (``resolve_device``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class JobSize:
    nodes: int
    tasks_per_node: int
    gpus_per_node: Optional[int]

    @property
    def processes(self) -> int:
        return self.nodes * self.tasks_per_node


def job_size(kind: str, cluster: dict) -> JobSize:
    """The size of a ``kind`` job (pretrain | evaluate | anchor | leaderboard) on ``cluster`` (local | slurm)."""
    if cluster.get("name") == "slurm":
        if kind == "pretrain":
            gpus = cluster.get("pretrain_gpus_per_node", 1)
            return JobSize(cluster.get("pretrain_nodes", 1), max(1, gpus), gpus)
        return JobSize(cluster.get("nodes", 1), cluster.get("tasks_per_node", 1), cluster.get("gpus_per_node", 1))
    processes = cluster.get("pretrain_processes", 1) if kind == "pretrain" else 1
    return JobSize(1, processes, cluster.get("gpus_per_node"))


def pretraining_processes(cfg: dict) -> int:
    """How many data-parallel processes pretrain this config."""
    cluster = cfg.get("cluster") or {"name": "none"}
    if cluster["name"] == "none":
        return int(os.environ.get("WORLD_SIZE", "1"))
    return job_size("pretrain", cluster).processes


def resolve_device(name: str):
    """The torch device of ``device=`` (auto: CUDA when torch sees it, else the CPU)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name} was asked for but torch sees no CUDA device; use device=cpu or auto")
    return torch.device(name)
