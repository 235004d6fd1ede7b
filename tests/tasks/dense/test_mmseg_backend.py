"""backend=mmseg of task=ade20k_seg (tasks/dense/backends/mmseg_ade20k.py): mmsegmentation's UPerNet-R50 recipe
through mmengine's Runner on the ADE20K replica, within the preset's limits (2 iterations, 16 px crops):
its numbers, the images it took (the builtin path's seeded subsets), mmseg's IoUMetric against the suite's
SegmentationConfusion on the run's own predictions, the suite's weights really in mmseg's ResNet, resuming a run
that died and re-testing one that finished, and the backbones it refuses. mmseg is an optional extra; without it
the tests that run it skip, saying how to install."""
from __future__ import annotations

import math
import os
import pickle

import pytest
import torch

from benchmark.backbones import BACKBONES
from benchmark.data import build_dataset
from benchmark.data.dense_sets import dense_subset
from tasks.dense.backends import mmseg_ade20k
from tasks.dense.metrics import SegmentationConfusion
from tests.helpers.replicas import write_ade_replica
from tests.helpers.tasks import build_task, context

INSTALL = ("mmsegmentation not installed: make test GANREP_WHEELS=<folder of the wheels of "
           "../shared/wheels/README.md>, or pip install --find-links <that folder> 'ganrep-bench[mmseg]'")
# the preset's limits: 2 iterations of 2 images, 16 px crops of the 10 x 8 px replica images (scale 64 x 16)
LIMITS = dict(iterations=2, max_image_side=64, max_batch_size=2, max_train_samples=2, max_test_samples=1)
COMMONEST = 149  # raw 150 (columns 6..9 of every replica label map): the class the tested head is biased to


def needs_mmseg():
    pytest.importorskip("mmseg", reason=INSTALL)


@pytest.fixture(scope="module")
def ade_root(tmp_path_factory):
    return write_ade_replica(tmp_path_factory.mktemp("ade"))


@pytest.fixture(scope="module")
def resnet50():
    torch.manual_seed(0)
    return BACKBONES.get("resnet50")(in_channels=3)


def mmseg_task(**overrides):
    # a narrow decoder keeps the checkpoints small; everything else is the task's yaml
    return build_task("ade20k_seg", **{"backend": "mmseg", "num_workers": 0, "decoder_channels": 32, **overrides})


def counting_losses(monkeypatch, fail_at=None):
    """Count the training steps (EncoderDecoder.loss calls), remember the images they trained on; raise at the
    ``fail_at``-th step (a run that dies)."""
    from mmseg.models import EncoderDecoder

    seen = {"steps": 0, "images": [], "backbone_trains": []}
    original = EncoderDecoder.loss

    def loss(self, inputs, data_samples):
        seen["steps"] += 1
        seen["backbone_trains"].append(any(p.requires_grad for p in self.backbone.parameters())
                                       or any(m.training for m in self.backbone.modules()
                                              if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)))
        seen["images"] += [sample.img_path for sample in data_samples]
        if seen["steps"] == fail_at:
            raise RuntimeError("simulated crash")
        return original(self, inputs, data_samples)

    monkeypatch.setattr(EncoderDecoder, "loss", loss)
    return seen


def test_runs_the_recipe_and_iou_metric_agrees_with_the_suites(ade_root, resnet50, monkeypatch):
    needs_mmseg()
    from mmseg.evaluation import IoUMetric
    from mmseg.models.decode_heads import UPerHead

    # what mmseg's IoUMetric is handed: the run's predictions and label maps (at each image's own size)
    scored = []
    process = IoUMetric.process

    def capture(self, data_batch, data_samples):
        scored.extend((s["pred_sem_seg"]["data"].squeeze(0).cpu(), s["gt_sem_seg"]["data"].squeeze(0).cpu())
                      for s in data_samples)
        return process(self, data_batch, data_samples)

    # a random backbone's predictions after 2 iterations get no pixel right (fine-tuned on 16 px crops, batches of 2,
    # its BatchNorm statistics run away): a frozen one (finetune_backbone=false, the dense probe) under a head that
    # starts out preferring the commonest class gives the metrics something to count
    init_weights = UPerHead.init_weights

    def biased(self):
        init_weights(self)
        with torch.no_grad():
            self.conv_seg.bias[COMMONEST] += 20.0

    monkeypatch.setattr(IoUMetric, "process", capture)
    monkeypatch.setattr(UPerHead, "init_weights", biased)
    seen = counting_losses(monkeypatch)
    result = mmseg_task(finetune_backbone=False).run(resnet50, context(ade_root, **LIMITS))

    for key in ("mIoU", "pixel_accuracy", "mAcc", "final_loss", "train_seconds"):
        assert math.isfinite(result[key]), key
    for key in ("mIoU", "pixel_accuracy", "mAcc"):
        assert 0.0 <= result[key] <= 100.0, key
    assert result["iterations"] == 2 and seen["steps"] == 2
    assert result["train_samples"] == 2 and result["test_samples"] == 1 and result["finetune_backbone"] == 0.0
    assert seen["backbone_trains"] == [False, False]  # frozen_stages=4: no gradient, BatchNorm in eval mode

    # the images of backend=builtin: the same seeded subsets of the suite's loader
    seed = mmseg_task().cfg.seed
    train = dense_subset(build_dataset({"name": "ade20k", "root": str(ade_root)}, "train"), 2, seed)
    test = dense_subset(build_dataset({"name": "ade20k", "root": str(ade_root)}, "val"), 1, seed)
    assert sorted({os.path.realpath(p) for p in seen["images"]}) == sorted(
        os.path.realpath(train.dataset.images[i]) for i in train.indices)
    assert len(scored) == 1
    prediction, truth = scored[0]
    assert torch.equal(truth.long(), test[0][1]["mask"])  # reduce_zero_label as the suite's loader, full size

    ours = SegmentationConfusion(150, 255)
    ours.update(prediction, truth)
    expected = ours.metrics()
    assert 0 < expected["pixel_accuracy"] < 100 and 0 < expected["mIoU"] < 100  # not all right, not all wrong
    # mmseg rounds to 2 decimals (in float32): the suite's figures to rounding
    assert abs(result["mIoU"] - expected["mIoU"]) <= 0.005 + 1e-4
    assert abs(result["pixel_accuracy"] - expected["pixel_accuracy"]) <= 0.005 + 1e-4


def test_resumes_a_run_that_died_and_retests_a_finished_one(ade_root, resnet50, monkeypatch, tmp_path):
    needs_mmseg()
    monkeypatch.setattr(mmseg_ade20k, "CHECKPOINT_INTERVAL", 1)  # a checkpoint after each iteration
    task, ctx = mmseg_task(auxiliary_weight=0.0), context(ade_root, **LIMITS)  # no FCN head: smaller checkpoints
    ctx.work_root = str(tmp_path / "work")

    seen = counting_losses(monkeypatch, fail_at=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        task.run(resnet50, ctx)
    [folder] = (tmp_path / "work").iterdir()
    [saved] = folder.glob("iter_*.pth")
    assert saved.name == "iter_1.pth" and (folder / "last_checkpoint").read_text().strip() == str(saved)
    with pytest.raises(pickle.UnpicklingError):  # what the backend reads around: mmengine's HistoryBuffer
        torch.load(saved)
    assert torch.load(saved, weights_only=False, mmap=True)["meta"]["iter"] == 1

    seen = counting_losses(monkeypatch)
    resumed = task.run(resnet50, ctx)
    assert seen["backbone_trains"] == [True]  # fine-tuned (the default)
    assert seen["steps"] == 1  # iteration 2 only: continued from the checkpoint, not trained from scratch
    assert resumed["iterations"] == 2 and math.isfinite(resumed["mIoU"])
    assert [p.name for p in folder.glob("iter_*.pth")] == ["iter_2.pth"]

    seen = counting_losses(monkeypatch)
    again = task.run(resnet50, ctx)
    assert seen["steps"] == 0  # finished: its final weights tested again
    assert again == resumed


def test_the_suites_weights_must_arrive_in_mmsegs_resnet(ade_root, resnet50, monkeypatch):
    needs_mmseg()
    export = mmseg_ade20k.export_mmseg

    def misnamed(state_dict, out, depth, input_norm):  # a name mmseg's ResNet does not have: silently skipped
        state = {("stem.conv.weight" if k == "conv1.weight" else k): v for k, v in state_dict.items()}
        return export(state, out, depth, input_norm)

    monkeypatch.setattr(mmseg_ade20k, "export_mmseg", misnamed)
    seen = counting_losses(monkeypatch)
    with pytest.raises(RuntimeError, match=r"does not hold the suite's backbone weights.*conv1\.weight"):
        mmseg_task().run(resnet50, context(ade_root, **LIMITS))
    assert seen["steps"] == 0


@pytest.mark.parametrize("arch, options, named", [("resnet18", {}, "backbone.arch=resnet18"),
                                                  ("resnet18_cifar", {"width": 8}, "backbone.arch=resnet18_cifar"),
                                                  ("resnet50", {"in_channels": 1}, "on 1-channel images")])
def test_refuses_backbones_other_than_a_3_channel_resnet50(arch, options, named, tmp_path):
    backbone = BACKBONES.get(arch)(**{"in_channels": 3, **options})
    with pytest.raises(ValueError, match="backbone.arch") as error:
        mmseg_ade20k.train_and_evaluate_mmseg(backbone, mmseg_task().cfg, context(tmp_path), "ade20k_seg")
    assert named in str(error.value) and "resnet50" in str(error.value)


def test_recipe_names_the_protocol_and_its_deviations():
    cfg = mmseg_task().cfg
    described = mmseg_ade20k.recipe(cfg)
    assert described["backend"] == "mmseg" and "UPerNet R50 ADE20K 512x512 160k" in described["protocol"]
    text = "\n".join(described["deviations"])
    assert "ResNetV1c" in text and "SyncBN" in text and "decoder_channels=32 (the recipe: 512)" in text
    assert "iterations=" not in text  # the yaml's schedule is the recipe's
    bounded = "\n".join(mmseg_ade20k.recipe(cfg, LIMITS)["deviations"])
    assert "iterations=2 (the recipe: 160000)" in bounded and "crop_size=16" in bounded
    assert "at most 2 training images" in bounded
    frozen = "\n".join(mmseg_ade20k.recipe(mmseg_task(finetune_backbone=False, auxiliary_weight=0.0).cfg)["deviations"])
    assert "frozen_stages=4" in frozen and "no auxiliary FCN head" in frozen
