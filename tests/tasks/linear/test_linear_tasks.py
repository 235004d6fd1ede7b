"""Every registered task composes from its yaml; every linear and probe task runs on a replica of its
dataset's official layout; the transfer suite runs all 11 members; the feature cache is keyed right."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from benchmark.verified_artifacts import save_verified
from benchmark.backbones import resnet18_cifar
from tasks.linear.features import cached_evaluation_features
from benchmark.registry import TASKS
from tests.helpers.launching import REPO, real_fmnist_or_skip
from tests.helpers.replicas import REPLICAS, write_imagenet100_replica
from tests.helpers.tasks import build_task, context, task_config

# task-config overrides a replica needs (its few images per class)
REPLICA_LOADER_OPTIONS = {"caltech101": {"train_per_class": 2}, "imagenet": {"allow_partial": True}}


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_has_a_config_that_builds(name):
    assert (REPO / "launch" / "task" / f"{name}.yaml").is_file(), f"task {name} has no launch/task/{name}.yaml"
    cfg = task_config(name)
    assert cfg["name"] == name
    task = build_task(name)
    assert task.headline and isinstance(task.higher_is_better, bool)


def test_bad_task_options_name_the_valid_ones():
    with pytest.raises(ValueError, match="valid metrics: top1, mean_per_class, voc07_map"):
        build_task("linear_dtd", metric="top5")
    with pytest.raises(ValueError, match="valid: official, holdout"):
        build_task("linear_dtd", validation="test")




@pytest.fixture(scope="module")
def replica_root(tmp_path_factory) -> Path:
    """One folder holding a replica of every evaluation dataset in its usual sub-folder."""
    root = tmp_path_factory.mktemp("datasets")
    for name, write in REPLICAS.items():
        if name != "imagenet100":  # it shares the imagenet folder; written on its own below
            write(root)
    return root


def small_backbone(in_channels: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    return resnet18_cifar(width=4, in_channels=in_channels)


def _dataset_of(task_name: str) -> str:
    return task_config(task_name)["dataset"]


LINEAR_ON_REPLICAS = sorted(n for n in TASKS.names() if n.startswith(("linear_", "probe_"))
                            and _dataset_of(n) in REPLICAS)


@pytest.mark.parametrize("name", LINEAR_ON_REPLICAS)
def test_task_runs_on_its_replica(name, replica_root, tmp_path):
    dataset = _dataset_of(name)
    root = replica_root
    if dataset == "imagenet100":
        root = write_imagenet100_replica(tmp_path)
    options = {"image_size": 16, "num_workers": 0, "loader": REPLICA_LOADER_OPTIONS.get(dataset, {})}
    task = build_task(name, **options)
    metrics = task.run(small_backbone(), context(root, cache=str(tmp_path / "features"), wd_grid=[-1, 1, 2],
                                                max_iter=10, epochs=1))
    assert 0 <= metrics[task.headline] <= 100
    assert metrics["feature_dim"] == 32 and metrics["test_samples"] > 0
    if name.startswith("linear_"):  # frozen features were cached, one file per split used
        cached = sorted(p.name.split("-")[0] for p in (tmp_path / "features" / dataset).glob("*.pt"))
        official = task.cfg.validation == "official"
        assert cached == (["test", "train", "val"] if official else ["test", "train"])


def test_transfer_suite_runs_all_eleven_members(replica_root, tmp_path):
    cfg = task_config("transfer_linear", "+task.num_workers=0", "+task.members.caltech101.loader={train_per_class: 2}")
    cfg.pop("name")
    suite = TASKS.get("transfer_linear")(cfg)
    assert list(suite.members) == ["aircraft", "caltech101", "cars", "cifar10", "cifar100", "dtd", "flowers", "food",
                                   "pets", "sun397", "voc2007"]
    metrics_of = {k: t.cfg.metric for k, t in suite.members.items()}
    assert metrics_of["aircraft"] == metrics_of["caltech101"] == metrics_of["flowers"] == metrics_of["pets"] \
        == "mean_per_class"
    assert metrics_of["voc2007"] == "voc07_map" and metrics_of["dtd"] == metrics_of["sun397"] == "top1"
    assert {k for k, t in suite.members.items() if t.cfg.validation == "official"} == {"aircraft", "dtd", "flowers",
                                                                                      "voc2007"}
    assert all(t.cfg.image_size == 224 and t.cfg.wd_grid == [-6.0, 5.0, 45] for t in suite.members.values())
    metrics = suite.run(small_backbone(), context(replica_root, wd_grid=[-1, 1, 2], max_iter=10))
    assert metrics["average"] == pytest.approx(sum(metrics[k] for k in suite.members) / 11)
    assert all(0 <= metrics[k] <= 100 for k in suite.members)
    assert metrics["voc2007/voc07_map"] == metrics["voc2007"] and metrics["aircraft/mean_per_class"] == metrics["aircraft"]


def test_transfer_embedded_on_fashion_mnist_and_digits():
    real_fmnist_or_skip()
    cfg = task_config("transfer_embedded")
    cfg.pop("name")
    suite = TASKS.get("transfer_embedded")(cfg)
    assert suite.members["fashion_mnist"].cfg.wd_grid == [-6.0, 5.0, 45]
    ctx = context("unused", max_train_samples=400, max_test_samples=200, wd_grid=[-1, 1, 2], max_iter=20)
    ctx.image_channels = 1
    metrics = suite.run(small_backbone(in_channels=1), ctx)
    assert set(suite.members) == {"fashion_mnist", "digits"}
    assert metrics["digits/train_samples"] == 400 and metrics["fashion_mnist/test_samples"] == 200
    assert metrics["digits"] > 30  # ten classes: a random 32-d ResNet on 8x8 digits is far above chance


def test_feature_cache_is_read_back_and_keyed_by_the_weights(replica_root, tmp_path):
    from benchmark.registry import DATASETS
    from tasks.linear.classification import evaluation_transform

    transform, key = evaluation_transform(16, 3)
    data = DATASETS.get("dtd")("train", root=str(replica_root), transform=transform)
    cache = str(tmp_path / "cache")
    backbone = small_backbone()
    first = cached_evaluation_features(backbone, data, "dtd", "train", key, torch.device("cpu"), cache, num_workers=0)
    files = list((tmp_path / "cache" / "dtd").glob("train-*.pt"))
    assert len(files) == 1 and first.shape == (len(data), 32)
    # the second call reads the file: plant recognisable values in it (with their digest, as the suite writes)
    save_verified(torch.full_like(first, 7.0), files[0])
    again = cached_evaluation_features(backbone, data, "dtd", "train", key, torch.device("cpu"), cache, num_workers=0)
    assert torch.all(again == 7.0)
    # other weights, another transform or another split: another key, computed afresh
    other = cached_evaluation_features(small_backbone(seed=1), data, "dtd", "train", key, torch.device("cpu"), cache,
                                       num_workers=0)
    assert not torch.all(other == 7.0)
    cached_evaluation_features(backbone, data, "dtd", "train", key + "-other", torch.device("cpu"), cache, num_workers=0)
    assert len(list((tmp_path / "cache" / "dtd").glob("train-*.pt"))) == 3
    # a damaged file is recomputed, not trusted, and kept aside
    files[0].write_bytes(b"not a tensor file")
    fixed = cached_evaluation_features(backbone, data, "dtd", "train", key, torch.device("cpu"), cache, num_workers=0)
    torch.testing.assert_close(fixed, first)
    assert [p.read_bytes() for p in files[0].parent.glob(files[0].name + ".damaged-*Z")] == [b"not a tensor file"]


def test_eval_limits_of_the_preset_win(replica_root):
    os.environ.pop("GANREP_DATA", None)
    cfg = task_config("linear_dtd", "preset=smoke")
    assert cfg["wd_grid"] == [-6.0, 5.0, 45]  # the task's own; the smoke preset limits it through eval
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        smoke = compose("config", overrides=["preset=smoke"])
    assert list(smoke.eval.wd_grid) == [-1.0, 1.0, 2] and smoke.eval.epochs == 1


def test_reported_transfer_rows_are_transcribed_consistently(tmp_path):
    """The poster's averages equal the mean of its 11 columns (to its rounding): a check on the copy."""
    from benchmark.reporting.suite_leaderboard import load_reported, render_suite_leaderboard

    reported = load_reported("transfer_linear")
    assert reported["columns"] == list(build_task("transfer_linear").members)
    for row in reported["rows"]:
        assert len(row["values"]) == 11
        assert sum(row["values"]) / 11 == pytest.approx(row["average"], abs=0.015)
    board = render_suite_leaderboard(tmp_path / "results", tmp_path, "transfer_linear").read_text()
    assert "## Reported" in board and "Copied from the paper, not measured by this suite." in board
    assert "| ImageNet (Syn. & Real)     | Sq&Sp    | 33.85" in board and "No `task=transfer_linear` results" in board
    assert (tmp_path / "transfer_linear.png").stat().st_size > 0 and "(transfer_linear.png)" in board


def test_probe_on_fashion_mnist_learns():
    """The SGD probe on the in-memory pretraining set, on raw pixels (a backbone whose features a linear
    layer can use at once): a few epochs on 1000 augmented images beat chance by far."""
    from benchmark.backbones import Flatten

    real_fmnist_or_skip()
    task = build_task("probe_fmnist", num_workers=0, batch_size=64, lr=0.4, crop_scale=[0.6, 1.0])
    ctx = context("unused", max_train_samples=1000, max_test_samples=300, epochs=3)
    ctx.image_channels = 1
    metrics = task.run(Flatten(32 * 32), ctx)
    assert metrics["epochs"] == 3 and metrics["train_samples"] == 1000 and metrics["lr"] == 0.4 * 64 / 256
    assert metrics["feature_dim"] == 1024 and metrics["test_samples"] == 300
    assert metrics["top1"] > 50  # ten classes


@pytest.mark.parametrize("name", sorted(REPLICAS))
def test_every_evaluation_set_has_a_fingerprint_of_its_items(name, replica_root, tmp_path):
    """The feature cache keys on which items a set holds: stable across opens, and different for another
    split or another subset of the same size."""
    from benchmark.data.image_sets import limit
    from benchmark.registry import DATASETS

    root = write_imagenet100_replica(tmp_path / "in100") if name == "imagenet100" else replica_root
    options = REPLICA_LOADER_OPTIONS.get(name, {})
    (tmp_path / "elsewhere").symlink_to(root)  # the same files at another path (a node's copy, a mount)
    train, again, moved, test = (DATASETS.get(name)(split, root=str(r), **options) for split, r in
                                 (("train", root), ("train", root), ("train", tmp_path / "elsewhere"), ("test", root)))
    assert train.fingerprint() == again.fingerprint() == moved.fingerprint() != test.fingerprint()
    n = len(train) - 1
    assert limit(train, n, seed=0).fingerprint() != limit(train, n, seed=1).fingerprint()


def test_feature_cache_tells_same_size_sets_apart(replica_root, tmp_path):
    """Two SUN397 partitions or two seeded subsets have one size: each gets its own features."""
    from benchmark.data.image_sets import limit
    from tasks.linear.features import extract_evaluation_features
    from benchmark.registry import DATASETS
    from tasks.linear.classification import evaluation_transform

    transform, key = evaluation_transform(16, 3)
    data = DATASETS.get("dtd")("train", root=str(replica_root), transform=transform)
    cache, backbone = str(tmp_path / "cache"), small_backbone()
    for seed in (0, 1):
        subset = limit(data, len(data) - 1, seed)
        cached = cached_evaluation_features(backbone, subset, "dtd", "train", key, torch.device("cpu"), cache,
                                            num_workers=0)
        torch.testing.assert_close(cached, extract_evaluation_features(backbone, subset, torch.device("cpu"),
                                                                       num_workers=0))
    assert len(list((tmp_path / "cache" / "dtd").glob("train-*.pt"))) == 2


def test_the_feature_cache_key_sees_the_input_normalisation():
    """Two backbones with equal weights but different input normalisation (non-persistent buffers, not in the
    state dict) compute different features: their cache keys must differ."""
    from tasks.linear.features import backbone_fingerprint

    torch.manual_seed(0)
    plain = resnet18_cifar(width=4, in_channels=3, input_norm="none")
    normalised = resnet18_cifar(width=4, in_channels=3, input_norm="cifar")
    normalised.load_state_dict(plain.state_dict())
    assert plain.state_dict().keys() == normalised.state_dict().keys()
    assert backbone_fingerprint(plain) != backbone_fingerprint(normalised)
    again = resnet18_cifar(width=4, in_channels=3, input_norm="cifar")
    again.load_state_dict(plain.state_dict())
    assert backbone_fingerprint(again) == backbone_fingerprint(normalised)
