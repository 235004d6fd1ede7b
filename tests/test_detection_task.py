"""fmnist_det end to end on CPU: Faster R-CNN on a pretrained backbone's stage maps, VOC AP metrics."""
import torch

from benchmark.backbones import resnet18_cifar
from test_end_to_end import launch, real_fmnist_or_skip
from test_linear_tasks import build_task, context


def test_fmnist_det_trains_and_reports_ap_without_touching_the_backbone():
    real_fmnist_or_skip()
    task = build_task("fmnist_det", batch_size=2, warmup_iterations=1)
    ctx = context("unused", max_train_samples=20, max_test_samples=10, iterations=3)
    ctx.image_channels = 1
    torch.manual_seed(0)
    backbone = resnet18_cifar(width=4, in_channels=1)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    metrics = task.run(backbone, ctx)
    assert {"AP", "AP50", "AP75"} <= set(metrics) and metrics["iterations"] == 3
    assert all(0 <= metrics[k] <= 100 for k in ("AP", "AP50", "AP75")) and metrics["AP75"] <= metrics["AP50"]
    assert metrics["train_samples"] == 20 and metrics["test_samples"] == 10
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())  # fine-tuned a copy


def test_fmnist_det_from_the_command_line(tmp_path):
    real_fmnist_or_skip()
    result = launch(tmp_path, "preset=smoke", "task=fmnist_det", "task.test_canvases=8", "task.batch_size=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sqsp / fmnist_det: AP50 =" in result.stdout
    # the random-init backbone is this task's anchor; raw pixels have no stage maps to detect from
    recorded = sorted(p.name.split("-")[0] for p in (tmp_path / "results" / "smoke" / "fmnist_det").glob("*.json"))
    assert recorded == ["random_init", "sqsp"]
