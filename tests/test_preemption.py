"""SLURM's preemption / time-limit signal, through submitit for real (its LocalExecutor requeues like
SLURM): a pretraining stage checkpoints the step it is in, submitit requeues it, and the requeued job
resumes there and ends with bitwise the weights of an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import submitit
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark import experiment as ex
from benchmark.cluster import StageJob
from conftest import REPO, write_fashion_mnist_replica
from test_resume import assert_state_dicts_equal

STEPS = 40
OVERRIDES = ["preset=smoke", "method=simsiam", "method.domain=syn_real", "anchors=false", "device=cpu",
             f"pretrain.steps={STEPS}", "pretrain.checkpoint_every=1000", "pretrain.log_every=1",
             "+pretrain.deterministic=true"]  # no periodic checkpoint: any resume is from the signal's


def stage_config(root: Path) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=[*OVERRIDES, f"paths.artifacts={root}/artifacts",
                                           f"paths.results={root}/results"])
    return OmegaConf.to_container(cfg, resolve=True)


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc/<pid>/stat: the field after the name is the ppid)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return children


def test_signal_checkpoints_the_current_step_and_requeued_job_ends_bitwise_equal(tmp_path, monkeypatch):
    monkeypatch.setenv("GANREP_DATA", str(write_fashion_mnist_replica(tmp_path / "fmnist")))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    executor = submitit.LocalExecutor(folder=str(tmp_path / "submitit"))
    executor.update_parameters(timeout_min=10)
    full_cfg, signalled_cfg = stage_config(tmp_path / "full"), stage_config(tmp_path / "signalled")

    full = executor.submit(StageJob(), ex.pretrain_only, full_cfg)
    full_weights = Path(full.result())

    job = executor.submit(StageJob(), ex.pretrain_only, signalled_cfg)
    run_dir = Path(ex.pretrained_weights(signalled_cfg)).parent
    deadline, sent = time.time() + 180, False
    while not sent and time.time() < deadline and not job.done():
        logged = (run_dir / "metrics.jsonl").read_text().count("\n") if (run_dir / "metrics.jsonl").exists() else 0
        if logged >= 8:  # mid-run: the controller's child is the job's one task
            for pid in child_pids(job._process.pid):
                os.kill(pid, signal.SIGUSR2)  # what SLURM sends before preempting (submitit's --signal)
                sent = True
        time.sleep(0.01)
    assert sent, "the run ended before the signal could be sent"
    weights = Path(job.result())

    stats = json.loads((run_dir / "train_stats.json").read_text())
    assert 8 <= stats["resumed_from"] < STEPS, stats  # resumed from the step the signal came in
    log = Path(job.paths.stderr).read_text()
    assert f"checkpoint of step {stats['resumed_from']} written on the signal" in log
    assert f"resuming pretraining at step {stats['resumed_from']}" in log
    assert_state_dicts_equal(torch.load(full_weights), torch.load(weights))
