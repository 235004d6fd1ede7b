"""A task that reads the run's generator (``Task.uses_generator``: rep_discrepancy) is given it even when the
method never learnt from it, the generator is then part of the run's identity, and the board row lands."""
from __future__ import annotations

import copy

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.orchestration import pipeline
from benchmark.orchestration.identity import pretraining_hash, run_hash
from tests.helpers.launching import REPO
from tests.helpers.replicas import write_fashion_mnist_replica


def smoke_config(root, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=["preset=smoke", "device=cpu", "data.download=false", "anchors=false",
                                           f"paths.artifacts={root}/artifacts", f"paths.results={root}/results",
                                           f"paths.leaderboards={root}/leaderboards", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def test_the_generator_keys_a_run_only_where_the_task_reads_it(tmp_path):
    for task, keyed in (("rep_discrepancy", True), ("linear_fmnist", False)):
        cfg = smoke_config(tmp_path, "method=vicreg", "method.domain=real", f"task={task}")
        other = copy.deepcopy(cfg)
        other["generator"]["steps"] += 1
        assert pretraining_hash(cfg) == pretraining_hash(other)  # VICReg on real images never sees it
        assert (run_hash(cfg) != run_hash(other)) == keyed


def test_a_real_image_method_is_measured_against_the_run_s_generator(tmp_path, monkeypatch):
    monkeypatch.setenv("GANREP_DATA", str(write_fashion_mnist_replica(tmp_path / "data", n_train=300, n_test=120)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only spin
    try:
        record = pipeline.run_experiment(OmegaConf.create(smoke_config(tmp_path, "row=discrepancy_vicreg_real")))
    finally:
        torch.set_num_threads(threads)
    assert record["task"] == "rep_discrepancy" and not record["higher_is_better"]
    assert record["generator"] is None  # what the backbone learnt from: real images only
    assert record["timings"]["gan_reused"] is False  # the small GAN was trained for the task
    metrics = record["metrics"]
    assert metrics["real_images"] == metrics["generated_images"] == 120 and metrics["mmd2_e5"] == pytest.approx(
        metrics["mmd2"] * 1e5)
    assert "suite's measure" in record["task_recipe"]["protocol"]
    board = (tmp_path / "leaderboards" / "discrepancy_smoke.md").read_text()
    assert "measure undefined" in board and "Real" in board
