"""The suite's reference classifier (benchmark/quality/reference_classifier.py) on the tiny Fashion-MNIST
replica: it learns, it is cached as a verified artifact keyed by its config and reused without training, its
API (predict, features, logits) has the shapes the UMAP analysis expects, and it serves as the feature network
of the offline Fréchet distance."""
from __future__ import annotations

import json

import pytest
import torch

from benchmark.artifacts import artifact_dir
from benchmark.errors import UserError
from benchmark.quality import reference_classifier as rc
from benchmark.quality.frechet import frechet_distance
from benchmark.quality.reference_classifier import _augment, reference_classifier
from benchmark.verified_artifacts import digest_path

# a tiny network for a few steps; no shifts, which would move the replica's class bar onto another class's row
TINY = {"epochs": 8, "batch_size": 25, "lr": 1e-2, "widths": [8, 16, 16], "feature_dim": 16, "augment": False}
DATA = {"name": "fashion_mnist", "download": False}


@pytest.fixture
def trained(tmp_path, fmnist_replica, one_thread):
    return reference_classifier(DATA, str(tmp_path / "artifacts"), "cpu", train_cfg=TINY)


def test_trains_above_chance_and_is_reused_without_training(trained, tmp_path, monkeypatch):
    clf = trained
    assert not clf.reused and clf.num_classes == 10 and len(clf.classes) == 10
    assert clf.test_accuracy > 50  # chance is 10% on the replica's 10 balanced classes
    weights = tmp_path / "artifacts" / "quality" / clf.artifact_dir.split("/")[-1] / "classifier.pt"
    assert weights.is_file() and digest_path(weights).is_file()  # a verified artifact
    config = json.loads((weights.parent / "config.json").read_text())
    assert config["test_accuracy"] == clf.test_accuracy and config["classifier"]["epochs"] == 8
    state = torch.load(weights)
    assert state["test_accuracy"] == clf.test_accuracy and state["train_config"]["widths"] == [8, 16, 16]
    assert state["final_loss"] < 2.0  # below log(10) = 2.30, the loss of a uniform guess

    mtime = weights.stat().st_mtime_ns
    monkeypatch.setattr(rc, "train_classifier", lambda *a, **k: pytest.fail("trained again"))
    # a different data location is the same classifier
    again = reference_classifier({**DATA, "root": str(tmp_path / "elsewhere")}, str(tmp_path / "artifacts"), "cpu",
                                 train_cfg=TINY)
    assert again.reused and again.artifact_dir == clf.artifact_dir and weights.stat().st_mtime_ns == mtime
    assert again.test_accuracy == clf.test_accuracy
    images = torch.rand(5, 1, 32, 32) * 2 - 1
    assert torch.equal(again(images), clf(images))


def test_api_shapes_and_range(trained, fmnist_replica):
    clf = trained
    images = torch.rand(7, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    logits, features, labels = clf(images), clf.features(images), clf.predict(images)
    assert logits.shape == (7, 10) and features.shape == (7, 16) and features.dtype == torch.float32
    assert labels.shape == (7,) and labels.dtype == torch.long and labels.min() >= 0 and labels.max() < 10
    assert torch.equal(labels, logits.argmax(1))
    assert clf.features(images[:0]).shape == (0, 16) and clf.predict(images[:0]).shape == (0,)
    assert not clf.train().training  # always in eval mode
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        clf.predict(torch.zeros(2, 3, 32, 32))


def test_key_ignores_location_and_covers_the_training_config(tmp_path, fmnist_replica, monkeypatch):
    seen = []
    monkeypatch.setattr(rc, "artifact_dir", lambda *args: seen.append(args[3]) or artifact_dir(*args))
    monkeypatch.setattr(rc, "train_classifier", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    for data, train_cfg in ((DATA, TINY), ({**DATA, "cache_dir": "x", "root": "y"}, TINY),
                            (DATA, {**TINY, "epochs": 9})):
        with pytest.raises(RuntimeError, match="stop"):
            reference_classifier(data, str(tmp_path), "cpu", train_cfg=train_cfg)
    assert seen[0] == seen[1] and seen[0] != seen[2]
    assert seen[0]["data"] == {"name": "fashion_mnist"}
    with pytest.raises(UserError, match="valid options"):
        reference_classifier(DATA, str(tmp_path), "cpu", train_cfg={"epoch": 3})


def test_training_lowers_the_loss_with_augmentation(fmnist_replica, one_thread):
    from benchmark.data import build_dataset

    cfg = rc.train_config({**TINY, "augment": True, "epochs": 6})
    state = rc.train_classifier(cfg, build_dataset(DATA, "train"), "cpu")
    losses = state["losses"]
    assert state["steps"] == 48 and len(losses) == 48
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8


def test_augmentation_shifts_and_flips_reproducibly():
    x = torch.full((64, 1, 8, 8), -1.0)
    x[:, :, 3:5, 2:4] = 1.0  # a bright 2x2 square left of the centre
    a, b = _augment(x, torch.Generator().manual_seed(0)), _augment(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    assert torch.equal(a.eq(1).sum((1, 2, 3)), torch.full((64,), 4))  # shifts of 2 px keep it whole
    cols = a.eq(1).any(2).squeeze(1).float().argmax(1)  # first bright column per image
    assert len(set(cols.tolist())) > 3  # shifted and flipped to several places


def test_classifier_features_give_an_offline_frechet_distance(trained, small_generator):
    feature = trained.frechet_feature()
    assert feature.num_features == 16
    assert "Fréchet distance in the features of the suite's Fashion-MNIST classifier" in feature.description
    assert "not an FID" in feature.description
    real = [torch.rand(40, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1]
    result = frechet_distance(small_generator, real, feature, samples=40, batch_size=20, device="cpu")
    assert result["feature"] == feature.description and result["value"] >= 0
