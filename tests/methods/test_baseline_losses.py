"""The baselines' losses against their paper formulas, computed independently with numpy loops, and
VICReg against the lightly package's VICRegLoss."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.data import build_dataset
from benchmark.pretraining.engine import pretrain
from benchmark.interfaces import Batch
from benchmark.toolkit.losses import VICRegLoss
from methods.simsiam import simsiam_loss
from tests.helpers.methods import build
from tests.helpers.references import ref_covariance, ref_rd, ref_variance


def ref_negative_cosine(p: np.ndarray, z: np.ndarray) -> float:
    """D(p, z) = -1/N sum_i p_i . z_i / (||p_i|| ||z_i||)."""
    return -sum(float(pi @ zi) / (np.linalg.norm(pi) * np.linalg.norm(zi)) for pi, zi in zip(p, z)) / len(p)


def ref_pooled(features: list[np.ndarray]) -> np.ndarray:
    """Each (N, C, H, W) map averaged over H, W, the maps concatenated along channels."""
    return np.concatenate([f.reshape(f.shape[0], f.shape[1], -1).mean(-1) for f in features], axis=1)


def deterministic(method):
    method.augment = nn.Identity()  # so the reference sees the same views
    return method


@pytest.fixture
def views():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(10, 6, generator=g, dtype=torch.float64) * s for s in (0.3, 2.0)]


@pytest.mark.parametrize("convention", ["halved", "sum"])
def test_vicreg_against_lightly(views, convention):
    lightly_loss = pytest.importorskip("lightly.loss").VICRegLoss  # a declared test dependency (setup.cfg)
    theirs = lightly_loss(lambda_param=25.0, mu_param=25.0, nu_param=1.0)(*views).item()
    ours = VICRegLoss(25.0, 25.0, 1.0, variance_convention=convention)(*views)["loss"].item()
    # lightly halves the two views' variance terms, like the official code; "sum" adds the other half
    extra = 0.0 if convention == "halved" else 0.5 * 25.0 * sum(ref_variance(v.numpy()) for v in views)
    assert ours == pytest.approx(theirs + extra, rel=1e-6)


def test_simsiam_loss_matches_formula_and_stops_gradients(views):
    z1, z2 = (v.clone().requires_grad_(True) for v in views)
    p1, p2 = (torch.randn(10, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(i)).requires_grad_(True)
              for i in (1, 2))
    loss = simsiam_loss(p1, p2, z1, z2)
    expected = 0.5 * ref_negative_cosine(p1.detach().numpy(), z2.detach().numpy()) + \
        0.5 * ref_negative_cosine(p2.detach().numpy(), z1.detach().numpy())
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert z1.grad is None and z2.grad is None  # the stop-gradient branch
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


def test_simsiam_step_matches_formula(small_generator):
    method = deterministic(build("simsiam", small_generator, domain="real"))
    real = torch.rand(8, 1, 32, 32) * 2 - 1
    out = method.training_step(Batch(real=real))
    with torch.no_grad():
        z = method.projector(method.backbone(real))
        p = method.predictor(z).double().numpy()
    z = z.double().numpy()
    assert out["loss"].item() == pytest.approx(ref_negative_cosine(p, z), rel=1e-4)


@pytest.mark.parametrize("convention,scale", [("halved", 0.5), ("sum", 1.0)])
def test_vicreg_step_matches_formula(small_generator, convention, scale):
    method = deterministic(build("vicreg", small_generator, domain="syn_real", variance_convention=convention))
    n_syn, n_real = method.split_batch(10)
    assert (n_syn, n_real) == (5, 5)
    syn = small_generator.sample(n_syn, rng=torch.Generator().manual_seed(1))
    real = torch.rand(n_real, 1, 32, 32) * 2 - 1
    out = method.training_step(Batch(syn=syn, real=real))
    with torch.no_grad():  # the mixed batch: generated images first, then the real ones
        z = method.projector(method.backbone(torch.cat([syn.images, real]))).double().numpy()
    expected = 25 * ref_rd(z, z) + 25 * scale * 2 * ref_variance(z) + 2 * ref_covariance(z)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("source", ["generator", "latent"])
def test_distillation_matches_formula(small_generator, source):
    method = deterministic(build("distill", small_generator, source=source, lambda_rd=3.0))
    syn = small_generator.sample(6, rng=torch.Generator().manual_seed(1))
    out = method.training_step(Batch(syn=syn))
    with torch.no_grad():
        pred = method.projector(method.backbone(syn.images)).double().numpy()
    target = syn.w.numpy() if source == "latent" else ref_pooled([f.numpy() for f in syn.features])
    assert target.shape == pred.shape
    assert out["loss"].item() == pytest.approx(3.0 * ref_rd(pred, target.astype(np.float64)), rel=1e-4)


def test_distillation_without_augmentation_is_deterministic(small_generator):
    method = build("distill", small_generator, augment=False)
    syn = small_generator.sample(6, rng=torch.Generator().manual_seed(1))
    assert method.training_step(Batch(syn=syn))["loss"].item() == method.training_step(Batch(syn=syn))["loss"].item()


def test_latent_encoding_matches_formula(small_generator):
    method = build("latent_encoding", small_generator, domain="syn_real", recon_weight=2.0)
    syn = small_generator.sample(6, rng=torch.Generator().manual_seed(1))
    real = torch.rand(6, 1, 32, 32) * 2 - 1
    out = method.training_step(Batch(syn=syn, real=real))
    with torch.no_grad():
        w_syn = method.projector(method.backbone(syn.images)).double().numpy()
        reconstruction = small_generator.synthesize(method.projector(method.backbone(real))).images
    expected = ref_rd(w_syn, syn.w.double().numpy()) + 2.0 * ref_rd(reconstruction.double().numpy(),
                                                                       real.double().numpy())
    assert out["loss"].item() == pytest.approx(expected, rel=1e-4)
    assert "perceptual" not in out or method.perceptual_net is not None
    assert method.describe()["perceptual"].startswith(("absent", "VGG-16"))  # the record says which
    assert build("latent_encoding", small_generator).describe()["perceptual"] == "not used"


def test_latent_encoding_reconstruction_trains_the_encoder_through_the_frozen_generator(small_generator):
    method = build("latent_encoding", small_generator, domain="syn_real", perceptual="off")
    real = torch.rand(6, 1, 32, 32) * 2 - 1
    syn = small_generator.sample(6, rng=torch.Generator().manual_seed(1))
    assert "pixel" in method.training_step(Batch(syn=syn, real=real))
    pixel = nn.functional.mse_loss(small_generator.synthesize(method.encode(real)).images, real)
    grads = torch.autograd.grad(pixel, list(method.backbone.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)
    assert not any(p.requires_grad for p in small_generator.parameters())
    assert not any(k.startswith("generator") for k in method.state_dict())  # the GAN is not saved with it


@pytest.mark.parametrize("multi", [False, True])
def test_discriminator_features_are_what_the_poster_names(small_generator, multi):
    method = build("disc_multi" if multi else "disc_single", small_generator)
    images = torch.rand(3, 1, 32, 32) * 2 - 1
    maps, fc_input = small_generator.discriminator.features(images)
    expected = ref_pooled([m.numpy() for m in maps]) if multi else fc_input.numpy()
    got = method.evaluation_backbone()(images).detach().numpy()
    assert method.evaluation_backbone().feature_dim == expected.shape[1]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_missing_discriminator_is_a_clear_error(small_generator):
    del small_generator.discriminator
    with pytest.raises(ValueError, match="discriminator"):
        build("disc_single", small_generator)


def test_simsiam_predictor_keeps_its_learning_rate(tmp_path, fmnist_replica, small_generator, monkeypatch):
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    method = build("simsiam", small_generator, domain="real", fix_predictor_lr=True)
    cfg = {"steps": 4, "batch_size": 16, "base_lr": 0.03, "momentum": 0.9, "weight_decay": 5e-4, "warmup_steps": 1, "lr_schedule": "per_step", "steps_per_epoch": None, "autocast": "bfloat16",
           "log_every": 1, "checkpoint_every": 100, "precision": "float32",
           "deterministic": False}
    seen, sgd_step = [], torch.optim.SGD.step

    def recording_step(optimizer, *args, **kwargs):
        seen.append([group["lr"] for group in optimizer.param_groups])
        return sgd_step(optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    pretrain(method, small_generator, data, cfg, tmp_path, torch.device("cpu"), 0)
    peak = 0.03 * 16 / 256
    assert [lrs[1] for lrs in seen] == [pytest.approx(peak)] * 4  # the predictor's group
    assert seen[-1][0] < peak / 2  # the rest follows the cosine
