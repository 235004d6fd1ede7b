"""The dense transfer tasks: their schedule, augmentation, loss and heads against hand-computed values, and
every dense task end to end on replicas of its official data (the offline ones on real Fashion-MNIST)."""
from __future__ import annotations

import math

import pytest
import torch

from benchmark.backbones import TorchvisionResNet, resnet18_cifar
from benchmark.data.dense_sets import IGNORE_INDEX, to_channels
from tasks.dense.heads import UPerNetHead, build_faster_rcnn
from tasks.dense.transforms import augment, crop, flip, rescale_factor, resize
from tasks.limits import EvalLimits
from tasks.dense.finetune import lr_factor
from benchmark.registry import TASKS
from tasks.dense.splits import CanvasSplits
from tasks.dense.detection import VOCDetectionConfig, _flip
from tasks.dense.normals import angular_loss
from tests.helpers.launching import launch, real_fmnist_or_skip
from tests.helpers.replicas import write_ade_replica, write_nyuv2_replica, write_voc_detection_replica
from tests.helpers.tasks import build_task, context


# ------------------------------------------------------------------------------------------- schedule
def test_lr_factor_warmup_steps_and_poly():
    # detectron2's WarmupMultiStepLR with linear warm-up over 100 iterations, steps at 18k / 22k of 24k
    assert lr_factor(0, 24000, 100, "steps", [0.75, 0.9167]) == pytest.approx(1 / 100)
    assert lr_factor(49, 24000, 100, "steps", [0.75, 0.9167]) == pytest.approx(50 / 100)
    assert lr_factor(17999, 24000, 100, "steps", [0.75, 0.9167]) == 1.0
    assert lr_factor(18000, 24000, 100, "steps", [0.75, 0.9167]) == pytest.approx(0.1)
    assert lr_factor(22000, 24000, 100, "steps", [0.75, 0.9167]) == pytest.approx(0.01)
    # mmseg's poly: (1 - i / max_iters) ** 0.9
    assert lr_factor(0, 1000, 0, "poly", power=0.9) == 1.0
    assert lr_factor(500, 1000, 0, "poly", power=0.9) == pytest.approx(0.5 ** 0.9)
    with pytest.raises(ValueError, match="cosine.*valid policies: steps, poly"):
        lr_factor(0, 10, 0, "cosine")


# --------------------------------------------------------------------------------------- augmentation
def test_rescale_factor_is_mmsegs_keep_ratio_rule():
    # ADE20K's (2048, 512): a 683 x 512 image is limited by its short side, a 4000 x 600 one by its long side
    assert rescale_factor(512, 683, (2048, 512)) == pytest.approx(1.0)
    assert rescale_factor(600, 4000, (2048, 512)) == pytest.approx(2048 / 4000)
    assert rescale_factor(480, 640, (2048, 512), ratio=0.5) == pytest.approx(256 / 480)


def test_resize_keeps_labels_and_flip_negates_horizontal_normals():
    mask = torch.tensor([[0, 0, 7, 7], [0, 0, 7, 7], [3, 3, IGNORE_INDEX, IGNORE_INDEX],
                         [3, 3, IGNORE_INDEX, IGNORE_INDEX]])
    _, big = resize(torch.zeros(3, 4, 4, dtype=torch.uint8), {"mask": mask}, (8, 8))
    assert torch.equal(big["mask"], mask.repeat_interleave(2, 0).repeat_interleave(2, 1))  # no invented label

    normals = torch.nn.functional.normalize(torch.randn(3, 2, 5), dim=0)
    image = torch.arange(10.0).view(1, 2, 5)
    flipped_image, flipped = flip(image, {"normals": normals, "valid": torch.ones(2, 5, dtype=torch.bool)})
    assert torch.equal(flipped_image[0, :, 0], image[0, :, 4])
    assert torch.equal(flipped["normals"][0], -normals[0].flip(-1))  # x points the other way
    assert torch.equal(flipped["normals"][1:], normals[1:].flip(-1))


def test_crop_pads_small_images_with_unscored_labels():
    image = torch.full((3, 4, 6), 9.0)
    out, target = crop(image, {"mask": torch.ones(4, 6, dtype=torch.long), "valid": torch.ones(4, 6, dtype=torch.bool)},
                       8, torch.Generator().manual_seed(0))
    assert out.shape == (3, 8, 8) and target["mask"].shape == (8, 8)
    assert (target["mask"] == 1).sum() == 24 and (target["mask"] == IGNORE_INDEX).sum() == 64 - 24
    assert target["valid"].sum() == 24 and (out == 9.0).sum() == 3 * 24


def test_augment_is_seeded_and_matches_sizes():
    image = torch.randint(0, 256, (3, 30, 40), dtype=torch.uint8)
    target = {"mask": torch.randint(0, 5, (30, 40))}
    a = augment(image, target, (40, 30), (0.5, 2.0), 24, True, torch.Generator().manual_seed(3))
    b = augment(image, target, (40, 30), (0.5, 2.0), 24, True, torch.Generator().manual_seed(3))
    assert a[0].shape == (3, 24, 24) and a[1]["mask"].shape == (24, 24)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["mask"], b[1]["mask"])


def test_detection_flip_mirrors_inclusive_boxes():
    image = torch.zeros(3, 10, 20, dtype=torch.uint8)
    image[:, 2:5, 3:8] = 255  # the box (3, 2, 7, 4) in inclusive pixels
    flipped, target = _flip(image, {"boxes": torch.tensor([[3.0, 2.0, 7.0, 4.0]])})
    cols = flipped[0].nonzero()[:, 1]
    assert target["boxes"].tolist() == [[float(cols.min()), 2.0, float(cols.max()), 4.0]] == [[12.0, 2.0, 16.0, 4.0]]


def bound(cfg, dense=True, **limits):
    return EvalLimits(**limits).bound(cfg, dense=dense)


def test_eval_limits_scale_every_size_and_cut_the_batch():
    det = bound(build_task("voc_det").cfg, max_image_side=200)  # short 480..800, long 1333
    assert det.max_size == 200 and det.min_size[-1] == round(800 * 200 / 1333) and len(det.min_size) == 11
    seg = bound(build_task("ade20k_seg").cfg, max_image_side=256, max_batch_size=2)
    assert seg.scale == [256, 64] and seg.crop_size == 64 and seg.batch_size == 2
    assert bound(seg) is seg and bound(seg, max_image_side=4096) is seg
    assert bound(seg, max_batch_size=8) is seg
    assert bound(seg, iterations=3).iterations == 3  # a preset's value replaces the task's


def test_eval_limits_leave_linear_tasks_batches_and_refuse_unknown_keys():
    """The image side and batch limits are the dense tasks' (a linear task's batch is feature extraction)."""
    linear = build_task("linear_cifar10").cfg
    bounded = bound(linear, dense=False, max_batch_size=2, max_image_side=16, wd_grid=[-1.0, 1.0, 2], max_iter=5)
    assert bounded.batch_size == linear.batch_size and bounded.image_size == linear.image_size
    assert bounded.wd_grid == [-1.0, 1.0, 2] and bounded.max_iter == 5
    assert EvalLimits.of({"max_test_samples": 3}).samples("test") == 3
    assert EvalLimits.of({"max_train_samples": 5}).samples("val") == 5
    with pytest.raises(ValueError, match="max_epochs.*valid limits"):
        EvalLimits.of({"max_epochs": 1})


def test_gray_and_rgb_conversion():
    rgb = torch.zeros(3, 2, 2, dtype=torch.uint8)
    rgb[0] = 255  # pure red: ITU-R 601 luma 0.299
    assert to_channels(rgb, 1).shape == (1, 2, 2) and abs(int(to_channels(rgb, 1)[0, 0, 0]) - 76) <= 1
    assert torch.equal(to_channels(rgb[:1], 3), rgb[:1].expand(3, -1, -1))


# ------------------------------------------------------------------------------------------------ loss
def test_angular_loss_is_one_minus_cosine_over_valid_pixels():
    torch.manual_seed(0)
    predicted, target = torch.randn(2, 3, 3, 4), torch.nn.functional.normalize(torch.randn(2, 3, 3, 4), dim=1)
    valid = torch.rand(2, 3, 4) > 0.4
    terms = []
    for n in range(2):
        for y in range(3):
            for x in range(4):
                if valid[n, y, x]:
                    p, t = predicted[n, :, y, x].tolist(), target[n, :, y, x].tolist()
                    dot = sum(a * b for a, b in zip(p, t))
                    terms.append(1 - dot / (math.sqrt(sum(a * a for a in p)) * math.sqrt(sum(b * b for b in t))))
    assert angular_loss(predicted, target, valid).item() == pytest.approx(sum(terms) / len(terms), abs=1e-6)
    assert angular_loss(target, target, valid).item() == pytest.approx(0.0, abs=1e-6)
    assert angular_loss(-target, target, valid).item() == pytest.approx(2.0, abs=1e-6)


# ----------------------------------------------------------------------------------------------- heads
@pytest.mark.parametrize("make_backbone, size", [(lambda: resnet18_cifar(width=4, in_channels=1), 32),
                                                 (lambda: TorchvisionResNet(18, in_channels=3), 64)])
def test_upernet_head_predicts_at_input_size_and_frozen_means_untouched(make_backbone, size):
    torch.manual_seed(0)
    backbone = make_backbone()
    for frozen in (True, False):
        before = {k: v.clone() for k, v in backbone.state_dict().items()}
        head = UPerNetHead(backbone, 5, decoder_channels=16, frozen=frozen)
        opt = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=0.1)
        head.train()
        x = torch.randn(2, backbone.in_channels, size, size + 8)
        out = head(x)
        assert out.shape == (2, 5, size, size + 8)
        out.square().mean().backward()
        opt.step()
        unchanged = all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
        assert unchanged == frozen  # frozen: weights and BN statistics as they were; else fine-tuned


def test_faster_rcnn_anchors_follow_the_stage_strides():
    cfg = VOCDetectionConfig(fpn_channels=16, box_head_dim=32)
    cifar = build_faster_rcnn(resnet18_cifar(width=4, in_channels=1), 20, cfg)
    assert cifar.rpn.anchor_generator.sizes == ((8,), (16,), (32,), (64,), (128,))  # strides 1..16
    imagenet = build_faster_rcnn(TorchvisionResNet(18, in_channels=3), 20, cfg)
    assert imagenet.rpn.anchor_generator.sizes == ((32,), (64,), (128,), (256,), (512,))  # detectron2's
    assert imagenet.roi_heads.box_predictor.cls_score.out_features == 21  # + background


# ----------------------------------------------------------------------------------- offline benchmark
CANVAS_TASKS = sorted(n for n in TASKS.names() if issubclass(TASKS.get(n), CanvasSplits))


@pytest.mark.parametrize("name", CANVAS_TASKS)
def test_canvas_tasks_train_on_a_copy_and_report_their_metrics(name):
    real_fmnist_or_skip()
    task = build_task(name, batch_size=2, warmup_iterations=1)
    ctx = context("unused", max_train_samples=20, max_test_samples=6, iterations=3)
    ctx.image_channels = 1
    torch.manual_seed(0)
    backbone = resnet18_cifar(width=4, in_channels=1)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    metrics = task.run(backbone, ctx)
    assert 0 <= metrics[task.headline] <= 100
    assert metrics["iterations"] == 3 and metrics["train_samples"] == 20 and metrics["test_samples"] == 6
    if "AP75" in metrics:
        assert metrics["AP75"] <= metrics["AP50"]
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())  # trained a copy


def test_canvas_task_from_the_command_line_records_the_random_init_anchor(tmp_path):
    real_fmnist_or_skip()
    result = launch(tmp_path, "preset=smoke", "task=fmnist_det", "task.test_canvases=8", "task.batch_size=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sqsp / fmnist_det: AP50 =" in result.stdout
    # the random-init backbone is this task's anchor; raw pixels have no stage maps to detect from
    recorded = sorted(p.name.split("-")[0] for p in (tmp_path / "results" / "smoke" / "fmnist_det").glob("*.json"))
    assert recorded == ["random_init", "sqsp"]


# ------------------------------------------------------------------------------------- official formats
# From the command line, through the frameworks, from a suite-pretrained ResNet-50: tests/test_imagenet_recipes.py
# (test_experiment_dense_renders_its_board_beside_the_poster); the frameworks themselves: test_detectron2_backend.py,
# test_mmseg_backend.py. Here the builtin stack on the same ResNet-50, in process.
OFFICIAL = {"voc_det": (write_voc_detection_replica, {"AP", "AP50", "AP75"}),
            "ade20k_seg": (write_ade_replica, {"mIoU", "pixel_accuracy"}),
            "nyuv2_normals": (write_nyuv2_replica, {"mean", "median", "within_11.25", "within_22.5", "within_30"})}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_task_on_its_replica_with_the_builtin_stack_and_a_resnet50(name, tmp_path):
    write, metrics = OFFICIAL[name]
    write(tmp_path)
    task = build_task(name, backend="builtin", num_workers=0)
    assert task.recipe(context(tmp_path))["backend"] == "builtin"
    torch.manual_seed(0)
    backbone = TorchvisionResNet(50, in_channels=3, input_norm="imagenet")
    result = task.run(backbone, context(tmp_path, iterations=2, max_image_side=128, max_batch_size=2,
                                        max_train_samples=4, max_test_samples=2))
    assert metrics <= set(result) and result["iterations"] == 2 and result["finetune_backbone"] == 1.0
    assert all(math.isfinite(result[m]) for m in metrics), result
