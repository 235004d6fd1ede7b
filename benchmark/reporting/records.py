"""Result records: one JSON file per (pretraining, task) run, written atomically.

A record holds the resolved config, the pretraining and run hashes, the git commit, the metrics, the
wall time of each stage, the device and the library versions. Its file name is derived from the run
hash, so re-running an identical config replaces its record instead of adding a duplicate.
"""
from __future__ import annotations

import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from benchmark.artifacts import atomic_write_text

BOARDS_DIR = "_boards"  # results/<preset>/_boards/<board>/: which record fills which row of a board
LIBRARIES = ("torch", "torchvision", "kornia", "numpy", "hydra-core", "pandas")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "absent"
    return out


def git_commit(repo_dir: Path) -> str:
    """HEAD's hash, with '+dirty' when code or configs have uncommitted changes; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True,
                              check=True).stdout.strip()
        # the suite's own outputs (records, leaderboards) are not code: they do not make a run dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results", ":(exclude)leaderboards"], cwd=repo_dir,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def record_path(results_dir: Path, record: dict) -> Path:
    return Path(results_dir) / record["preset"] / record["task"] / f"{record['method']}-{record['run_hash']}.json"


def write_record(results_dir: Path, record: dict) -> Path:
    path = record_path(results_dir, record)
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def load_records(results_dir: Path, preset: str | None = None) -> list[dict]:
    root = Path(results_dir) / preset if preset else Path(results_dir)
    return [json.loads(p.read_text()) for p in sorted(root.rglob("*.json")) if BOARDS_DIR not in p.parts]
