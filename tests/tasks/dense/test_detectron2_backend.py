"""``task=voc_det backend=detectron2`` (tasks/dense/backends/detectron2_voc.py): MoCo's R50-C4 VOC protocol through
detectron2's DefaultTrainer and PascalVOCDetectionEvaluator, end to end on the VOC replica at smoke scale (2
iterations, 64 px images): its numbers, the images it took (the builtin path's seeded subsets), its evaluator
against the suite's voc_ap on the same detections, a backbone that does not fit, a finished run reused.
detectron2 is an optional extra; without it the end-to-end tests skip, saying how to install."""
from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmark.backbones import build_backbone
from benchmark.data import build_dataset
from benchmark.data.dense_sets import dense_subset
from benchmark.data.voc_detection import CLASSES
from benchmark.export import export_detectron2
from tasks.dense.backends.detectron2_voc import (MOCO, _exported_target, check_loaded, recipe,
                                                 train_and_evaluate_detectron2)
from tasks.dense.voc_ap import voc_detection_metrics
from tests.helpers.replicas import write_voc_detection_replica
from tests.helpers.tasks import build_task, context

INSTALL = ("detectron2 not installed: make test GANREP_WHEELS=<folder of the wheels of ../shared/wheels/README.md>, "
           "or pip install --find-links <that folder> 'ganrep-bench[detectron2]'")
# smoke scale: 2 iterations of 2 images of at most 64 px, 2 of the replica's 4 training images, its 1 test image
LIMITS = {"iterations": 2, "max_image_side": 64, "max_batch_size": 2, "max_train_samples": 2, "max_test_samples": 1}
KEYS = ("AP", "AP50", "AP75", "iterations", "final_loss", "train_samples", "test_samples", "finetune_backbone",
        "classes_scored", "train_seconds")


def injected(truth: dict, rng: np.random.Generator) -> dict:
    """Detections a trained detector might add on an image (half-open 0-based boxes, detectron2's frame): each
    true box jittered, once or twice (some far enough to miss at IoU 0.5 or 0.75), a few false positives, random
    scores. A detector 2 iterations old on 64 px images detects nothing, not even above a threshold of 0 (its
    foreground probabilities underflow to 0), which would leave the evaluator's comparison vacuous."""
    boxes, labels = [], []
    for box, label in zip(truth["boxes"].numpy(), truth["labels"].numpy()):
        size = box[2:] - box[:2] + 1
        for _ in range(rng.integers(1, 3)):
            boxes.append(box + np.array([0, 0, 1, 1]) + rng.normal(0, 0.12, 4) * np.concatenate([size, size]))
            labels.append(label if rng.random() > 0.15 else rng.integers(0, len(CLASSES)))
    for _ in range(3):
        x1, y1 = rng.uniform(0, 12, 2)
        boxes.append([x1, y1, x1 + rng.uniform(3, 8), y1 + rng.uniform(3, 8)])
        labels.append(rng.integers(0, len(CLASSES)))
    return {"boxes": torch.tensor(np.maximum(np.asarray(boxes), 0), dtype=torch.float32),
            "scores": torch.tensor(rng.uniform(0.05, 1, len(boxes)), dtype=torch.float32),
            "classes": torch.tensor(labels, dtype=torch.int64)}


def inject_and_capture(patch, truths: dict) -> dict:
    """PascalVOCDetectionEvaluator patched: each image's detections from the model (counted) plus injected ones
    (the same on every call), and the lines it scores captured into the returned dict."""
    from detectron2.evaluation import PascalVOCDetectionEvaluator
    from detectron2.structures import Boxes, Instances

    rng = np.random.default_rng(0)
    captured = {"model": 0}
    process, evaluate = PascalVOCDetectionEvaluator.process, PascalVOCDetectionEvaluator.evaluate

    def adding(self, inputs, outputs):
        more = []
        for item, output in zip(inputs, outputs):
            own = output["instances"].to("cpu")
            captured["model"] += len(own)
            extra = injected(truths[item["image_id"]], rng)
            extra = Instances(own.image_size, pred_boxes=Boxes(extra["boxes"]), scores=extra["scores"],
                              pred_classes=extra["classes"])
            more.append({"instances": Instances.cat([own, extra])})
        return process(self, inputs, more)

    def capturing(self):
        captured.update(lines={c: list(lines) for c, lines in self._predictions.items()},
                        image_set=self._image_set_path)
        return evaluate(self)

    patch.setattr(PascalVOCDetectionEvaluator, "process", adding)
    patch.setattr(PascalVOCDetectionEvaluator, "evaluate", capturing)
    return captured


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One detectron2 run on the replica with a work folder (score threshold 0; the evaluator's detections and
    lines as ``inject_and_capture`` makes them)."""
    pytest.importorskip("detectron2", reason=INSTALL)
    root = write_voc_detection_replica(tmp_path_factory.mktemp("data"))
    work = tmp_path_factory.mktemp("work")
    task = build_task("voc_det", backend="detectron2", num_workers=0, score_threshold=0.0)
    ctx = dataclasses.replace(context(root, **LIMITS), work_root=str(work))
    torch.manual_seed(0)
    backbone = build_backbone({"arch": "resnet50"}, 3)
    test_set = build_dataset({"name": "voc_detection", "root": str(root)}, task.cfg.test_split)
    truths = {Path(path).stem: target for path, target in zip(test_set.paths, test_set.annotations)}
    with pytest.MonkeyPatch.context() as patch:
        captured = inject_and_capture(patch, truths)
        result = task.run(backbone, ctx)
    return SimpleNamespace(task=task, ctx=ctx, backbone=backbone, result=result, captured=captured, root=root,
                           work=work, truths=truths)


def test_detectron2_run_end_to_end_on_the_voc_replica(finished):
    result, cfg = finished.result, finished.task.cfg
    assert set(KEYS) <= set(result)
    assert all(isinstance(v, float) for v in result.values())
    for key in ("AP", "AP50", "AP75"):
        assert math.isfinite(result[key]) and 0 <= result[key] <= 100, (key, result[key])
    assert math.isfinite(result["final_loss"]) and result["final_loss"] > 0
    assert result["iterations"] == 2 and result["finetune_backbone"] == 1.0 and result["train_seconds"] > 0
    assert result["classes_scored"] == 2  # the test image's dog and person

    # the images of backend=builtin: dense_subset of the same splits with the same seed
    data = {"name": "voc_detection", "root": str(finished.root)}
    expected = {}
    for role, split, limit in (("train", cfg.train_split, "max_train_samples"), ("test", cfg.test_split,
                                                                                 "max_test_samples")):
        full = build_dataset(data, split)
        subset = dense_subset(full, LIMITS[limit], cfg.seed)
        expected[role] = sorted(Path(full.paths[i]).stem for i in getattr(subset, "indices", range(len(full))))
    assert result["train_samples"] == len(expected["train"]) == 2
    assert result["test_samples"] == len(expected["test"]) == 1
    (folder,) = finished.work.glob("voc_det-detectron2-*")
    for role in ("train", "test"):
        listed = sorted(line for path in (folder / "voc" / role).glob("VOC*/ImageSets/Main/*.txt")
                        for line in path.read_text().split())
        assert listed == expected[role], role


def test_detectron2s_evaluator_agrees_with_voc_ap_on_the_runs_detections(finished):
    """The lines detectron2's evaluator scored in that run (the model's detections and injected ones, in its own
    format: 3-decimal scores, 0.1 px boxes, 1-based x1 / y1) through the suite's voc_detection_metrics: the same AP, AP50, AP75 to 1e-6 once detectron2's mean over all 20
    classes is scaled by classes_scored / 20. Ties in the rounded scores are ranked by detectron2's
    ``np.argsort(-confidence)``; with one test image, handing voc_ap each class's detections in that order (its
    ranking is a stable sort) makes the two rankings one."""
    seen = finished.captured
    test_set = build_dataset({"name": "voc_detection", "root": str(finished.root)}, "07_test")
    assert len(test_set) == 1 and Path(seen["image_set"]).read_text().split() == [Path(test_set.paths[0]).stem]
    boxes, scores, labels = [], [], []
    for cls, lines in sorted(seen["lines"].items()):
        rows = [line.split() for line in lines]
        confidence = np.array([float(row[1]) for row in rows])
        for k in np.argsort(-confidence):
            _, score, x1, y1, x2, y2 = rows[k]
            # detectron2 wrote x1 + 1, y1 + 1, x2, y2 of its half-open 0-based box: the XML's 1-based inclusive
            # frame, which is the suite's (0-based inclusive) plus 1 on all four
            boxes.append([float(x1) - 1, float(y1) - 1, float(x2) - 1, float(y2) - 1])
            scores.append(float(score))
            labels.append(cls)
    assert len(boxes) >= 1 + seen["model"], "nothing was scored: the comparison would be vacuous"
    truth = test_set.annotations[0]
    ours = voc_detection_metrics(
        [{"boxes": np.asarray(boxes).reshape(-1, 4), "scores": np.asarray(scores), "labels": np.asarray(labels)}],
        [{k: truth[k].numpy() for k in ("boxes", "labels", "difficult")}], len(CLASSES))
    assert ours["classes_scored"] == finished.result["classes_scored"]
    present = ours["classes_scored"] / len(CLASSES)
    for key in ("AP", "AP50", "AP75"):
        assert abs(ours[key] * present - finished.result[key]) < 1e-6, (key, ours[key], finished.result[key])
    assert 0 < ours["AP"] < 100  # the jitter makes the case non-trivial (misses at the higher IoU thresholds)


def test_a_second_call_reuses_the_finished_run(finished, monkeypatch):
    from detectron2.engine import DefaultTrainer, SimpleTrainer

    starts = []
    resume_or_load = DefaultTrainer.resume_or_load

    def recording(self, resume=True):
        resume_or_load(self, resume=resume)
        starts.append(self.start_iter)

    def no_training(self):
        raise AssertionError("a finished run was trained again")

    (folder,) = finished.work.glob("voc_det-detectron2-*")
    final = folder / "model_final.pth"
    assert (folder / "last_checkpoint").read_text().strip() == final.name
    written = final.stat().st_mtime_ns
    monkeypatch.setattr(DefaultTrainer, "resume_or_load", recording)
    monkeypatch.setattr(SimpleTrainer, "run_step", no_training)
    inject_and_capture(monkeypatch, finished.truths)  # the same injected detections as the first call's
    again = finished.task.run(finished.backbone, finished.ctx)
    assert starts == [2]  # resumed after the last of the 2 iterations: nothing left to train
    assert final.stat().st_mtime_ns == written
    assert again == finished.result  # the same weights evaluated again; loss and time from the first run


@pytest.mark.parametrize("arch,channels,says", [
    ("resnet18", 3, "ResNet-18 of basic blocks"),
    ("resnet18_cifar", 3, "CIFAR stem"),
    ("resnet50", 1, "1-channel input"),
])
def test_a_backbone_r50_c4_cannot_take_is_refused(tmp_path, arch, channels, says):
    backbone = build_backbone({"arch": arch}, channels)
    task = build_task("voc_det", backend="detectron2")
    # refused before anything else: the data (absent here) and detectron2 are not looked at
    with pytest.raises(ValueError, match=rf"backbone\.arch={arch} does not fit backend=detectron2: .*{says}.*"
                                         r"use backbone\.arch=resnet50"):
        train_and_evaluate_detectron2(backbone, task.cfg, context(tmp_path / "absent", **LIMITS), task.name)


def test_check_loaded_catches_a_tensor_detectron2_did_not_load(tmp_path):
    torch.manual_seed(0)
    backbone = build_backbone({"arch": "resnet50"}, 3)
    weights, _ = export_detectron2(backbone.state_dict(), tmp_path / "backbone", 50, "none")
    with open(weights, "rb") as f:
        exported = pickle.load(f)["model"]
    state = {_exported_target(k): torch.as_tensor(v).clone() for k, v in exported.items()}
    state["roi_heads.res5.norm.weight"] = torch.ones(2048)  # the extra norm is new: no exported tensor for it
    model = SimpleNamespace(state_dict=lambda: state)
    assert check_loaded(model, weights) == len(exported)
    state["backbone.res3.1.conv2.norm.running_var"] += 1  # a tensor left as initialised
    with pytest.raises(RuntimeError, match=r"1 problems: res3\.1\.conv2\.norm\.running_var: .* differs"):
        check_loaded(model, weights)
    del state["roi_heads.res5.2.conv3.weight"]
    state["backbone.res4.0.conv1.extra"] = torch.zeros(1)  # a pretrained part nothing was loaded into
    with pytest.raises(RuntimeError, match=r"res5\.2\.conv3\.weight -> roi_heads\.res5\.2\.conv3\.weight is not in "
                                           r"the model.*backbone\.res4\.0\.conv1\.extra got no exported tensor"):
        check_loaded(model, weights)


def test_recipe_names_mocos_protocol_and_each_deviation():
    cfg = build_task("voc_det", backend="detectron2").cfg  # launch/task/voc_det.yaml: MoCo's numbers
    full = recipe(cfg, world_size=1)
    assert full["backend"] == "detectron2" and full["protocol"].startswith("MoCo detectron2 VOC: Faster R-CNN R50-C4")
    assert len(full["deviations"]) == 2  # one process's BN and the single seeded trial; every number is MoCo's
    assert recipe(cfg, world_size=8)["deviations"] == full["deviations"][1:]  # naiveSyncBN kept across processes
    smoke = "\n".join(recipe(cfg, LIMITS, world_size=1)["deviations"])
    for says in ("iterations 2 (MoCo: 24000)", "batch 2 (MoCo: 16), base lr scaled linearly to 0.0025",
                 "lr steps at [1] of 2 iterations", "precise BN over 2 iterations", "max size 64 (MoCo: 1333)",
                 "subset of at most 2 training images", "subset of at most 1 test images"):
        assert says in smoke, says
    frozen = recipe(dataclasses.replace(cfg, finetune_backbone=False), world_size=1)["deviations"]
    assert any(d.startswith("finetune_backbone=false: the backbone frozen (FREEZE_AT 5") for d in frozen)
    assert MOCO["steps"] == tuple(int(f * cfg.iterations) for f in cfg.lr_steps)  # the yaml's fractions give 18k / 22k


def test_the_detectron2_config_is_mocos_and_a_frozen_backbone_trains_only_the_detector(tmp_path):
    pytest.importorskip("detectron2", reason=INSTALL)
    import importlib

    from detectron2.layers import FrozenBatchNorm2d

    import tasks.dense.backends.detectron2_voc as backend

    backend = importlib.reload(backend)  # a second import registers nothing twice
    cfg = build_task("voc_det", backend="detectron2").cfg
    schedule = backend._schedule(cfg)

    def config(task_cfg):
        return backend.detectron2_config(task_cfg, schedule, depth=50, weights=tmp_path / "w.pkl",
                                         input_norm="imagenet", device=torch.device("cpu"), output_dir=tmp_path,
                                         train_names=["a", "b"], test_name="c", norm="BN")

    c = config(cfg)
    assert (c.MODEL.ROI_HEADS.NAME, c.MODEL.RESNETS.NORM, c.MODEL.RESNETS.STRIDE_IN_1X1, c.MODEL.BACKBONE.FREEZE_AT,
            c.MODEL.RESNETS.OUT_FEATURES, c.MODEL.ROI_HEADS.NUM_CLASSES) == (
        backend.ROI_HEADS_NAME, "BN", False, 0, ["res4"], 20)
    assert (c.SOLVER.MAX_ITER, c.SOLVER.STEPS, c.SOLVER.IMS_PER_BATCH, c.SOLVER.BASE_LR, c.SOLVER.WARMUP_ITERS) == (
        24000, (18000, 22000), 16, 0.02, 100)
    assert (c.INPUT.MIN_SIZE_TRAIN, c.INPUT.MIN_SIZE_TEST, c.INPUT.MAX_SIZE_TRAIN, c.INPUT.FORMAT) == (
        MOCO["min_size"], 800, 1333, "RGB")
    assert (c.TEST.PRECISE_BN.ENABLED, c.TEST.PRECISE_BN.NUM_ITER, c.MODEL.RPN.PRE_NMS_TOPK_TEST,
            c.MODEL.RPN.POST_NMS_TOPK_TEST) == (True, 200, 6000, 1000)
    assert c.MODEL.PIXEL_MEAN == [123.675, 116.28, 103.53]  # MoCo's numbers for an ImageNet-normalised backbone

    frozen = config(dataclasses.replace(cfg, finetune_backbone=False))
    assert frozen.MODEL.BACKBONE.FREEZE_AT == 5
    model = backend._trainer_class(freeze_res5=True).build_model(frozen)
    assert isinstance(model.roi_heads.res5.norm, torch.nn.BatchNorm2d)  # MoCo's extra norm after res5
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("proposal_generator.", "roi_heads.box_predictor.",
                                              "roi_heads.res5.norm.")) for name in trainable), sorted(trainable)
    assert all(isinstance(m, FrozenBatchNorm2d) for name, m in model.named_modules()
               if name.startswith(("backbone.", "roi_heads.res5.")) and name.endswith("norm")
               and name != "roi_heads.res5.norm")
