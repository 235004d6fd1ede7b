"""Each loss term against its paper formula, computed independently with plain numpy loops
(tests/helpers/references.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.pretraining.augment import make_augment
from benchmark.backbones import resnet18_cifar
from benchmark.interfaces import Batch, MethodContext
from benchmark.toolkit.losses import VICRegLoss, covariance_loss, invariance_loss, variance_loss
from methods.squeeze_and_span import SqueezeAndSpan, SqueezeAndSpanConfig
from tests.helpers.references import EPS, ref_covariance, ref_rd, ref_variance


@pytest.fixture
def embeddings():
    g = torch.Generator().manual_seed(0)
    # a mix of low- and high-variance dimensions so the hinge is active for some and not others
    scale = torch.tensor([0.1, 0.5, 2.0, 3.0, 0.05, 1.5])
    return torch.randn(12, 6, generator=g, dtype=torch.float64) * scale, torch.randn(12, 6, generator=g, dtype=torch.float64)


def test_variance_matches_formula(embeddings):
    z, _ = embeddings
    assert variance_loss(z).item() == pytest.approx(ref_variance(z.numpy()), rel=1e-6)
    assert 0 < variance_loss(z).item() < 1  # some dimensions below unit std, some above


def test_covariance_matches_formula(embeddings):
    z, _ = embeddings
    assert covariance_loss(z).item() == pytest.approx(ref_covariance(z.numpy()), rel=1e-6)


def test_invariance_matches_formula(embeddings):
    a, b = embeddings
    assert invariance_loss(a, b).item() == pytest.approx(ref_rd(a.numpy(), b.numpy()), rel=1e-6)


@pytest.mark.parametrize("convention,scale", [("sum", 1.0), ("halved", 0.5)])
def test_vicreg_combination(embeddings, convention, scale):
    a, b = (t.numpy() for t in embeddings)
    out = VICRegLoss(25.0, 25.0, 1.0, variance_convention=convention)(*embeddings)
    expected = 25 * ref_rd(a, b) + 25 * scale * (ref_variance(a) + ref_variance(b)) + ref_covariance(a) + ref_covariance(b)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-6)


def test_collapsed_embedding_costs_one_per_dimension():
    z = torch.ones(8, 5)
    assert variance_loss(z).item() == pytest.approx(1.0 - np.sqrt(EPS))
    assert covariance_loss(z).item() == 0.0


def _sqsp(small_generator, **overrides):
    torch.manual_seed(0)
    cfg = SqueezeAndSpanConfig(projector_hidden_dim=16, projector_hidden_layers=2, embed_dim=8, **overrides)
    ctx = MethodContext(resnet18_cifar(width=4, in_channels=1), small_generator, 1, 32,
                        lambda **kw: make_augment(32, 1, **kw))
    method = SqueezeAndSpan(cfg, ctx)
    # deterministic views, so the reference sees the same embeddings
    method.augment, method.augment_syn = nn.Identity(), nn.Identity()
    return method


@pytest.mark.parametrize("zg_varcov", ["poster", "log_only"])
@pytest.mark.parametrize("alpha", [0.5, 0.25, 1.0])
def test_sqsp_total_loss_matches_formula(small_generator, zg_varcov, alpha):
    method = _sqsp(small_generator, alpha=alpha, zg_varcov=zg_varcov, lambda_rd=25.0, mu_var=25.0, nu_cov=1.0)
    n_syn, n_real = method.split_batch(16)
    assert (n_syn, n_real) == (round(alpha * 16), 16 - round(alpha * 16))
    syn = small_generator.sample(n_syn, rng=torch.Generator().manual_seed(1))
    real = torch.rand(n_real, 1, 32, 32) * 2 - 1 if n_real else None
    out = method.training_step(Batch(syn=syn, real=real))

    with torch.no_grad():  # BN in train mode is deterministic given the batch, so re-embedding is exact
        z_f = method.projector(method.backbone(syn.images)).double().numpy()
        z_g = method.squeeze_module(syn.features).double().numpy()
    squeeze = 25 * ref_rd(z_f, z_g) + 25 * ref_variance(z_f) + ref_covariance(z_f)
    if zg_varcov == "poster":
        squeeze += 25 * ref_variance(z_g) + ref_covariance(z_g)
    expected = alpha * squeeze
    if alpha < 1:
        with torch.no_grad():
            z_r = method.projector(method.backbone(real)).double().numpy()
        span = 25 * ref_rd(z_r, z_r) + 25 * 2 * ref_variance(z_r) + 2 * ref_covariance(z_r)
        expected += (1 - alpha) * span
    assert out["loss"].item() == pytest.approx(expected, rel=1e-4)


def test_vicreg_loss_has_no_default_variance_convention():
    """One name, one meaning: the caller names the convention ('sum' or 'halved'), never a hidden default."""
    with pytest.raises(TypeError, match="variance_convention"):
        VICRegLoss()
    with pytest.raises(ValueError, match="variance_convention='mean'.*sum.*halved"):
        VICRegLoss(variance_convention="mean")
