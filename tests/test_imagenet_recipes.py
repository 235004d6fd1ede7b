"""The suite's ImageNet recipes (launch/preset/imagenet100.yaml, imagenet.yaml: labelled as the suite's, not the
authors'), and the poster's transfer and dense tables as experiments, end to end at smoke scale: ImageFolder
replicas with the CMC class names, a BigGAN-deep of random weights in the package's folder layout restricted to
the 100 classes, every registered method that trains, then ``experiment=transfer`` and ``experiment=dense``
rendering their boards with the poster's numbers beside ours."""
from __future__ import annotations

import importlib.util
import json

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.registry import METHODS
from tests.helpers.biggan import write_tiny_biggan
from tests.helpers.launching import REPO, launch
from tests.helpers.replicas import (REPLICAS, write_ade_replica, write_imagenet100_replica, write_nyuv2_replica,
                                    write_voc_detection_replica)

TRANSFER = ["aircraft", "caltech101", "cars", "cifar10", "cifar100", "dtd", "flowers", "food", "pets", "sun397",
            "voc2007"]


def composed(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


@pytest.mark.parametrize("preset,classes,data,steps,per_epoch,task", [
    ("imagenet100", "imagenet100", "imagenet100_stream", 200 * 247, 126_689 // 512, "probe_imagenet100"),
    ("imagenet", None, "imagenet_stream", 100 * 2502, 1_281_167 // 512, "probe_imagenet"),
])
def test_imagenet_presets_are_the_suites_documented_recipe(preset, classes, data, steps, per_epoch, task):
    cfg = composed(f"preset={preset}")
    assert cfg["preset"] == preset and cfg["data"]["name"] == data and cfg["task"]["name"] == task
    assert cfg["generator"] == {**cfg["generator"], "name": "biggan_deep", "model": "biggan-deep-128",
                                "truncation": 1.0, "classes": classes}
    assert cfg["backbone"]["arch"] == "resnet50" and cfg["backbone"]["input_norm"] == "imagenet"
    assert cfg["augment"]["crop_size"] == 128 and cfg["data"]["decode_size"] == 146
    assert (cfg["pretrain"]["steps"], cfg["pretrain"]["steps_per_epoch"]) == (steps, per_epoch)
    # the authors' student conventions carried over (launch/preset/base/recipe.yaml), the StyleGAN options not
    assert cfg["pretrain"]["batch_size"] == 512 and cfg["objective"]["zg_varcov"] == "log_only"
    assert "noise_mode" not in cfg["generator"]
    text = (REPO / "launch" / "preset" / f"{preset}.yaml").read_text()
    assert "THE SUITE'S RECIPE" in text and "not the authors'" in text


@pytest.fixture(scope="module")
def replicas(tmp_path_factory) -> dict:
    """Every dataset the recipes read, in one datasets folder, and a BigGAN-deep over the 1000 ImageNet classes."""
    root = tmp_path_factory.mktemp("datasets")
    write_imagenet100_replica(root)
    for name in TRANSFER:
        REPLICAS[name](root)
    write_voc_detection_replica(root)
    write_ade_replica(root)
    write_nyuv2_replica(root)
    biggan = write_tiny_biggan(tmp_path_factory.mktemp("biggan") / "biggan", num_classes=1000, output_dim=32)
    return {"root": root, "biggan": biggan, "runs": tmp_path_factory.mktemp("runs")}


def smoke(replicas: dict) -> list[str]:
    """preset=imagenet100 scaled down to seconds (numbers meaningless): 32 px crops, 2 steps of 8 images."""
    return ["preset=imagenet100", f"paths.datasets={replicas['root']}", f"generator.checkpoint={replicas['biggan']}",
            "data.decode_size=36", "data.num_workers=0", "augment.crop_size=32", "pretrain.steps=2",
            "pretrain.batch_size=8", "pretrain.steps_per_epoch=1", "pretrain.log_every=1", "head.hidden_dim=32",
            "head.embed_dim=64", "head.predictor_hidden_dim=16", "eval.max_train_samples=40",
            "eval.max_test_samples=20", "eval.max_iter=5", "eval.wd_grid=[-1.0,1.0,2]", "eval.iterations=2",
            "eval.max_image_side=64", "eval.max_batch_size=2", "device=cpu"]


TRAINED = sorted(n for n in METHODS.names() if METHODS.get(n).needs_training)
NEEDS_DISCRIMINATOR = ["disc_multi", "disc_single"]  # no training, and BigGAN-deep's package ships no discriminator


def test_every_method_pretrains_with_preset_imagenet100(replicas):
    runs = replicas["runs"] / "shared"  # its sqsp pretraining is the transfer and dense rows' too
    result = launch(runs, "-m", *smoke(replicas), f"method={','.join(TRAINED + NEEDS_DISCRIMINATOR)}",
                    "task=linear_imagenet100",
                    "task.image_size=32", "task.num_workers=0", "anchors=false")
    records = {p.name.split("-")[0]: json.loads(p.read_text())
               for p in (runs / "results" / "imagenet100" / "linear_imagenet100").glob("*.json")}
    assert set(records) == set(TRAINED), result.output[-3000:]
    for name in NEEDS_DISCRIMINATOR:  # refused in one line each, before any work
        assert f"method '{name}' needs the GAN's discriminator; the generator BigGANDeepGenerator" in result.output
    assert result.returncode == 2  # the only failures: bad input (a method the generator cannot serve)
    for record in records.values():  # pretrained on the streamed JPEGs, evaluated on RGB as they are
        assert record["config"]["backbone"]["arch"] == "resnet50" and record["train_stats"]["steps"] == 2
        assert record["config"]["data"]["name"] == "imagenet100_stream"
        assert record["evaluation_images"]["used"]["channels"] == 3 and not record["evaluation_images"]["converted"]
        assert 0 <= record["metrics"]["top1"] <= 100
        if record["generator"]:
            assert record["generator_provenance"]["classes"] == "imagenet100"


def transfer_overrides() -> list[str]:
    # task= too: Hydra composes the sweep once before any row selects the task, and checks these keys then
    return ["task=transfer_linear"] + [f"task.members.{m}.image_size=32" for m in TRANSFER] + \
           [f"task.members.{m}.num_workers=0" for m in TRANSFER] + ["+task.members.caltech101.loader={train_per_class: 2}"]


def test_experiment_transfer_renders_its_board_beside_the_poster(replicas):
    """The Sq&Sp row (the VICReg row is the same command: the full sweep is it without ``row=``)."""
    runs = replicas["runs"] / "shared"
    result = launch(runs, "-m", "experiment=transfer", "row=transfer_sqsp", *smoke(replicas), *transfer_overrides(),
                    "anchors=false")
    assert result.returncode == 0, result.output[-3000:]
    board = (runs / "leaderboards" / "transfer_imagenet100.md").read_text()
    assert "`row=transfer_sqsp`" in board
    assert "63.59" in board and "48.26" in board  # the poster's Sq&Sp caltech101 and average on ImageNet-100
    assert "aircraft ↑" in board and "Syn. & Real · Sq&Sp (ours): poster" in board
    assert (runs / "leaderboards" / "transfer_imagenet100.png").is_file()


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a finder that refuses it (an environment without the optional extras)
        return False


FRAMEWORKS = installed("detectron2") and installed("mmseg")
DENSE_METRICS = {"voc_det": {"AP", "AP50", "AP75"}, "ade20k_seg": {"mIoU", "pixel_accuracy"},
                 "nyuv2_normals": {"mean", "median", "within_11.25", "within_22.5", "within_30"}}


def test_experiment_dense_renders_its_board_beside_the_poster(replicas):
    """The Sq&Sp rows of the dense table that run through the frameworks (detectron2, mmseg: CI has them; a bare
    machine runs the suite's own stack): one board, each number beside the poster's and the backend that made it.
    (The builtin stack on a ResNet-50, NYUv2's only one: tests/tasks/dense/test_dense_tasks.py; the full six-row
    sweep is the same command without ``row=``.)"""
    runs = replicas["runs"] / "shared"  # the rows' pretraining is the transfer experiment's: reused when it ran
    framework = [] if FRAMEWORKS else ["backend=builtin"]
    result = launch(runs, "-m", "experiment=dense", "row=dense_sqsp_voc,dense_sqsp_ade20k",
                    *smoke(replicas), *framework, "anchors=false",
                    "eval.max_image_side=32")  # R50-C4 and UPerNet on the CPU: seconds a job
    assert result.returncode == 0, result.output[-3000:]
    board = (runs / "leaderboards" / "dense_imagenet100.md").read_text()
    for task in DENSE_METRICS:
        assert f"## {task}" in board
    assert "No run recorded yet" in board.split("## nyuv2_normals")[1].split("## ade20k_seg")[0]
    assert "`row=dense_sqsp_voc`" in board and "`row=dense_sqsp_ade20k`" in board
    assert "69.07" in board and "29.93" in board  # the poster's Sq&Sp AP50 and mIoU (as percent) on ImageNet-100
    assert "AP50 ↑" in board and "pixel_accuracy ↑" in board
    assert (runs / "leaderboards" / "dense_imagenet100.png").is_file()
    records = [json.loads(p.read_text()) for task in DENSE_METRICS
               for p in (runs / "results" / "imagenet100" / task).glob("*.json")]
    backends = {r["task"]: r["task_recipe"]["backend"] for r in records}
    assert backends == ({"voc_det": "detectron2", "ade20k_seg": "mmseg"} if FRAMEWORKS
                        else {"voc_det": "builtin", "ade20k_seg": "builtin"})
    if FRAMEWORKS:
        assert "backend detectron2" in board and "backend mmseg" in board
    for r in records:  # every metric of the task, at the preset's 2 iterations, the caps named in the recipe
        assert DENSE_METRICS[r["task"]] <= set(r["metrics"]) and r["metrics"]["iterations"] == 2, r["task"]
        assert r["task_recipe"]["protocol"] and isinstance(r["task_recipe"]["deviations"], list)
    # pretrained once per row: its tasks name the same weights (the transfer experiment's)
    assert len({r["pretrain_hash"] for r in records}) == 1
