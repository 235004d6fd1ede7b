"""Methods at smoke size on the small generator (the ``small_generator`` fixture), and one batch for them."""
from __future__ import annotations

import dataclasses

import torch

from benchmark.backbones import resnet18_cifar
from benchmark.interfaces import Batch, MethodContext
from benchmark.pretraining.augment import make_augment
from benchmark.registry import METHODS

SMOKE_SIZES = {"projector_hidden_dim": 16, "projector_hidden_layers": 2, "embed_dim": 16, "predictor_hidden_dim": 8,
               "projector_layers": 2}
# what the embedded preset's objective section gives the options that read it
OBJECTIVE = {"lambda_rd": 25.0, "mu_var": 25.0, "nu_cov": 1.0, "zg_varcov": "poster", "variance_convention": "halved"}


def build(name, small_generator, **overrides):
    cls = METHODS.get(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    defaults = {**SMOKE_SIZES, **OBJECTIVE}
    cfg = cls.make_config({**{k: v for k, v in defaults.items() if k in fields}, **overrides})
    torch.manual_seed(0)
    ctx = MethodContext(resnet18_cifar(width=4, in_channels=1), small_generator, 1, 32,
                        lambda **kw: make_augment(32, 1, **kw))
    return cls(cfg, ctx)


def one_batch(method, small_generator, batch_size=16):
    n_syn, n_real = method.split_batch(batch_size)
    syn = small_generator.sample(n_syn, rng=torch.Generator().manual_seed(0)) if n_syn else None
    real = torch.rand(n_real, 1, 32, 32) * 2 - 1 if n_real else None
    return Batch(syn=syn, real=real)
