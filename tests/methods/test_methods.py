"""Registry-driven: every registered method builds at smoke size, takes a CPU step, and trains all it owns."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from benchmark.pretraining.engine import build_optimizer
from benchmark.registry import METHODS
from tests.helpers.methods import build, one_batch

# Options that change what a method consumes or builds; every registered method also runs with its defaults.
VARIANTS = {
    "latent_encoding": [{"domain": "syn_real"}],
    "distill": [{"source": "latent"}, {"augment": False}],
    "sqsp": [{"source": "latent"}, {"zg_varcov": "log_only"}],
    "simsiam": [{"domain": "syn"}, {"domain": "syn_real"}],
    "vicreg": [{"domain": "syn"}, {"domain": "syn_real"}, {"variance_convention": "sum"}],
}
CASES = [(name, {}) for name in METHODS.names()] + [
    (name, variant) for name, variants in VARIANTS.items() if name in METHODS.names() for variant in variants]


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" if o else n for n, o in CASES])
def test_method_step_trains_every_parameter(name, options, small_generator):
    method = build(name, small_generator, **options)
    backbone = method.evaluation_backbone()
    assert backbone(torch.zeros(2, 1, 32, 32)).shape == (2, backbone.feature_dim)
    if not method.needs_training:
        return
    generator_before = copy.deepcopy(small_generator.state_dict())
    trainable = {n: p.detach().clone() for n, p in method.named_parameters() if p.requires_grad}
    assert trainable, f"{name} trains nothing"
    optimizer = build_optimizer(method, {"base_lr": 0.03, "batch_size": 256, "momentum": 0.9, "weight_decay": 0.0})
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in method.parameters() if p.requires_grad}, "parameter groups miss parameters"
    out = method.training_step(one_batch(method, small_generator))
    assert torch.isfinite(out["loss"])
    optimizer.zero_grad()
    out["loss"].backward()
    no_grad = [n for n, p in method.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not no_grad, f"{name}: no gradient reaches {no_grad}"
    optimizer.step()
    unchanged = [n for n, p in method.named_parameters() if n in trainable and torch.equal(p, trainable[n])]
    assert not unchanged, f"{name}: one step left {unchanged} unchanged"
    for key, value in small_generator.state_dict().items():
        assert torch.equal(value, generator_before[key]), f"the frozen generator changed: {key}"


def test_squeeze_is_sqsp_with_alpha_one(small_generator):
    squeeze = build("squeeze", small_generator)
    assert squeeze.cfg.alpha == 1.0 and squeeze.split_batch(64) == (64, 0)
    assert build("sqsp", small_generator).split_batch(64) == (32, 32)
    with pytest.raises(ValueError, match="alpha"):
        build("squeeze", small_generator, alpha=0.5)


def test_unknown_option_names_valid_ones(small_generator):
    with pytest.raises(ValueError, match="valid options.*lambda_rd"):
        build("sqsp", small_generator, lamda_rd=3.0)


def test_unknown_method_names_valid_ones():
    with pytest.raises(KeyError, match="sqsp.*squeeze|squeeze.*sqsp"):
        METHODS.get("nosuchmethod")


def test_latent_source_squeezes_w(small_generator):
    method = build("sqsp", small_generator, source="latent")
    assert method.squeeze_module.per_scale[0].in_features == small_generator.w_dim
    assert torch.isfinite(method.training_step(one_batch(method, small_generator))["loss"])


@pytest.mark.parametrize("name,bad", [("simsiam", "imagenet"), ("vicreg", "synthetic"), ("latent_encoding", "real")])
def test_unknown_domain_names_the_valid_ones(small_generator, name, bad):
    with pytest.raises(ValueError, match=f"domain='{bad}' must be one of syn, "):
        build(name, small_generator, domain=bad)


@pytest.mark.parametrize("name", METHODS.names())
def test_every_evaluation_backbone_carries_the_dense_heads(name, small_generator):
    """Dense tasks build on ``forward_stages``: every method's evaluation network must provide stage maps
    (finest first) that a UPerNet head and a Faster R-CNN accept, on images larger than pretraining's."""
    from tasks.dense.heads import UPerNetHead, build_faster_rcnn
    from tasks.dense.detection import FashionMNISTDetectionConfig

    backbone = build(name, small_generator).evaluation_backbone()
    if name == "raw_pixels":  # no stage maps: an anchor of the classification tasks only
        from benchmark.registry import TASKS

        dense = [t for t in TASKS.names() if t.endswith(("_det", "_seg", "_normals"))]
        assert dense and not any(name in TASKS.get(t).anchors for t in dense)
        return
    maps = backbone.forward_stages(torch.zeros(1, backbone.in_channels, 64, 64))
    assert len(maps) >= 3 and all(a.shape[-1] >= b.shape[-1] for a, b in zip(maps, maps[1:]))
    assert UPerNetHead(backbone, 4, decoder_channels=8)(torch.zeros(2, 1, 64, 64)).shape == (2, 4, 64, 64)
    detector = build_faster_rcnn(backbone, 3, FashionMNISTDetectionConfig(fpn_channels=8, box_head_dim=16,
                                                                          min_size=[64], max_size=64)).eval()
    with torch.no_grad():
        assert set(detector([torch.rand(1, 64, 64)])[0]) == {"boxes", "labels", "scores"}


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" if o else n for n, o in CASES])
def test_every_method_pretrains_in_float64(name, options, small_generator, fmnist_replica, tmp_path):
    """``pretrain.precision=float64`` (exactness checks on the CPU) runs every method end to end, and
    hands back float32 networks for evaluation."""
    from benchmark.data import build_dataset
    from benchmark.pretraining.engine import pretrain

    method = build(name, small_generator, **options)
    if not method.needs_training:
        return
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    cfg = {"steps": 2, "batch_size": 8, "base_lr": 0.03, "momentum": 0.9, "weight_decay": 5e-4, "warmup_steps": 1, "lr_schedule": "per_step", "steps_per_epoch": None, "autocast": "bfloat16",
           "log_every": 1, "checkpoint_every": 100, "precision": "float64",
           "deterministic": False}
    stats = pretrain(method, small_generator, data, cfg, tmp_path, torch.device("cpu"), seed=0)
    assert all(np.isfinite(v) for v in stats["final_losses"].values()), stats
    assert {p.dtype for p in method.parameters()} == {torch.float32}
    assert {p.dtype for p in small_generator.parameters()} == {torch.float32}
    assert torch.get_default_dtype() == torch.float32
