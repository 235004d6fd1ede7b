"""The pretraining engine: schedule, and a run that dies resumes from its last checkpoint."""
from __future__ import annotations

import json
import math

import pytest
import torch

from benchmark.checkpoints import load_checkpoint
from benchmark.data import build_dataset
from benchmark.pretraining.engine import check_schedule, lr_at, pretrain
from tests.helpers.methods import build
from tests.helpers.pretraining import tensorboard_scalars

CFG = {"steps": 4, "batch_size": 16, "base_lr": 0.03, "momentum": 0.9, "weight_decay": 5e-4, "warmup_steps": 1,
       "lr_schedule": "per_step", "steps_per_epoch": None, "autocast": "bfloat16", "log_every": 1, "checkpoint_every": 2,
       "precision": "float32", "deterministic": False}


def test_schedule_warmup_then_cosine_to_zero():
    assert lr_at(0, 10, 1.0, 2) == pytest.approx(0.5)
    assert lr_at(1, 10, 1.0, 2) == pytest.approx(1.0)
    assert lr_at(2, 10, 1.0, 2) == pytest.approx(1.0)
    assert lr_at(6, 10, 1.0, 2) == pytest.approx(0.5)
    assert lr_at(10, 10, 1.0, 2) == pytest.approx(0.0)


def test_per_epoch_schedule_is_the_authors_adjust_learning_rate():
    """lr of epoch e of E = base (1 + cos(pi e / E)) / 2, held for the epoch's steps (the authors' CIFAR recipe:
    800 epochs of 97 steps), computed here from that formula."""
    base, per_epoch, epochs = 0.06, 97, 800
    for step in (0, 96, 97, 200, 38799, 38800, 77599):
        epoch = step // per_epoch
        expected = base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        assert lr_at(step, per_epoch * epochs, base, 0, "per_epoch", per_epoch) == pytest.approx(expected, rel=1e-12)
    assert lr_at(77599, 77600, base, 0, "per_epoch", 97) > 0  # the last epoch does not reach zero
    assert lr_at(77599, 77600, base, 0, "per_step", None) < lr_at(77599, 77600, base, 0, "per_epoch", 97)
    for bad, match in (({"lr_schedule": "linear"}, "lr_schedule='linear'.*per_step"),
                       ({"lr_schedule": "per_epoch", "steps_per_epoch": None}, "needs pretrain.steps_per_epoch"),
                       ({"autocast": "float16"}, "autocast='float16'.*bfloat16")):
        with pytest.raises(ValueError, match=match):
            check_schedule({**CFG, **bad})


class Death(Exception):
    pass


def test_killed_run_resumes_from_checkpoint(tmp_path, fmnist_replica, small_generator, monkeypatch):
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    method = build("squeeze", small_generator)  # synthetic only: the same weights and RNG give the same step
    calls = {"n": 0}
    real_sample = small_generator.sample

    def dying_sample(*args, **kwargs):  # the process dies while drawing the batch of step index 3
        calls["n"] += 1
        if calls["n"] == 4:
            raise Death
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(small_generator, "sample", dying_sample)
    with pytest.raises(Death):
        pretrain(method, small_generator, data, CFG, tmp_path, torch.device("cpu"), seed=0)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    assert checkpoint["step"] == 2
    before = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in before] == [0, 1, 2]  # step 2 ran after the checkpoint, before the death
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "lo')  # a line cut short by the kill

    monkeypatch.setattr(small_generator, "sample", real_sample)
    resumed = build("squeeze", small_generator)
    with torch.no_grad():  # a fresh process: other weights and RNG state until the checkpoint loads
        for p in resumed.parameters():
            p.add_(1.0)
    torch.manual_seed(456)
    stats = pretrain(resumed, small_generator, data, CFG, tmp_path, torch.device("cpu"), seed=0)
    assert stats["resumed_from"] == 2 and stats["steps"] == 4
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # each step once: the abandoned step 2 and the torn line were dropped when the run resumed at step 2
    assert [r["step"] for r in logged] == [0, 1, 2, 3]
    assert logged[:2] == before[:2]
    # step 2 ran again from the checkpointed weights, optimizer and RNG states: the same loss both times
    assert logged[2]["loss"] == pytest.approx(before[2]["loss"], rel=1e-5)
    # TensorBoard shows the same curve, each step once (the events of the abandoned step 2 purged at the resume)
    curves = tensorboard_scalars(tmp_path / "tensorboard")
    assert [step for step, _ in curves["loss/loss"]] == [0, 1, 2, 3]
    assert [v for _, v in curves["loss/loss"]] == pytest.approx([r["loss"] for r in logged], abs=1e-5)
    assert [v for _, v in curves["lr"]] == pytest.approx([r["lr"] for r in logged])
    assert {f"loss/{term}" for term in logged[0] if term not in ("step", "lr")} <= set(curves)
    # images/s between two logged steps of one process: none at the first step of a run or of its resumption
    assert [step for step, _ in curves["throughput/images_per_s"]] == [1, 3]
    assert all(v > 0 for _, v in curves["throughput/images_per_s"])


def test_non_finite_loss_stops_with_the_terms(tmp_path, fmnist_replica, small_generator):
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    method = build("sqsp", small_generator)
    with torch.no_grad():
        method.projector[-1].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="step 0"):
        pretrain(method, small_generator, data, CFG, tmp_path, torch.device("cpu"), seed=0)
