"""The paper's linear probe (tasks/linear/probe.py) as in the Squeeze-and-Span authors' code: the last epoch's
top-1 as headline beside the best validated one, the LARS step against its formula, the option checks, and
STL-10's LARS recipe; on the tiny dataset replicas with a tiny backbone."""
from __future__ import annotations

import dataclasses
import logging
import math
import re

import pytest
import torch

from benchmark.backbones import resnet18_cifar
from tasks.linear.probe import cosine_factor, probe_optimizer, validated_epochs
from tests.helpers.replicas import write_cifar10, write_stl10
from tests.helpers.tasks import build_task, context, task_config

VALIDATION = re.compile(r"probe \S+: epoch (\d+)/(\d+), test top-1 ([\d.]+)")


def small_backbone():
    torch.manual_seed(0)
    return resnet18_cifar(width=4)


def logged_validations(caplog) -> dict[int, float]:
    """Epoch -> test top-1, from the probe's log lines (printed to 2 decimals)."""
    found = [VALIDATION.match(r.getMessage()) for r in caplog.records if r.name == "tasks.linear.probe"]
    return {int(m[1]): float(m[3]) for m in found if m}


def test_validated_epochs_follow_the_authors_schedule():
    assert validated_epochs(90, 5) == [1, *range(5, 91, 5)]  # after epoch 1, every 5th and the last
    assert validated_epochs(7, 5) == [1, 5, 7] and validated_epochs(1, 5) == [1]
    assert validated_epochs(4, 1) == [1, 2, 3, 4]
    assert validated_epochs(7, 0) == validated_epochs(7, None) == [7]


@pytest.mark.parametrize("name, epochs, eval_every, validated", [
    ("probe_cifar10", 8, 1, list(range(1, 9))),  # here (torch 2.x, CPU) the best epoch, 3, is not the last
    ("probe_stl10", 5, 2, [1, 2, 4, 5]),
])
def test_best_and_last_validated_top1(name, epochs, eval_every, validated, tmp_path, caplog):
    """top1 is the last epoch's, top1_best the max of the logged validations (earliest epoch on a tie); a preset's
    epoch cap (eval.epochs) still works, and STL-10's batch 4096 on a few images makes one step an epoch."""
    write_cifar10(tmp_path) if name == "probe_cifar10" else write_stl10(tmp_path)
    task = build_task(name, image_size=16, num_workers=0, eval_every=eval_every)
    caplog.set_level(logging.INFO, logger="tasks.linear.probe")
    metrics = task.run(small_backbone(), context(tmp_path, epochs=epochs))
    logged = logged_validations(caplog)
    assert sorted(logged) == validated and metrics["epochs"] == epochs
    assert all(metrics["top1_best"] >= accuracy for accuracy in logged.values())
    assert metrics["top1_best"] == pytest.approx(max(logged.values()), abs=0.005)
    assert metrics["top1"] == pytest.approx(logged[epochs], abs=0.005)
    best = int(metrics["best_epoch"])
    assert best in logged and best == metrics["best_epoch"]
    assert logged[best] == pytest.approx(metrics["top1_best"], abs=0.005)
    assert all(logged[e] < logged[best] for e in logged if e < best)  # the earliest of the best
    if name == "probe_stl10":
        assert task.cfg.batch_size == 4096 > metrics["train_samples"] == 4 and metrics["lr"] == pytest.approx(1.6)


def test_validations_leave_training_unchanged_and_eval_every_0_validates_the_last_epoch(tmp_path, caplog):
    write_stl10(tmp_path)
    caplog.set_level(logging.INFO, logger="tasks.linear.probe")
    runs = {}
    for every in (0, 1):
        caplog.clear()
        task = build_task("probe_stl10", image_size=16, num_workers=0, eval_every=every)
        runs[every] = task.run(small_backbone(), context(tmp_path, epochs=3))
        assert sorted(logged_validations(caplog)) == ([3] if every == 0 else [1, 2, 3])
    assert runs[0]["top1"] == runs[1]["top1"] and runs[0]["final_train_loss"] == runs[1]["final_train_loss"]
    assert runs[0]["top1_best"] == runs[0]["top1"] and runs[0]["best_epoch"] == 3


def reference_lars(weights, gradients, lr, trust, momentum, weight_decay):
    """LARS by hand (You et al. 2017, as apex LARC without clipping): per tensor, local lr = trust * ||w|| /
    (||g|| + wd ||w||) (1 when a norm is 0), update = local lr * (g + wd w), then momentum SGD (the buffer starts
    at the first update)."""
    weights = [w.clone() for w in weights]
    buffers = [None] * len(weights)
    for step_gradients in gradients:
        for i, (w, g) in enumerate(zip(weights, step_gradients)):
            w_norm, g_norm = w.norm().item(), g.norm().item()
            local = trust * w_norm / (g_norm + weight_decay * w_norm) if w_norm > 0 and g_norm > 0 else 1.0
            update = local * (g + weight_decay * w)
            buffers[i] = update if buffers[i] is None else momentum * buffers[i] + update
            w -= lr * buffers[i]
    return weights


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_lars_step_follows_the_formula(weight_decay):
    """The probe's LARS (probe_stl10's options: trust 0.001, momentum 0.9) over three steps on a head's weight and
    its zero-initialised bias (no adaptation while its norm is 0), against the formula; wd 0 is the probe's."""
    cfg = dataclasses.replace(build_task("probe_stl10").cfg, weight_decay=weight_decay)
    assert cfg.optimizer == "lars" and cfg.lars_trust_coefficient == 0.001 and cfg.momentum == 0.9
    g = torch.Generator().manual_seed(0)
    weight = (torch.randn(10, 32, generator=g, dtype=torch.float64) * 0.01).requires_grad_()
    bias = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    gradients = [(torch.randn(10, 32, generator=g, dtype=torch.float64),
                  torch.randn(10, generator=g, dtype=torch.float64)) for _ in range(3)]
    lr = cfg.lr * cfg.batch_size / 256
    expected = reference_lars([weight.detach(), bias.detach()], gradients, lr, 0.001, 0.9, weight_decay)
    start = weight.detach().clone()
    opt = probe_optimizer([weight, bias], cfg, lr)
    for gw, gb in gradients:
        weight.grad, bias.grad = gw.clone(), gb.clone()
        opt.step()
    torch.testing.assert_close(weight.detach(), expected[0], rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(bias.detach(), expected[1], rtol=1e-6, atol=1e-12)
    # adapted although wd is 0 (timm's default would be plain SGD then): SGD moves the weight ~1000x further
    sgd, sgd_buffer = start.clone(), torch.zeros_like(start)  # a zero buffer: the first step's is the gradient
    for gw, _ in gradients:
        sgd_buffer = 0.9 * sgd_buffer + gw + weight_decay * sgd
        sgd -= lr * sgd_buffer
    assert (weight.detach() - start).norm() < 0.01 * (sgd - start).norm()


def test_per_epoch_cosine_is_the_authors_adjust_learning_rate():
    """lr of epoch e of E = lr (1 + cos(pi e / E)) / 2 for every step of the epoch (CIFAR-10 at batch 256:
    196 steps an epoch, 90 epochs), written out from that formula; per_step anneals within the epoch."""
    for step in (0, 195, 196, 1000, 17639):
        expected = 0.5 * (1 + math.cos(math.pi * (step // 196) / 90))
        assert cosine_factor(step, 196, 90, "per_epoch") == pytest.approx(expected, rel=1e-12)
    assert cosine_factor(195, 196, 90, "per_epoch") == 1.0 > cosine_factor(195, 196, 90, "per_step")
    assert task_config("probe_cifar10")["lr_schedule"] == "per_epoch"


def test_bad_probe_options_name_the_key_the_value_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"optimizer='adam'.*valid optimizers: sgd, lars"):
        build_task("probe_cifar10", optimizer="adam")
    with pytest.raises(ValueError, match=r"eval_every=-1"):
        build_task("probe_cifar10", eval_every=-1)
    with pytest.raises(ValueError, match=r"lr_schedule='linear'.*per_epoch, per_step"):
        build_task("probe_cifar10", lr_schedule="linear")


def test_stl10_probe_is_the_authors_lars_recipe():
    cfg = task_config("probe_stl10")
    assert cfg["optimizer"] == "lars" and cfg["batch_size"] == 4096 and cfg["lr"] == 0.1
    assert cfg["lars_trust_coefficient"] == 0.001 and cfg["image_size"] == 64 and cfg["epochs"] == 90
    assert cfg["momentum"] == 0.9 and cfg["weight_decay"] == 0.0 and cfg["eval_every"] == 5
    for name in ("probe_cifar10", "probe_cifar100", "probe_imagenet"):  # the SGD recipe elsewhere
        other = task_config(name)
        assert (other["optimizer"], other["batch_size"], other["lr"], other["eval_every"]) == ("sgd", 256, 30.0, 5)
