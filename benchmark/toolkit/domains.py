"""Which images a self-supervised baseline pretrains on: ``domain`` = syn | real | syn_real.

The poster's SSL comparison pretrains SimSiam and VICReg on real images ("Real"), on the generator's
samples ("Syn") and on both ("Real & Syn"). "syn_real" means the union of the two sets: each batch
holds ``syn_fraction`` generated images and the rest real ones, augmented and encoded together as one
batch drawn from a mixed data set would be (unlike sqsp, whose squeeze and span terms see their own
batches).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from benchmark.interfaces import Batch, Method, MethodContext
from benchmark.toolkit.losses import at_least_float32

DOMAINS = ("syn", "real", "syn_real")
SOURCES_OF_DOMAIN = {"syn": frozenset({"generator"}), "real": frozenset({"real"}),
                     "syn_real": frozenset({"generator", "real"})}


def split_for(domain: str, batch_size: int, syn_fraction: float) -> tuple[int, int]:
    if domain == "syn":
        return batch_size, 0
    if domain == "real":
        return 0, batch_size
    n_syn = round(syn_fraction * batch_size)
    return n_syn, batch_size - n_syn


def domain_images(batch: Batch) -> torch.Tensor:
    """The step's images, synthetic first, in [-1, 1]."""
    if batch.syn is None:
        return batch.real
    if batch.real is None:
        return batch.syn.images
    return torch.cat([at_least_float32(batch.syn.images), at_least_float32(batch.real)])


class DomainMethod(Method):
    """A method whose ``cfg.domain`` (one of ``domains``) decides what it consumes and how a batch splits;
    ``cfg.syn_fraction`` is the synthetic share of a syn_real batch."""

    domains: ClassVar[tuple] = DOMAINS

    @classmethod
    def config_problems(cls, cfg) -> list[tuple[str, str]]:
        problems = [] if cfg.domain in cls.domains else [("domain", f"must be one of {', '.join(cls.domains)}")]
        if cfg.domain == "syn_real" and not 0.0 < cfg.syn_fraction < 1.0:
            problems.append(("syn_fraction", "must be in (0, 1): the synthetic share of a syn_real batch"))
        return problems

    @classmethod
    def consumed_sources(cls, cfg) -> frozenset:
        if cfg.domain not in cls.domains:
            raise ValueError(f"method {cls.name!r}: domain must be one of {cls.domains}, got {cfg.domain!r}")
        return SOURCES_OF_DOMAIN[cfg.domain]

    def __init__(self, cfg, ctx: MethodContext):
        super().__init__(cfg, ctx)  # config_problems rejects an unknown domain before anything is built
        self.augment = ctx.make_augment()
        self.augment_syn = ctx.make_augment(source="synthetic")

    def augmented_view(self, batch: Batch) -> torch.Tensor:
        """One augmented view of the step's images, synthetic first. The synthetic part takes the synthetic
        augmentation: with one parameter set per synthetic batch (``augment.synthetic: per_batch``, the
        authors' code) it is augmented apart from the real part; otherwise the whole batch at once."""
        if batch.syn is None or not self.augment_syn.same_on_batch:
            return self.augment(domain_images(batch))
        syn = self.augment_syn(batch.syn.images)
        if batch.real is None:
            return syn
        return torch.cat([at_least_float32(syn), at_least_float32(self.augment(batch.real))])

    def augmentation_description(self) -> str:
        return ("synthetic: one parameter set per batch; real: per sample" if self.augment_syn.same_on_batch
                else "per-sample parameters")

    def split_batch(self, batch_size: int) -> tuple[int, int]:
        return split_for(self.cfg.domain, batch_size, self.cfg.syn_fraction)
